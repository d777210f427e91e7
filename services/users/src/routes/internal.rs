//! `GET /internal/revocations`: the feed every verifier follows to learn
//! which sessions have ended. Never routed by the gateway; it lists only
//! random token ids and their expiry, nothing about the accounts.

use crate::{AppState, sessions};
use axum::{Json, Router, extract::State, http::header, response::IntoResponse, routing::get};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use shop_platform::{Query, Result};
use shop_types::internal::RevocationBatch;

pub fn router() -> Router<AppState> {
    Router::new().route("/internal/revocations", get(revocations))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// RFC 3339; only sessions ended after this moment. Absent: all whose
    /// tokens are still unexpired.
    pub since: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/internal/revocations", tag = "internal", params(FeedQuery),
    responses((status = 200, description = "Ended sessions whose tokens have not expired", body = RevocationBatch)))]
pub async fn revocations(
    State(state): State<AppState>,
    Query(q): Query<FeedQuery>,
) -> Result<impl IntoResponse> {
    let batch = sessions::feed(&state.pool, q.since).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(batch)))
}
