//! HTTP only: routes, extractors, parameters, and handlers that call `app`.

pub mod orders;
pub mod outbox;

use crate::state::AppState;
use axum::{
    Router,
    routing::{get, patch, post},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orders", post(orders::create).get(orders::list))
        .route("/orders/lifecycle", get(orders::moves))
        .route("/orders/outbox", get(outbox::outbox_backlog))
        .route("/orders/outbox/{id}/requeue", post(outbox::requeue_event))
        .route("/orders/{id}", get(orders::get_one))
        .route("/orders/{id}/cancel", post(orders::cancel))
        .route("/orders/{id}/status", patch(orders::set_status))
}
