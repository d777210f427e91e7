//! The development mail inbox (`dev/inbox`), started by the one-process
//! platform when no `SMTP_URL` is set: an SMTP listener on `INBOX_SMTP_PORT`
//! (1025) that the notifications service sends to, and its page and
//! MailHog-style API on `INBOX_PORT` (8025). Never in production, where
//! `SMTP_URL` is required.

use anyhow::{Context, Result};
use shop_platform::{Service, config::Env};
use std::{net::IpAddr, time::Duration};

pub const DEFAULT_PORT: u16 = 8025;
pub const DEFAULT_SMTP_PORT: u16 = 1025;

/// The inbox's part of the platform, and the `smtp://` URL to send to.
pub async fn build(env: &Env) -> Result<(Service, String)> {
    // Every email the platform sent is readable here: loopback unless
    // INBOX_HOST says otherwise, whatever HOST the rest listens on.
    let host: IpAddr = env
        .get("INBOX_HOST")
        .unwrap_or("127.0.0.1")
        .parse()
        .context("INBOX_HOST")?;
    let port = env.parse_or("INBOX_PORT", DEFAULT_PORT)?;
    let smtp_port = env.parse_or("INBOX_SMTP_PORT", DEFAULT_SMTP_PORT)?;
    let timeout = Duration::from_secs(env.parse_or("REQUEST_TIMEOUT_SECS", 30)?);
    let smtp = tokio::net::TcpListener::bind((host, smtp_port))
        .await
        .with_context(|| format!("cannot listen for SMTP on {host}:{smtp_port}"))?;
    let smtp_addr = smtp.local_addr()?;
    let reach = if host.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host
    };
    let inbox = shop_inbox::Inbox::new();
    let service = Service::bind_addr(
        "inbox",
        host,
        port,
        timeout,
        shop_inbox::router(inbox.clone()),
    )
    .await?
    .with_task("smtp", move |token| {
        shop_inbox::serve_smtp(smtp, inbox, token)
    });
    Ok((service, format!("smtp://{reach}:{}", smtp_addr.port())))
}
