//! The API gateway: the platform's only public entry. It answers `/health`
//! for the whole platform and forwards every API path to its service.

pub mod config;
mod routes;

use anyhow::Result;
use axum::Router;
use shop_platform::Service;
use std::time::Duration;

pub use config::{Config, Upstreams};

/// Shared by every handler; clients are built once here, never per request.
#[derive(Debug, Clone)]
pub struct AppState {
    pub upstreams: Upstreams,
    /// For health checks: short timeouts, its own pool.
    pub health_client: reqwest::Client,
}

impl AppState {
    pub fn new(config: &Config) -> Result<Self> {
        Ok(Self {
            upstreams: config.upstreams.clone(),
            health_client: reqwest::Client::builder()
                .timeout(config.health_timeout)
                .connect_timeout(config.health_timeout)
                .pool_idle_timeout(Duration::from_secs(30))
                .build()?,
        })
    }
}

pub async fn build(config: Config) -> Result<Service> {
    let state = AppState::new(&config)?;
    Service::bind_addr(
        "gateway",
        config.host,
        config.port,
        config.request_timeout,
        router(state),
    )
    .await
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::health::router())
        .with_state(state)
}
