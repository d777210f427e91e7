//! Products service: the catalogue, stock and its reservation.

pub mod config;
pub mod domain;
pub mod error;
pub mod repo;
pub mod reservations;
pub mod routes;
mod seed;

use anyhow::Result;
use axum::{Router, extract::FromRef};
use secrecy::SecretString;
use shop_auth::Auth;
use shop_platform::{Service, cache::Announced, db, health};
use sqlx::{PgPool, migrate::Migrator};
use std::{sync::Arc, time::Duration};
use utoipa::OpenApi;

pub use config::Config;
pub use routes::internal::INTERNAL_TOKEN_HEADER;

/// The service's schema, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!();

pub const NAME: &str = "products";
pub const DEFAULT_PORT: u16 = 8001;

/// Shared by every handler.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub auth: Auth,
    pub internal_token: Arc<SecretString>,
    /// How long a reservation holds its stock unconfirmed.
    #[from_ref(skip)]
    pub reservation_hold: Duration,
    /// Products and catalogue pages as served, dropped on every change.
    #[from_ref(skip)]
    pub catalogue: Announced,
}

/// The channel the `products` trigger announces changes on.
pub const CHANGES: &str = "products_changed";

/// Anyone may keep a copy of the public catalogue, but must ask again each
/// time (stock moves with every order); the `ETag` makes that a 304.
pub const CATALOGUE_CACHE_CONTROL: &str = "public, no-cache";

/// The public endpoints (the internal reservation API is documented apart).
#[derive(OpenApi)]
#[openapi(paths(
    routes::catalogue::list,
    routes::catalogue::categories,
    routes::catalogue::get_one,
    routes::catalogue::create,
    routes::catalogue::replace,
    routes::catalogue::update,
    routes::catalogue::remove,
    routes::catalogue::set_stock,
    routes::catalogue::adjust_stock,
    routes::catalogue::ledger,
))]
pub struct ApiDoc;

/// Connects (creating the database if needed), migrates, seeds, and binds.
pub async fn build(config: Config) -> Result<Service> {
    let pool = db::connect_and_migrate(&config.service.database, &MIGRATOR).await?;
    if config.seed_demo {
        seed::seed_if_empty(&pool).await?;
    }
    let state = AppState {
        pool,
        auth: config.auth.auth()?,
        internal_token: Arc::new(config.internal_token.clone()),
        reservation_hold: config.reservation_hold,
        catalogue: Announced::new(CATALOGUE_CACHE_CONTROL, 100_000),
    };
    let catalogue = state.catalogue.clone();
    let (pool, every) = (state.pool.clone(), sweep_interval(config.reservation_hold));
    let revocations = config.auth.revocation_follower(&state.auth);
    Ok(Service::bind(&config.service, router(state))
        .await?
        .with_pool_metrics(pool.clone())
        .with_retention(
            pool.clone(),
            reservations::RETENTION,
            config.service.retention,
        )
        .with_task("ledger metrics", {
            let pool = pool.clone();
            move |token| reservations::report(pool, token)
        })
        .with_task("revocations", revocations)
        .with_task("catalogue cache", {
            let pool = pool.clone();
            move |token| catalogue.follow(pool, CHANGES, token)
        })
        .with_task("reservation-expiry", move |token| {
            reservations::sweeper(pool, every, token)
        }))
}

/// Expired holds are noticed within a fraction of their lifetime.
fn sweep_interval(hold: Duration) -> Duration {
    (hold / 4).clamp(Duration::from_millis(250), Duration::from_secs(10))
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::catalogue::router())
        .merge(routes::internal::router())
        .with_state(state.clone())
        .merge(health::router(state.pool, NAME))
        .merge(shop_platform::openapi::router(ApiDoc::openapi()))
}

pub use seed::seed_if_empty;
