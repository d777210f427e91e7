//! Orders service: checkout with reserved stock and frozen prices; order
//! events written to an outbox and relayed to SNS (or the in-process bus).
//!
//! Inside, four layers, each calling only the ones below it:
//! [`api`] (HTTP) → [`app`] (use cases) → [`domain`] (pure rules) and
//! [`store`] (SQL) / [`clients`] (other services).

pub mod api;
pub mod app;
pub mod clients;
pub mod config;
pub mod domain;
pub mod error;
pub mod state;
pub mod store;

use anyhow::Result;
use axum::Router;
use shop_platform::{Service, db, health};
use sqlx::migrate::Migrator;
use std::sync::Arc;
use tokio::sync::Notify;
use utoipa::OpenApi;

pub use clients::{Products, ProductsClient};
pub use config::Config;
pub use state::AppState;

/// The service's schema, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!();

pub const NAME: &str = "orders";
pub const DEFAULT_PORT: u16 = 8002;

#[derive(OpenApi)]
#[openapi(paths(
    api::orders::create,
    api::orders::list,
    api::orders::get_one,
    api::orders::cancel,
    api::orders::set_status,
    api::orders::moves,
    api::outbox::outbox_backlog,
    api::outbox::requeue_event,
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
        products: Arc::new(ProductsClient::new(
            &config.products_url,
            config.internal_token.clone(),
            config.products_timeout,
        )?),
        wake: Arc::new(Notify::new()),
        pending_timeout: config.pending_timeout,
        idempotency_lease: config.service.request_timeout,
    };
    let retry = app::relay::Retry {
        max_backoff: config.outbox_max_backoff,
        max_attempts: config.outbox_max_attempts,
    };
    let (wake, repair_state) = (state.wake.clone(), state.clone());
    let revocations = config.auth.revocation_follower(&state.auth);
    Ok(Service::bind(&config.service, router(state))
        .await?
        .with_pool_metrics(pool.clone())
        .with_retention(
            pool.clone(),
            store::outbox::RETENTION,
            config.service.retention,
        )
        .with_task("outbox metrics", {
            let pool = pool.clone();
            move |token| app::relay::report(pool, token)
        })
        .with_task("revocations", revocations)
        .with_task("outbox-relay", move |token| {
            app::relay::relay(pool, publisher, wake, retry, token)
        })
        .with_task("checkout-repair", move |token| {
            app::repair::repair(repair_state, token)
        }))
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::router())
        .with_state(state.clone())
        .merge(health::router(state.pool, NAME))
        .merge(shop_platform::openapi::router(ApiDoc::openapi()))
}
