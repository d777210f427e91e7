//! The reservation API the orders service calls. Never routed by the gateway;
//! callers present `x-internal-token`.

use crate::{
    AppState,
    reservations::{self, Confirmed, Released, Reservation, ReserveRequest},
};
use axum::{
    Json, Router,
    extract::{FromRequestParts, State},
    http::request::Parts,
    routing::post,
};
use secrecy::ExposeSecret;
use shop_platform::{ApiError, AppJson, Path, Result};

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
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
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
            Err(ApiError::Unauthorized("Internal API token required".into()))
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
    let reserved = reservations::reserve(&state.pool, &req, state.reservation_hold).await;
    // What this replica serves next shows the change (the others learn it
    // from the announcement).
    for line in &req.items {
        state.catalogue.changed(Some(line.product_id));
    }
    Ok(Json(reserved?))
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
    Ok(Json(reservations::confirm(&state.pool, order_id).await?))
}

#[utoipa::path(post, path = "/internal/reservations/{order_id}/release", tag = "internal",
    responses((status = 200, body = Released)))]
#[tracing::instrument(skip_all, fields(order_id))]
pub async fn release(
    State(state): State<AppState>,
    _caller: Internal,
    Path(order_id): Path<i64>,
) -> Result<Json<Released>> {
    let released = reservations::release(&state.pool, order_id).await?;
    if released.units_returned > 0 {
        state.catalogue.changed(None);
    }
    Ok(Json(released))
}
