//! Notifications service: consumes order events, sends HTML email, records
//! what it sent, and pushes live toasts to the order's owner.

//!
//! Inside, four layers, each calling only the ones below it:
//! [`api`] (HTTP and sockets) → [`app`] (consuming events, the push path) →
//! [`domain`] (what an event's email and toast say) and [`store`] (SQL) /
//! [`clients`] (SMTP).

pub mod api;
pub mod app;
pub mod clients;
pub mod config;
pub mod domain;
pub mod error;
pub mod state;
pub mod store;

use anyhow::Result;
use app::{consumer, hub, push};
use axum::Router;
use shop_platform::{Service, db, health};
use sqlx::migrate::Migrator;
use std::sync::Arc;
use store::notifications as repo;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

pub use clients::mailer::{self, Mailer};
pub use config::{Config, MailSettings};
pub use state::{AppState, SocketLimits};

/// The service's schema, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!();

pub const NAME: &str = "notifications";
pub const DEFAULT_PORT: u16 = 8004;

#[derive(OpenApi)]
#[openapi(paths(
    api::notifications::list,
    api::notifications::get_one,
    api::notifications::retry,
    api::ws::upgrade,
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
        .merge(api::notifications::router())
        .merge(api::ws::router())
        .with_state(state.clone())
        .merge(health::router(state.pool, NAME))
        .merge(shop_platform::openapi::router(ApiDoc::openapi()))
}
