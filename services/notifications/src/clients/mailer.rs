//! Sending email: SMTP through lettre (a connection per email, each exchange
//! bounded by one deadline), or — in development — files in a folder, or memory in tests.

use crate::{config::MailSettings, domain::messages::Email};
use anyhow::{Context, Result};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::PoolConfig,
};
use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
        /// The whole exchange, connection to the server's last answer:
        /// lettre's own timeout bounds each network step, not their sum.
        deadline: Duration,
    },
    Directory {
        dir: PathBuf,
        from: Mailbox,
    },
    Memory(Arc<Mutex<Vec<Email>>>),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Smtp { .. } => "Mailer::Smtp",
            Self::Directory { .. } => "Mailer::Directory",
            Self::Memory(_) => "Mailer::Memory",
        })
    }
}

impl Mailer {
    pub fn from_settings(settings: &MailSettings, from: &str, deadline: Duration) -> Result<Self> {
        let from: Mailbox = from
            .parse()
            .with_context(|| format!("MAIL_FROM `{from}` is not an address"))?;
        Ok(match settings {
            MailSettings::Smtp(url) => Self::Smtp {
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .with_context(|| format!("SMTP_URL `{url}`"))?
                    .timeout(Some(deadline.min(Duration::from_secs(10))))
                    // No connection is reused: one abandoned at the deadline
                    // may be stuck mid-message, and lettre's pool would hand
                    // it to the next email (whose liveness check would hang
                    // on it in turn). Each email opens its own.
                    .pool_config(PoolConfig::new().min_idle(0).max_size(0))
                    .build(),
                from,
                deadline,
            },
            MailSettings::Directory(dir) => Self::Directory {
                dir: dir.clone(),
                from,
            },
        })
    }

    /// Sends one email; the error says why it failed (stored on the notification).
    pub async fn send(&self, email: &Email) -> Result<()> {
        match self {
            Self::Smtp {
                transport,
                from,
                deadline,
            } => {
                // A server that accepts and then stops answering (mid-DATA,
                // say) holds only this email, and only this long.
                tokio::time::timeout(*deadline, transport.send(build(from, email)?))
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "the mail server did not finish within {} ms",
                            deadline.as_millis()
                        )
                    })?
                    .context("SMTP delivery failed")?;
            }
            Self::Directory { dir, from } => {
                let message = build(from, email)?;
                tokio::fs::create_dir_all(dir).await?;
                let name = format!(
                    "{}-{}.eml",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"),
                    uuid::Uuid::new_v4().simple()
                );
                tokio::fs::write(dir.join(&name), message.formatted()).await?;
                tracing::info!(to = email.to, subject = email.subject, file = %dir.join(name).display(), "email recorded");
            }
            Self::Memory(sent) => sent
                .lock()
                .map_err(|_| anyhow::anyhow!("mail lock poisoned"))?
                .push(email.clone()),
        }
        Ok(())
    }
}

fn build(from: &Mailbox, email: &Email) -> Result<Message> {
    let to: Mailbox = email
        .to
        .parse()
        .with_context(|| format!("recipient `{}` is not an address", email.to))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&email.subject)
        .multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
        .context("building the email")
}
