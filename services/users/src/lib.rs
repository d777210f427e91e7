//! Users service: accounts, sign-in and token issuing.

use anyhow::Result;
use axum::Router;
use shop_platform::{
    Service,
    config::{Env, ServiceSettings},
    db, health,
};
use sqlx::{PgPool, migrate::Migrator};

/// The service's schema, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!();

pub const NAME: &str = "users";
pub const DEFAULT_PORT: u16 = 8003;

#[derive(Debug, Clone)]
pub struct Config {
    pub service: ServiceSettings,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self> {
        Ok(Self {
            service: ServiceSettings::from_env(env, NAME, DEFAULT_PORT)?,
        })
    }
}

/// Shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: PgPool,
}

/// Connects (creating the database if needed), migrates, and binds.
pub async fn build(config: Config) -> Result<Service> {
    let pool = db::connect_and_migrate(&config.service.database, &MIGRATOR).await?;
    Service::bind(&config.service, router(AppState { pool })).await
}

pub fn router(state: AppState) -> Router {
    Router::new().merge(health::router(state.pool.clone(), NAME))
}
