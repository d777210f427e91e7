//! The API gateway: the platform's only public entry. It answers `/health`
//! for the whole platform and forwards every API path to its service.

pub mod config;
pub mod error;
pub mod proxy;
mod routes;

use anyhow::Result;
use axum::Router;
use shop_auth::Auth;
use shop_platform::Service;
use std::{ops::Deref, sync::Arc, time::Duration};

pub use config::{Config, Upstreams};

/// Shared by every handler; clients are built once here, never per request.
/// Handed to each request as one reference count: axum clones the state for
/// every request, and a clone of the fields (a dozen reference counts, the
/// pooled client's among them) was 6 % of a proxied read's time.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
#[derive(Debug)]
pub struct Shared {
    pub upstreams: Upstreams,
    /// For health checks: short timeouts, its own pool.
    pub health_client: reqwest::Client,
    /// Pooled keep-alive connections to the services.
    pub proxy: proxy::Client,
    /// Verifies tokens with the cached JWKS: no I/O per request.
    pub auth: Auth,
    pub request_timeout: Duration,
    /// Proxies whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The services' OpenAPI documents, last good copy of each.
    pub documents: routes::docs::Documents,
}

impl AppState {
    pub fn new(config: &Config) -> Result<Self> {
        Ok(Self(Arc::new(Shared {
            upstreams: config.upstreams.clone(),
            health_client: reqwest::Client::builder()
                .timeout(config.health_timeout)
                .connect_timeout(config.health_timeout)
                .pool_idle_timeout(Duration::from_secs(30))
                .build()?,
            proxy: proxy::client(),
            auth: config.auth.auth()?,
            request_timeout: config.request_timeout,
            trusted_proxies: config.trusted_proxies.clone(),
            documents: routes::docs::Documents::default(),
        })))
    }
}

pub async fn build(config: Config) -> Result<Service> {
    let state = AppState::new(&config)?;
    // Listed at zero from the start, so a dashboard finds the series.
    metrics::gauge!("gateway_open_sockets").increment(0.0);
    let revocations = config.auth.revocation_follower(&state.auth);
    // The proxy's own upstream timeout (a precise 504) must fire before the
    // generic request timeout of the standard layers.
    Ok(Service::bind_addr(
        "gateway",
        config.host,
        config.port,
        config.request_timeout + Duration::from_secs(1),
        router(state),
    )
    .await?
    .with_task("revocations", revocations))
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::health::router())
        .merge(routes::forward::router())
        .merge(routes::docs::router())
        .with_state(state)
}
