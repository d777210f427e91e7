//! The reservation API the orders service calls. Never routed by the gateway;
//! callers present `x-internal-token`.

use super::Result;
use crate::{
    app::stock,
    error::Error,
    state::AppState,
    store::reservations::{Confirmed, Released, Reservation, ReserveRequest},
};
use axum::{
    Json, Router,
    extract::{FromRequestParts, State},
    http::request::Parts,
    routing::post,
};
use secrecy::ExposeSecret;
use shop_platform::{AppJson, Path};

pub use shop_types::internal::INTERNAL_TOKEN_HEADER;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/internal/reservations", post(reserve))
        .route("/internal/reservations/{order_id}/confirm", post(confirm))
        .route("/internal/reservations/{order_id}/release", post(release))
}

/// A caller that presented the internal token.
pub struct Internal;

impl FromRequestParts<AppState> for Internal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let given = parts
            .headers
            .get(INTERNAL_TOKEN_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        let expected = state.internal_token.expose_secret().as_bytes();
        // Constant time: the comparison must not leak how much matched.
        let same = given.len() == expected.len()
            && given
                .iter()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(Internal)
        } else {
            Err(Error::InternalOnly)
        }
    }
}

#[utoipa::path(post, path = "/internal/reservations", tag = "internal", request_body = ReserveRequest,
    responses(
        (status = 200, body = Reservation, description = "Reserved (or the earlier reservation of this order)"),
        (status = 404, description = "Unknown product"),
        (status = 409, description = "Not enough stock, naming the product and what is available; or this order's reservation was already released"),
    ))]
#[tracing::instrument(skip_all, fields(order_id = req.order_id))]
pub async fn reserve(
    State(state): State<AppState>,
    _caller: Internal,
    AppJson(req): AppJson<ReserveRequest>,
) -> Result<Json<Reservation>> {
    Ok(Json(stock::reserve(&state, &req).await?))
}

#[utoipa::path(post, path = "/internal/reservations/{order_id}/confirm", tag = "internal",
    responses(
        (status = 200, body = Confirmed, description = "The stock is the order's for good (idempotent)"),
        (status = 404, description = "No reservation for this order"),
        (status = 409, description = "Released or expired"),
    ))]
#[tracing::instrument(skip_all, fields(order_id))]
pub async fn confirm(
    State(state): State<AppState>,
    _caller: Internal,
    Path(order_id): Path<i64>,
) -> Result<Json<Confirmed>> {
    Ok(Json(stock::confirm(&state, order_id).await?))
}

#[utoipa::path(post, path = "/internal/reservations/{order_id}/release", tag = "internal",
    responses((status = 200, body = Released)))]
#[tracing::instrument(skip_all, fields(order_id))]
pub async fn release(
    State(state): State<AppState>,
    _caller: Internal,
    Path(order_id): Path<i64>,
) -> Result<Json<Released>> {
    Ok(Json(stock::release(&state, order_id).await?))
}
