//! Orders service: checkout with reserved stock and frozen prices; order
//! events written to an outbox and relayed to SNS (or the in-process bus).

pub mod checkout;
pub mod config;
pub mod domain;
pub mod error;
pub mod idempotency;
pub mod outbox;
pub mod products;
pub mod repo;
pub mod routes;

use anyhow::Result;
use axum::{Router, extract::FromRef};
use shop_auth::Auth;
use shop_platform::{Service, db, health};
use sqlx::{PgPool, migrate::Migrator};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;
use utoipa::OpenApi;

pub use config::Config;
pub use products::ProductsClient;

/// The service's schema, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!();

pub const NAME: &str = "orders";
pub const DEFAULT_PORT: u16 = 8002;

/// Shared by every handler.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub auth: Auth,
    pub products: ProductsClient,
    /// Wakes the outbox relay when an event was committed.
    pub wake: Arc<Notify>,
    #[from_ref(skip)]
    pub pending_timeout: Duration,
    /// How long an `Idempotency-Key` claim holds: the request timeout.
    #[from_ref(skip)]
    pub idempotency_lease: Duration,
}

#[derive(OpenApi)]
#[openapi(paths(
    routes::orders::create,
    routes::orders::list,
    routes::orders::get_one,
    routes::orders::cancel,
    routes::orders::set_status,
    routes::orders::outbox_backlog,
    routes::orders::requeue_event,
))]
pub struct ApiDoc;

/// Connects, migrates, binds, and starts the outbox relay and the repair loop.
pub async fn build(config: Config) -> Result<Service> {
    let pool = db::connect_and_migrate(&config.service.database, &MIGRATOR).await?;
    let publisher = config.events.publisher().await?;
    if matches!(config.events, shop_events::EventsSettings::Embedded(_)) {
        tracing::warn!(
            "order events go to an in-process bus: only a notifications service in this process receives them (set AWS_ENDPOINT_URL for SNS)"
        );
    }
    let state = AppState {
        pool: pool.clone(),
        auth: config.auth.auth()?,
        products: ProductsClient::new(
            &config.products_url,
            config.internal_token.clone(),
            config.products_timeout,
        )?,
        wake: Arc::new(Notify::new()),
        pending_timeout: config.pending_timeout,
        idempotency_lease: config.service.request_timeout,
    };
    let retry = outbox::Retry {
        max_backoff: config.outbox_max_backoff,
        max_attempts: config.outbox_max_attempts,
    };
    let (wake, repair_state) = (state.wake.clone(), state.clone());
    let revocations = config.auth.revocation_follower(&state.auth);
    Ok(Service::bind(&config.service, router(state))
        .await?
        .with_pool_metrics(pool.clone())
        .with_retention(pool.clone(), outbox::RETENTION, config.service.retention)
        .with_task("outbox metrics", {
            let pool = pool.clone();
            move |token| outbox::report(pool, token)
        })
        .with_task("revocations", revocations)
        .with_task("outbox-relay", move |token| {
            outbox::relay(pool, publisher, wake, retry, token)
        })
        .with_task("checkout-repair", move |token| {
            checkout::repair(repair_state, token)
        }))
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::orders::router())
        .with_state(state.clone())
        .merge(health::router(state.pool, NAME))
        .merge(shop_platform::openapi::router(ApiDoc::openapi()))
}
