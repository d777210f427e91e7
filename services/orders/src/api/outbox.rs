//! The outbox, for operators: what waits, what died, and requeueing.

use crate::{
    error::Error,
    state::AppState,
    store::outbox::{self, Backlog},
};
use axum::{Json, extract::State, http::StatusCode};
use shop_auth::AdminUser;
use shop_platform::Path;

#[utoipa::path(get, path = "/orders/outbox", tag = "orders",
    responses(
        (status = 200, body = Backlog, description = "Events waiting to be published, and dead ones"),
        (status = 401), (status = 403, description = "Admins only")),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn outbox_backlog(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
) -> Result<Json<Backlog>, Error> {
    Ok(Json(outbox::backlog(&state.pool).await?))
}

#[utoipa::path(post, path = "/orders/outbox/{id}/requeue", tag = "orders",
    responses(
        (status = 204, description = "The dead event is published again, with fresh attempts"),
        (status = 401), (status = 403, description = "Admins only"),
        (status = 404, description = "No dead event with this id")),
    security(("bearer" = []), ("cookie" = [])))]
#[tracing::instrument(skip_all, fields(outbox_id = id))]
pub async fn requeue_event(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, Error> {
    if !outbox::requeue(&state.pool, id).await? {
        return Err(Error::NoDeadEvent(id));
    }
    tracing::info!(admin_id = admin.user_id, "dead event requeued");
    state.wake.notify_one();
    Ok(StatusCode::NO_CONTENT)
}
