//! Notifications service: consumes order events, sends HTML email, records
//! what it sent, and pushes live toasts to the order's owner.

pub mod config;
pub mod consumer;
pub mod error;
pub mod hub;
pub mod mailer;
pub mod messages;
pub mod push;
pub mod repo;
pub mod routes;

use anyhow::Result;
use axum::{Router, extract::FromRef};
use shop_auth::Auth;
use shop_platform::{Service, db, health};
use sqlx::{PgPool, migrate::Migrator};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

pub use config::{Config, MailSettings};
pub use mailer::Mailer;

/// The service's schema, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!();

pub const NAME: &str = "notifications";
pub const DEFAULT_PORT: u16 = 8004;

/// Shared by every handler and the consumer.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub auth: Auth,
    pub mailer: Mailer,
    pub hub: Arc<hub::Hub>,
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

#[derive(OpenApi)]
#[openapi(paths(
    routes::notifications::list,
    routes::notifications::get_one,
    routes::notifications::retry,
    routes::ws::upgrade,
))]
pub struct ApiDoc;

/// Connects, migrates, binds, and starts consuming.
pub async fn build(config: Config) -> Result<Service> {
    let pool = db::connect_and_migrate(&config.service.database, &MIGRATOR).await?;
    if matches!(config.events, shop_events::EventsSettings::Embedded(_)) {
        tracing::warn!(
            "consuming from the in-process bus: only an orders service in this process feeds it (set AWS_ENDPOINT_URL for SQS)"
        );
    }
    let consumer = config.events.consumer().await?;
    let state = AppState {
        pool,
        auth: config.auth.auth()?,
        mailer: Mailer::from_settings(&config.mail, &config.mail_from, config.send_deadline)?,
        hub: Arc::new(hub::Hub::default()),
        sockets: CancellationToken::new(),
        socket_limits: config.sockets,
    };
    let (task_state, concurrency) = (state.clone(), config.concurrency);
    let sockets = state.sockets.clone();
    let (push_pool, push_hub) = (state.pool.clone(), state.hub.clone());
    let metrics_pool = state.pool.clone();
    // Listed at zero from the start, so a dashboard finds the series.
    metrics::gauge!("notifications_open_sockets").increment(0.0);
    let revocations = config.auth.revocation_follower(&state.auth);
    Ok(Service::bind(&config.service, router(state))
        .await?
        .with_pool_metrics(metrics_pool.clone())
        .with_retention(metrics_pool, repo::RETENTION, config.service.retention)
        .with_task("revocations", revocations)
        .with_task("queue-consumer", move |token| {
            consumer::run(task_state, consumer, concurrency, token)
        })
        .with_task("push-listener", move |token| {
            push::listen(push_pool, push_hub, token)
        })
        .with_task("socket-closer", move |token| async move {
            token.cancelled().await;
            sockets.cancel();
            Ok(())
        }))
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::notifications::router())
        .merge(routes::ws::router())
        .with_state(state.clone())
        .merge(health::router(state.pool, NAME))
        .merge(shop_platform::openapi::router(ApiDoc::openapi()))
}
