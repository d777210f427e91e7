//! `GET /internal/revocations`: the feed every verifier follows to learn
//! which sessions have ended. Never routed by the gateway; it lists only
//! random token ids and their expiry, nothing about the accounts.

use super::Result;
use crate::{AppState, store::sessions};
use axum::{Json, Router, extract::State, http::header, response::IntoResponse, routing::get};
use serde::Deserialize;
use shop_platform::Query;
use shop_types::internal::RevocationBatch;

pub fn router() -> Router<AppState> {
    Router::new().route("/internal/revocations", get(revocations))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// The `cursor` of the previous answer: only sessions ended since.
    /// Absent: all whose tokens are still unexpired.
    pub after: Option<u64>,
}

#[utoipa::path(get, path = "/internal/revocations", tag = "internal", params(FeedQuery),
    responses((status = 200, description = "Ended sessions whose tokens have not expired", body = RevocationBatch)))]
pub async fn revocations(
    State(state): State<AppState>,
    Query(q): Query<FeedQuery>,
) -> Result<impl IntoResponse> {
    let batch = sessions::feed(&state.pool, q.after).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(batch)))
}
