//! `GET /.well-known/jwks.json`: the public keys that verify access tokens.

use crate::AppState;
use axum::{Json, Router, extract::State, http::header, response::IntoResponse, routing::get};
use shop_auth::JwkSet;

pub fn router() -> Router<AppState> {
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "users",
    responses((status = 200, description = "JSON Web Key Set (Ed25519 public keys): the signing key, and after a rotation the previous one")))]
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(JwkSet::clone(&state.jwks)),
    )
}
