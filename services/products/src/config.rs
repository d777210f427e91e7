//! Products service configuration.

use anyhow::Result;
use secrecy::SecretString;
use shop_auth::AuthSettings;
use shop_platform::config::{Env, ServiceSettings};
use std::time::Duration;

/// Development default for `INTERNAL_API_TOKEN`; refused in production.
use shop_types::internal::DEV_INTERNAL_TOKEN;

#[derive(Debug, Clone)]
pub struct Config {
    pub service: ServiceSettings,
    pub auth: AuthSettings,
    /// `INTERNAL_API_TOKEN`: what the orders service presents to reserve stock.
    pub internal_token: SecretString,
    /// `SEED_DEMO_CATALOGUE`: fill an empty catalogue with demo products.
    pub seed_demo: bool,
    /// `RESERVATION_HOLD_SECS`: a reservation not confirmed by its order
    /// within this long expires and its stock comes back.
    pub reservation_hold: Duration,
    /// `PUBLIC_URL`: the web origin, for the sitemap's addresses.
    pub public_url: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self> {
        Ok(Self {
            service: ServiceSettings::from_env(env, crate::NAME, crate::DEFAULT_PORT)?,
            auth: AuthSettings::from_env(env)?,
            internal_token: env.dev_secret("INTERNAL_API_TOKEN", DEV_INTERNAL_TOKEN)?,
            seed_demo: env.parse_or("SEED_DEMO_CATALOGUE", !env.is_production())?,
            reservation_hold: Duration::from_secs(env.parse_or("RESERVATION_HOLD_SECS", 300)?),
            public_url: env
                .dev_default("PUBLIC_URL", "http://localhost:8080")?
                .trim_end_matches('/')
                .to_owned(),
        })
    }
}
