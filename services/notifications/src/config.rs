//! Notifications service configuration.

use anyhow::Result;
use shop_auth::AuthSettings;
use shop_events::EventsSettings;
use shop_platform::config::{Env, ServiceSettings};
use std::path::PathBuf;

/// Where emails go.
#[derive(Debug, Clone)]
pub enum MailSettings {
    /// `SMTP_URL`, e.g. `smtp://127.0.0.1:1025` (add `?tls=required` for STARTTLS).
    Smtp(String),
    /// Development without `SMTP_URL`: each email written as a file (`MAIL_DIR`).
    Directory(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub service: ServiceSettings,
    pub auth: AuthSettings,
    pub events: EventsSettings,
    pub mail: MailSettings,
    /// `MAIL_FROM`.
    pub mail_from: String,
    /// `CONSUMER_CONCURRENCY`: messages handled at once.
    pub concurrency: usize,
    /// `WS_MAX_SOCKETS_PER_USER` (10) and `WS_IDLE_SECS` (90).
    pub sockets: crate::SocketLimits,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self> {
        let mail = match env.get("SMTP_URL") {
            Some(url) => MailSettings::Smtp(url.to_owned()),
            None if env.is_production() => {
                anyhow::bail!("SMTP_URL must be set when SHOP_ENV=production")
            }
            None => {
                MailSettings::Directory(PathBuf::from(env.get("MAIL_DIR").unwrap_or(".shop/mail")))
            }
        };
        Ok(Self {
            service: ServiceSettings::from_env(env, crate::NAME, crate::DEFAULT_PORT)?,
            auth: AuthSettings::from_env(env)?,
            events: EventsSettings::from_env(env, crate::NAME)?,
            mail,
            mail_from: env
                .get("MAIL_FROM")
                .unwrap_or("Shop <orders@shop.local>")
                .to_owned(),
            concurrency: env.parse_or("CONSUMER_CONCURRENCY", 32)?,
            sockets: crate::SocketLimits {
                per_user: env.parse_or("WS_MAX_SOCKETS_PER_USER", 10)?,
                idle: std::time::Duration::from_secs(env.parse_or("WS_IDLE_SECS", 90)?),
            },
        })
    }
}
