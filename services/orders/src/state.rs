//! What every handler and task shares.

use crate::clients::Products;
use axum::extract::FromRef;
use shop_auth::Auth;
use sqlx::PgPool;
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;

/// Shared by every handler.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub auth: Auth,
    /// The products service's reservations (HTTP in production).
    pub products: Arc<dyn Products>,
    /// Wakes the outbox relay when an event was committed.
    pub wake: Arc<Notify>,
    #[from_ref(skip)]
    pub pending_timeout: Duration,
    /// How long an `Idempotency-Key` claim holds: the request timeout.
    #[from_ref(skip)]
    pub idempotency_lease: Duration,
}
