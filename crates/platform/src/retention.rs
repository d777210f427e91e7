//! Retention: rows that have done their job (settled reservations,
//! published events, handled-event marks, old notifications) are deleted on
//! a schedule, in small batches, so no table grows without bound and no
//! pruning statement holds locks or the pool for long.
//!
//! Each service names its own [`Rule`]s; every rule is one `DELETE` that
//! takes the cut-off time as `$1` and the batch size as `$2`, and deletes at
//! most that many rows. A pass runs each rule until it deletes less than a
//! batch. Replicas may prune at the same time: a row is deleted once.

use anyhow::Result;
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `RETENTION_DAYS`, `PRUNE_EVERY_SECS`, `PRUNE_BATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    /// How long a row is kept after it has done its job.
    pub keep: Duration,
    /// How often a pass runs.
    pub every: Duration,
    /// Rows deleted per statement.
    pub batch: i64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            // Longer than SQS keeps a message (14 days at most), so a mark
            // of a handled event outlives every copy of it.
            keep: Duration::from_secs(30 * 24 * 3600),
            every: Duration::from_secs(3600),
            batch: 1000,
        }
    }
}

impl RetentionSettings {
    pub fn from_env(env: &crate::config::Env) -> Result<Self> {
        let d = Self::default();
        let days: u64 = env.parse_or("RETENTION_DAYS", d.keep.as_secs() / 86_400)?;
        anyhow::ensure!(
            days >= 15,
            "RETENTION_DAYS must be at least 15: a mark of a handled event must outlive SQS's longest retention (14 days)"
        );
        let settings = Self {
            keep: Duration::from_secs(days * 86_400),
            every: Duration::from_secs(env.parse_or("PRUNE_EVERY_SECS", d.every.as_secs())?),
            batch: env.parse_or("PRUNE_BATCH", d.batch)?,
        };
        anyhow::ensure!(
            !settings.every.is_zero() && settings.batch > 0,
            "PRUNE_EVERY_SECS and PRUNE_BATCH must be above 0"
        );
        Ok(settings)
    }
}

/// One kind of row to prune: a `DELETE` of at most `$2` rows whose job was
/// done before `$1`.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// For logs and `/metrics`: `outbox`, `reservations`, ….
    pub what: &'static str,
    pub sql: &'static str,
}

/// One pass: every rule, batch after batch, until each deletes less than a
/// batch. Returns how many rows each rule deleted.
pub async fn prune(
    pool: &PgPool,
    rules: &[Rule],
    keep: Duration,
    batch: i64,
) -> Result<Vec<(&'static str, u64)>> {
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(keep)?;
    let mut deleted = Vec::with_capacity(rules.len());
    for rule in rules {
        let mut total = 0;
        loop {
            let n = sqlx::query(rule.sql)
                .bind(cutoff)
                .bind(batch)
                .execute(pool)
                .await?
                .rows_affected();
            total += n;
            if n < u64::try_from(batch).unwrap_or(u64::MAX) {
                break;
            }
            // Let other work in between batches.
            tokio::task::yield_now().await;
        }
        metrics::counter!("pruned_rows_total", "table" => rule.what).increment(total);
        deleted.push((rule.what, total));
    }
    Ok(deleted)
}

/// Prunes every `settings.every` until `shutdown`; a failed pass is logged
/// and tried again at the next.
pub async fn run(
    pool: PgPool,
    rules: &'static [Rule],
    settings: RetentionSettings,
    shutdown: CancellationToken,
) -> Result<()> {
    let mut tick = tokio::time::interval(settings.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        let pass = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            pass = prune(&pool, rules, settings.keep, settings.batch) => pass,
        };
        match pass {
            Ok(deleted) => {
                if deleted.iter().any(|(_, n)| *n > 0) {
                    tracing::info!(?deleted, "pruned rows past their retention");
                }
            }
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "pruning failed; trying again later"
            ),
        }
    }
}
