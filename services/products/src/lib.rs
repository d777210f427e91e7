//! Products service: the catalogue, stock and its reservation.
//!
//! Inside, four layers, each calling only the ones below it:
//! [`api`] (HTTP) → [`app`] (use cases) → [`domain`] (pure rules) and
//! [`store`] (SQL).

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod state;
pub mod store;

use anyhow::Result;
use axum::Router;
use shop_platform::{Service, cache::Announced, db, health};
use sqlx::migrate::Migrator;
use std::{sync::Arc, time::Duration};
use utoipa::OpenApi;

pub use api::internal::INTERNAL_TOKEN_HEADER;
pub use config::Config;
pub use state::AppState;

/// The service's schema, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!();

pub const NAME: &str = "products";
pub const DEFAULT_PORT: u16 = 8001;

/// The channel the `products` trigger announces changes on.
pub const CHANGES: &str = "products_changed";

/// Anyone may keep a copy of the public catalogue, but must ask again each
/// time (stock moves with every order); the `ETag` makes that a 304.
pub const CATALOGUE_CACHE_CONTROL: &str = "public, no-cache";

/// The public endpoints (the internal reservation API is documented apart).
#[derive(OpenApi)]
#[openapi(paths(
    api::catalogue::list,
    api::catalogue::categories,
    api::catalogue::get_one,
    api::catalogue::create,
    api::catalogue::replace,
    api::catalogue::update,
    api::catalogue::remove,
    api::catalogue::set_stock,
    api::catalogue::adjust_stock,
    api::catalogue::ledger,
    api::catalogue::sitemap,
    api::images::picture,
    api::images::set_picture,
    api::images::remove_picture,
))]
pub struct ApiDoc;

/// Connects (creating the database if needed), migrates, seeds, and binds.
pub async fn build(config: Config) -> Result<Service> {
    let pool = db::connect_and_migrate(&config.service.database, &MIGRATOR).await?;
    if config.seed_demo {
        store::seed::seed_if_empty(&pool).await?;
    }
    let state = AppState {
        images: Arc::new(store::images::PgImages(pool.clone())),
        pool,
        auth: config.auth.auth()?,
        internal_token: Arc::new(config.internal_token.clone()),
        reservation_hold: config.reservation_hold,
        catalogue: Announced::new(CATALOGUE_CACHE_CONTROL, 100_000),
        public_url: config.public_url.as_str().into(),
    };
    let catalogue = state.catalogue.clone();
    let (pool, every) = (state.pool.clone(), sweep_interval(config.reservation_hold));
    let revocations = config.auth.revocation_follower(&state.auth);
    Ok(Service::bind(&config.service, router(state))
        .await?
        .with_pool_metrics(pool.clone())
        .with_retention(
            pool.clone(),
            store::reservations::RETENTION,
            config.service.retention,
        )
        .with_task("ledger metrics", {
            let pool = pool.clone();
            move |token| app::ledger::report(pool, token)
        })
        .with_task("revocations", revocations)
        .with_task("catalogue cache", {
            let (pool, catalogue) = (pool.clone(), catalogue.clone());
            move |token| catalogue.follow(pool, CHANGES, token)
        })
        .with_task("stock announcements", {
            let (pool, catalogue) = (pool.clone(), catalogue.clone());
            move |token| catalogue.announce(pool, CHANGES, token)
        })
        .with_task("reservation-expiry", move |token| {
            app::ledger::sweeper(pool, catalogue, every, token)
        }))
}

/// Expired holds are noticed within a fraction of their lifetime.
fn sweep_interval(hold: Duration) -> Duration {
    (hold / 4).clamp(Duration::from_millis(250), Duration::from_secs(10))
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::catalogue::router())
        .merge(api::images::router())
        .merge(api::internal::router())
        .with_state(state.clone())
        .merge(health::router(state.pool, NAME))
        .merge(shop_platform::openapi::router(ApiDoc::openapi()))
}

pub use store::seed::seed_if_empty;
