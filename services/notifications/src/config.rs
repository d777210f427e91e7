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
    /// `SMTP_SEND_DEADLINE_MS`: the longest one whole SMTP exchange may
    /// take; by default a third of [`crate::app::consumer::SENDING_LEASE`], and
    /// never half of it or more.
    pub send_deadline: std::time::Duration,
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
        let lease = crate::app::consumer::SENDING_LEASE;
        let send_deadline = std::time::Duration::from_millis(env.parse_or(
            "SMTP_SEND_DEADLINE_MS",
            u64::try_from((lease / 3).as_millis()).unwrap_or(15_000),
        )?);
        if send_deadline.is_zero() || send_deadline >= lease / 2 {
            anyhow::bail!(
                "SMTP_SEND_DEADLINE_MS must be above 0 and below {} ms, half the sending lease",
                (lease / 2).as_millis()
            );
        }
        Ok(Self {
            send_deadline,
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
