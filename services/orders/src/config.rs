//! Orders service configuration.

use anyhow::Result;
use secrecy::SecretString;
use shop_auth::AuthSettings;
use shop_events::EventsSettings;
use shop_platform::config::{Env, ServiceSettings};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub service: ServiceSettings,
    pub auth: AuthSettings,
    /// `PRODUCTS_SERVICE_URL`: where stock is reserved.
    pub products_url: String,
    /// `INTERNAL_API_TOKEN`, shared with the products service.
    pub internal_token: SecretString,
    /// `PRODUCTS_TIMEOUT_MS`: a reservation slower than this is a 504.
    pub products_timeout: Duration,
    pub events: EventsSettings,
    /// `OUTBOX_MAX_BACKOFF_MS`: the longest wait between publish retries.
    pub outbox_max_backoff: Duration,
    /// `OUTBOX_MAX_ATTEMPTS`: after this many failed publishes an event is
    /// dead, logged and listed at `GET /orders/outbox` (120 attempts with
    /// the default backoff ride out a broker outage of about an hour).
    pub outbox_max_attempts: i32,
    /// `PENDING_ORDER_TIMEOUT_SECS`: a pending order older than this had its
    /// request fail midway; its stock is released and the order removed.
    pub pending_timeout: Duration,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self> {
        Ok(Self {
            service: ServiceSettings::from_env(env, crate::NAME, crate::DEFAULT_PORT)?,
            auth: AuthSettings::from_env(env)?,
            products_url: env.dev_default("PRODUCTS_SERVICE_URL", "http://127.0.0.1:8001")?,
            internal_token: env.dev_secret(
                "INTERNAL_API_TOKEN",
                shop_types::internal::DEV_INTERNAL_TOKEN,
            )?,
            products_timeout: Duration::from_millis(env.parse_or("PRODUCTS_TIMEOUT_MS", 5000)?),
            events: EventsSettings::from_env(env, crate::NAME)?,
            outbox_max_backoff: Duration::from_millis(
                env.parse_or("OUTBOX_MAX_BACKOFF_MS", 30_000)?,
            ),
            outbox_max_attempts: env.parse_or("OUTBOX_MAX_ATTEMPTS", 120)?,
            pending_timeout: Duration::from_secs(env.parse_or("PENDING_ORDER_TIMEOUT_SECS", 120)?),
        })
    }
}
