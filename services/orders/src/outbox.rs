//! The outbox relay: publishes stored events with retries, backoff and a
//! dead state, on any number of replicas at once.
//!
//! Rows are leased, not locked: a short transaction marks a batch as this
//! relay's for [`LEASE`], the broker is called with no transaction open, and
//! each outcome is written for its own row only. Another relay skips leased
//! rows, so two relays never publish one event twice (unless one dies after
//! the broker took an event and before marking it; consumers drop repeats by
//! `event_id`). A row that failed [`Retry::max_attempts`] times is `dead`:
//! logged, counted by [`backlog`], and left for an operator.

use crate::error::Error;
use futures::StreamExt;
use shop_events::{OutgoingEvent, Publisher};
use sqlx::PgPool;
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const BATCH: i64 = 50;
/// Broker calls (of ten events each) at once.
const PARALLEL: usize = 8;
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// Longer than a batch can take (every publish is bounded by its timeout).
pub const LEASE: Duration = Duration::from_secs(60);

/// How failed publishes are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// After this many failed attempts an event is dead.
    pub max_attempts: i32,
}

/// Delay before attempt `n + 1`: 200 ms doubling, capped.
pub fn backoff(attempts: i32, cap: Duration) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    Duration::from_millis(200u64.saturating_mul(1 << exp)).min(cap)
}

/// Publishes one leased batch, ten events a broker call and up to
/// `PARALLEL` calls at a time (SNS does not order a standard topic anyway).
/// Returns how many were published.
pub async fn publish_batch(
    pool: &PgPool,
    publisher: &dyn Publisher,
    retry: Retry,
) -> Result<usize, Error> {
    let rows: Vec<(i64, String, String, String, i32, Option<String>)> = sqlx::query_as(
        "UPDATE outbox SET leased_until = now() + make_interval(secs => $2)
         WHERE id IN (
             SELECT id FROM outbox
             WHERE published_at IS NULL AND dead_at IS NULL AND next_attempt_at <= now()
               AND (leased_until IS NULL OR leased_until <= now())
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id, event_type, subject, body, attempts, trace_context",
    )
    .bind(BATCH)
    .bind(LEASE.as_secs_f64())
    .fetch_all(pool)
    .await?;
    // Each event has its producer span, in the trace of the request that
    // wrote it; the consumer continues from it. Events go out ten to a
    // broker call (SNS `PublishBatch`), several calls at once.
    let prepared: Vec<(i64, i32, OutgoingEvent, tracing::Span)> = rows
        .into_iter()
        .map(|(id, event_type, subject, body, attempts, trace)| {
            let span = tracing::info_span!(
                "publish",
                otel.name = "order-events publish",
                otel.kind = "producer",
                otel.status_code = tracing::field::Empty,
                messaging.system = "aws_sns",
                messaging.operation.type = "send",
                messaging.destination.name = "order-events",
                outbox_id = id,
                event_type = %event_type,
                trace_id = tracing::field::Empty,
                span_id = tracing::field::Empty,
            );
            shop_platform::traces::continue_from(
                &span,
                &shop_platform::traces::carrier_from_json(trace.as_deref()),
                "orders",
            );
            let event = OutgoingEvent {
                event_type,
                subject,
                body,
                trace: shop_platform::traces::carrier(&span).unwrap_or_default(),
            };
            (id, attempts, event, span)
        })
        .collect();
    // Each span ends once its event's outcome is known.
    let mut chunks: Vec<Vec<_>> = Vec::new();
    let mut rest = prepared.into_iter();
    loop {
        let chunk: Vec<_> = rest.by_ref().take(shop_events::MAX_BATCH).collect();
        if chunk.is_empty() {
            break;
        }
        chunks.push(chunk);
    }
    let outcomes: Vec<(i64, i32, anyhow::Result<()>)> = futures::stream::iter(chunks)
        .map(|chunk| async move {
            let events: Vec<OutgoingEvent> = chunk.iter().map(|c| c.2.clone()).collect();
            let sent = tokio::time::timeout(PUBLISH_TIMEOUT, publisher.publish_batch(&events))
                .await
                .unwrap_or_else(|_| {
                    shop_events::all_failed(&events, &anyhow::anyhow!("publishing timed out"))
                });
            chunk
                .into_iter()
                .zip(sent)
                .map(|((id, attempts, _, span), outcome)| {
                    if outcome.is_err() {
                        span.record("otel.status_code", "ERROR");
                    }
                    (id, attempts, outcome)
                })
                .collect::<Vec<_>>()
        })
        .buffer_unordered(PARALLEL)
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    let published: Vec<i64> = outcomes
        .iter()
        .filter(|o| o.2.is_ok())
        .map(|o| o.0)
        .collect();
    if !published.is_empty() {
        sqlx::query(
            "UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL,
                    leased_until = NULL
             WHERE id = ANY($1) AND published_at IS NULL",
        )
        .bind(&published)
        .execute(pool)
        .await?;
    }
    for (id, attempts, outcome) in &outcomes {
        let Err(e) = outcome else { continue };
        let attempts = attempts + 1;
        let wait = backoff(attempts - 1, retry.max_backoff);
        let dead = attempts >= retry.max_attempts;
        let error = format!("{e:#}");
        if dead {
            tracing::error!(
                outbox_id = id,
                attempts,
                error,
                "event is dead after its last attempt; an operator must requeue it"
            );
        } else {
            tracing::warn!(
                outbox_id = id,
                attempts,
                retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error,
                "publish failed"
            );
        }
        sqlx::query(
            "UPDATE outbox SET attempts = $2, last_error = $3, leased_until = NULL,
                    next_attempt_at = now() + make_interval(secs => $4),
                    dead_at = CASE WHEN $5 THEN now() END
             WHERE id = $1 AND published_at IS NULL",
        )
        .bind(id)
        .bind(attempts)
        .bind(&error)
        .bind(wait.as_secs_f64())
        .bind(dead)
        .execute(pool)
        .await?;
    }
    Ok(published.len())
}

/// Runs until cancelled; woken at once when an order commits an event.
pub async fn relay(
    pool: PgPool,
    publisher: Arc<dyn Publisher>,
    wake: Arc<Notify>,
    retry: Retry,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        let notified = wake.notified();
        let published = match publish_batch(&pool, publisher.as_ref(), retry).await {
            Ok(n) => {
                metrics::counter!("orders_outbox_published_total").increment(n as u64);
                n
            }
            Err(e) => {
                tracing::error!(error = ?e, "outbox relay error");
                0
            }
        };
        if i64::try_from(published).unwrap_or(0) == BATCH {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = notified => {},
            () = tokio::time::sleep(Duration::from_millis(500)) => {},
        }
    }
}

/// `orders_outbox_waiting`, `orders_outbox_dead` and
/// `orders_outbox_oldest_waiting_seconds` on `/metrics`, refreshed until
/// `shutdown`.
pub async fn report(pool: PgPool, shutdown: CancellationToken) -> anyhow::Result<()> {
    shop_platform::metrics::every("outbox", shutdown, || async {
        let b = backlog(&pool).await?;
        metrics::gauge!("orders_outbox_waiting").set(b.waiting as f64);
        metrics::gauge!("orders_outbox_dead").set(b.dead as f64);
        metrics::gauge!("orders_outbox_oldest_waiting_seconds").set(b.oldest_waiting_secs);
        Ok(())
    })
    .await
}

/// The outbox at a glance, for operators.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Backlog {
    /// Events not yet published and not dead.
    pub waiting: i64,
    /// Age of the oldest waiting event, in seconds.
    pub oldest_waiting_secs: f64,
    /// Events that failed their last attempt.
    pub dead: i64,
    /// The most recent dead events.
    pub dead_events: Vec<DeadEvent>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct DeadEvent {
    pub id: i64,
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Puts a dead event back in line with fresh attempts. `false` when `id`
/// is not a dead event.
pub async fn requeue(pool: &PgPool, id: i64) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE outbox SET dead_at = NULL, attempts = 0, last_error = NULL,
                next_attempt_at = now(), leased_until = NULL
         WHERE id = $1 AND dead_at IS NOT NULL",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn backlog(pool: &PgPool) -> Result<Backlog, Error> {
    let (waiting, oldest_waiting_secs, dead): (i64, f64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::FLOAT8,
                (SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL)
         FROM outbox WHERE published_at IS NULL AND dead_at IS NULL",
    )
    .fetch_one(pool)
    .await?;
    let dead_events = sqlx::query_as(
        "SELECT id, event_id, event_type, attempts, last_error, created_at FROM outbox
         WHERE dead_at IS NOT NULL ORDER BY id DESC LIMIT 50",
    )
    .fetch_all(pool)
    .await?;
    Ok(Backlog {
        waiting,
        oldest_waiting_secs,
        dead,
        dead_events,
    })
}

/// Published events and finished `Idempotency-Key` answers past the
/// retention go. An event not yet published (or dead, waiting for an admin)
/// stays; so does a key whose request is still running.
pub const RETENTION: &[shop_platform::retention::Rule] = &[
    shop_platform::retention::Rule {
        what: "outbox",
        sql: "DELETE FROM outbox WHERE id IN (
                  SELECT id FROM outbox WHERE published_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
    },
    shop_platform::retention::Rule {
        what: "idempotency_keys",
        sql: "DELETE FROM idempotency_keys WHERE (user_id, key) IN (
                  SELECT user_id, key FROM idempotency_keys
                  WHERE created_at < $1 AND status_code IS NOT NULL LIMIT $2 FOR UPDATE SKIP LOCKED)",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let cap = Duration::from_secs(30);
        assert_eq!(backoff(0, cap), Duration::from_millis(200));
        assert_eq!(backoff(3, cap), Duration::from_millis(1600));
        assert_eq!(backoff(40, cap), cap);
    }
}
