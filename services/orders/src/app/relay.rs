//! The outbox relay: publishes stored events with retries, backoff and a
//! dead state, on any number of replicas at once.
//!
//! Rows are leased, not locked: a short transaction marks a batch as this
//! relay's for [`LEASE`], the broker is called with no transaction open, and
//! each outcome is written for its own row only. Another relay skips leased
//! rows, so two relays never publish one event twice (unless one dies after
//! the broker took an event and before marking it; consumers drop repeats by
//! `event_id`). A row that failed [`Retry::max_attempts`] times is `dead`:
//! logged, counted by [`outbox::backlog`], and left for an operator.

use crate::{
    error::Error,
    store::outbox::{self, Failure},
};
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
    let rows = outbox::lease(pool, BATCH, LEASE).await?;
    // Each event has its producer span, in the trace of the request that
    // wrote it; the consumer continues from it. Events go out ten to a
    // broker call (SNS `PublishBatch`), several calls at once.
    let prepared: Vec<(i64, i32, OutgoingEvent, tracing::Span)> = rows
        .into_iter()
        .map(|row| {
            let outbox::Leased {
                id,
                event_type,
                subject,
                body,
                attempts,
                trace_context: trace,
            } = row;
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
        outbox::mark_published(pool, &published).await?;
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
        let failure = Failure {
            id: *id,
            attempts,
            error: &error,
            wait,
            dead,
        };
        outbox::mark_failed(pool, failure).await?;
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
        let b = outbox::backlog(&pool).await?;
        metrics::gauge!("orders_outbox_waiting").set(b.waiting as f64);
        metrics::gauge!("orders_outbox_dead").set(b.dead as f64);
        metrics::gauge!("orders_outbox_oldest_waiting_seconds").set(b.oldest_waiting_secs);
        Ok(())
    })
    .await
}

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
