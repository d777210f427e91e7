//! Gateway configuration: where it listens and where each service lives.

use crate::proxy::Upstream;
use anyhow::Result;
use shop_auth::AuthSettings;
use shop_platform::config::Env;
use std::{net::IpAddr, time::Duration};

/// The four services by their public names.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub users: Upstream,
    pub products: Upstream,
    pub orders: Upstream,
    pub notifications: Upstream,
}

impl Upstreams {
    /// From base URLs, in the order users, products, orders, notifications.
    pub fn new(users: &str, products: &str, orders: &str, notifications: &str) -> Result<Self> {
        Ok(Self {
            users: Upstream::new("user-service", users)?,
            products: Upstream::new("product-service", products)?,
            orders: Upstream::new("order-service", orders)?,
            notifications: Upstream::new("notification-service", notifications)?,
        })
    }

    pub fn all(&self) -> [&Upstream; 4] {
        [
            &self.users,
            &self.products,
            &self.orders,
            &self.notifications,
        ]
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub upstreams: Upstreams,
    /// Each service's health check gets this long (API.md: 2 s).
    pub health_timeout: Duration,
    pub request_timeout: Duration,
    /// Token verification; `JWKS_URL` defaults to the users service's.
    pub auth: AuthSettings,
    /// `TRUSTED_PROXIES`: peers (the web front) whose `X-Forwarded-For`
    /// names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

pub const DEFAULT_PORT: u16 = 3000;

impl Config {
    /// `GATEWAY_HOST`/`HOST`, `GATEWAY_PORT`/`PORT`, `USERS_SERVICE_URL`,
    /// `PRODUCTS_SERVICE_URL`, `ORDERS_SERVICE_URL`, `NOTIFICATIONS_SERVICE_URL`.
    pub fn from_env(env: &Env) -> Result<Self> {
        // Each name spelled out: `cargo xtask env` finds the variables read.
        let users = env.dev_default("USERS_SERVICE_URL", "http://127.0.0.1:8003")?;
        let mut auth = AuthSettings::from_env(env)?;
        if env.get("JWKS_URL").is_none() && env.get("REVOCATIONS_URL").is_none() {
            auth.follow_users(&users);
        }
        Ok(Self {
            host: env
                .service_var("gateway", "HOST")
                .or_else(|| env.get("HOST"))
                .unwrap_or("127.0.0.1")
                .parse()?,
            port: env
                .service_var("gateway", "PORT")
                .map(str::parse)
                .transpose()?
                .unwrap_or(DEFAULT_PORT),
            upstreams: Upstreams::new(
                &users,
                &env.dev_default("PRODUCTS_SERVICE_URL", "http://127.0.0.1:8001")?,
                &env.dev_default("ORDERS_SERVICE_URL", "http://127.0.0.1:8002")?,
                &env.dev_default("NOTIFICATIONS_SERVICE_URL", "http://127.0.0.1:8004")?,
            )?,
            health_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(env.parse_or("REQUEST_TIMEOUT_SECS", 30)?),
            auth,
            trusted_proxies: shop_platform::client::parse_trusted(
                env.get("TRUSTED_PROXIES")
                    .unwrap_or(shop_platform::client::DEV_TRUSTED_PROXIES),
            )?,
        })
    }
}
