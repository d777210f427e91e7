//! Live toasts across replicas. The replica that handles an event does not
//! push to its own sockets directly: it sends a PostgreSQL `NOTIFY` on
//! [`CHANNEL`] in the transaction that records the notification, and every
//! replica (itself included) listens on the shared database and pushes to
//! the sockets connected to it. No new infrastructure: every deployment
//! already has the database.

use crate::hub::Hub;
use serde::{Deserialize, Serialize};
use shop_types::ServerMessage;
use sqlx::{PgPool, postgres::PgListener};
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

pub const CHANNEL: &str = "shop_push";

/// What travels on the channel: a message for one user's sockets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Push {
    pub user_id: i64,
    pub message: ServerMessage,
    /// The trace context of the event that caused it: the push is a span
    /// of that trace, on whichever replica holds the sockets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<std::collections::HashMap<String, String>>,
}

/// Listens until cancelled; reconnects after a lost connection.
pub async fn listen(
    pool: PgPool,
    hub: Arc<Hub>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            Err(e) = relay(&pool, &hub) => {
                tracing::warn!(error = %e, "push listener lost its connection; reconnecting");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Relays notifications to this replica's sockets until the connection fails.
async fn relay(pool: &PgPool, hub: &Hub) -> Result<std::convert::Infallible, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    tracing::debug!(channel = CHANNEL, "listening for pushes");
    loop {
        let n = listener.recv().await?;
        match serde_json::from_str::<Push>(n.payload()) {
            Ok(push) => {
                let span = push.trace.as_ref().map(|carrier| {
                    let span = tracing::info_span!(
                        "push",
                        otel.name = "toast push",
                        user_id = push.user_id,
                        sockets = tracing::field::Empty,
                        trace_id = tracing::field::Empty,
                        span_id = tracing::field::Empty,
                    );
                    shop_platform::traces::continue_from(&span, carrier, "notifications");
                    span
                });
                let sockets = hub.push(push.user_id, &push.message);
                if let Some(span) = &span {
                    span.record("sockets", sockets);
                }
                tracing::debug!(user_id = push.user_id, sockets, "pushed");
            }
            Err(e) => tracing::warn!(error = %e, "unreadable push"),
        }
    }
}
