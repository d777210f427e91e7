//! Background work of the orders service: the outbox relay, which publishes
//! stored events in order with retries and backoff, and the repair loop,
//! which returns stock that a failed or cancelled checkout still holds.

use crate::{AppState, repo};
use futures::StreamExt;
use shop_events::{OutgoingEvent, Publisher};
use shop_platform::RequestId;
use sqlx::PgPool;
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const BATCH: i64 = 50;
const PARALLEL: usize = 16;
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Delay before attempt `n + 1`: 200 ms doubling, capped.
pub fn backoff(attempts: i32, cap: Duration) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    Duration::from_millis(200u64.saturating_mul(1 << exp)).min(cap)
}

/// Publishes one batch, up to `PARALLEL` events at a time (SNS does not
/// order a standard topic anyway). Published rows are marked; if any failed,
/// every waiting row backs off together: the broker is down, not one event.
pub async fn publish_batch(
    pool: &PgPool,
    publisher: &dyn Publisher,
    cap: Duration,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(i64, String, String, String, i32)> = sqlx::query_as(
        "SELECT id, event_type, subject, body, attempts FROM outbox
         WHERE published_at IS NULL AND next_attempt_at <= now()
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let outcomes: Vec<(i64, i32, anyhow::Result<()>)> = futures::stream::iter(rows)
        .map(|(id, event_type, subject, body, attempts)| async move {
            let event = OutgoingEvent {
                event_type,
                subject,
                body,
            };
            let outcome =
                match tokio::time::timeout(PUBLISH_TIMEOUT, publisher.publish(&event)).await {
                    Ok(r) => r,
                    Err(_) => Err(anyhow::anyhow!("publishing timed out")),
                };
            (id, attempts, outcome)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let published: Vec<i64> = outcomes
        .iter()
        .filter(|o| o.2.is_ok())
        .map(|o| o.0)
        .collect();
    sqlx::query("UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = ANY($1)")
        .bind(&published)
        .execute(&mut *tx)
        .await?;
    if let Some((id, attempts, Err(e))) = outcomes.iter().find(|o| o.2.is_err()) {
        let wait = backoff(*attempts, cap);
        let failed: Vec<i64> = outcomes
            .iter()
            .filter(|o| o.2.is_err())
            .map(|o| o.0)
            .collect();
        tracing::warn!(
            outbox_id = id,
            failed = failed.len(),
            attempts = attempts + 1,
            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            error = format!("{e:#}"),
            "publish failed"
        );
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + CASE WHEN id = ANY($1) THEN 1 ELSE 0 END,
                    last_error = CASE WHEN id = ANY($1) THEN $2 ELSE last_error END,
                    next_attempt_at = now() + make_interval(secs => $3)
             WHERE published_at IS NULL",
        )
        .bind(&failed)
        .bind(format!("{e:#}"))
        .bind(wait.as_secs_f64())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(published.len())
}

/// Runs until cancelled; woken at once when an order commits an event.
pub async fn relay(
    pool: PgPool,
    publisher: Arc<dyn Publisher>,
    wake: Arc<Notify>,
    cap: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        let notified = wake.notified();
        let published = match publish_batch(&pool, publisher.as_ref(), cap).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "outbox relay error");
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

/// Returns stock still held by cancelled orders and by checkouts that died
/// between reserving and confirming.
pub async fn repair(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let pending_age = i64::try_from(state.pending_timeout.as_secs()).unwrap_or(i64::MAX);
    loop {
        if let Err(e) = repair_once(&state, pending_age).await {
            tracing::warn!(error = ?e, "stock repair pass failed");
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(10)) => {},
        }
    }
}

async fn repair_once(state: &AppState, pending_age: i64) -> anyhow::Result<()> {
    let rid = RequestId::new_random();
    for id in repo::awaiting_release(&state.pool, 100).await? {
        state.products.release(id, &rid).await?;
        repo::mark_stock_released(&state.pool, id).await?;
        tracing::info!(order_id = id, "returned the stock of a cancelled order");
    }
    for id in repo::stale_pending(&state.pool, pending_age, 100).await? {
        state.products.release(id, &rid).await?;
        repo::delete_pending(&state.pool, id).await?;
        tracing::info!(order_id = id, "removed an abandoned checkout");
    }
    let pruned = crate::idempotency::prune(&state.pool).await?;
    if pruned > 0 {
        tracing::info!(keys = pruned, "pruned old idempotency keys");
    }
    Ok(())
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
