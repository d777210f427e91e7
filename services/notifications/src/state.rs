//! What every handler, socket and task shares.

use crate::{app::hub::Hub, clients::mailer::Mailer};
use axum::extract::FromRef;
use shop_auth::Auth;
use sqlx::PgPool;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Shared by every handler and the consumer.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub auth: Auth,
    pub mailer: Mailer,
    pub hub: Arc<Hub>,
    /// Cancelled when the service stops: open sockets close too (graceful
    /// shutdown does not track upgraded connections).
    pub sockets: CancellationToken,
    pub socket_limits: SocketLimits,
}

/// What one user's live connections may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketLimits {
    /// Open sockets per user; another upgrade is answered 429.
    pub per_user: usize,
    /// A socket whose client sent nothing (not even its 30 s ping) for this
    /// long is closed.
    pub idle: std::time::Duration,
}

impl Default for SocketLimits {
    fn default() -> Self {
        Self {
            per_user: 10,
            idle: std::time::Duration::from_secs(90),
        }
    }
}
