//! The repair loop: settles whatever a checkout or a cancellation left
//! behind (a crash, a dropped connection, a lost acknowledgement) on
//! whichever replica gets to it first.

use crate::{
    error::Error,
    state::AppState,
    store::{idempotency, orders as repo},
};
use shop_platform::RequestId;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What one repair pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Repaired {
    /// Checkouts undone and removed.
    pub undone: usize,
    /// Cancelled orders whose stock came back.
    pub released: usize,
    /// Orders whose release failed; retried after their lease.
    pub failed: usize,
}

/// Orders claimed per pass: small enough that releasing them one by one
/// (each bounded by the products timeout) ends well within the lease.
const REPAIR_BATCH: i64 = 4;
/// Batches per pass at most, so a pass ends.
const MAX_BATCHES: usize = 50;

/// One pass: undo abandoned and stale checkouts, return the stock of
/// cancelled orders, prune old idempotency keys. Rows are claimed with a
/// lease, so replicas share the work; one failing order does not stop the
/// pass, it is retried on a later one.
pub async fn repair_once(state: &AppState) -> Result<Repaired, Error> {
    let rid = RequestId::new_random();
    let mut done = Repaired::default();
    for work in [Repair::Undo, Repair::GiveBack] {
        // Batch after batch while they come full (a backlog after a crash).
        for _ in 0..MAX_BATCHES {
            let claimed = work.claim(state).await?;
            let full = claimed.len() == REPAIR_BATCH as usize;
            for id in claimed {
                match work.settle(state, id, &rid).await {
                    Ok(()) => work.count(id, &mut done),
                    Err(e) => retry_later(state, id, &e, &mut done).await,
                }
            }
            if !full {
                break;
            }
        }
    }
    let pruned = idempotency::prune(&state.pool).await?;
    if pruned > 0 {
        tracing::info!(keys = pruned, "pruned old idempotency keys");
    }
    Ok(done)
}

/// The two kinds of order the repair loop settles.
#[derive(Debug, Clone, Copy)]
enum Repair {
    /// Abandoned or stale checkouts: release their stock, remove them.
    Undo,
    /// Cancelled orders whose stock is not yet back.
    GiveBack,
}

impl Repair {
    async fn claim(self, state: &AppState) -> Result<Vec<i64>, Error> {
        match self {
            Self::Undo => {
                let age = state.pending_timeout.as_secs_f64();
                repo::claim_for_repair(&state.pool, age, REPAIR_BATCH).await
            }
            Self::GiveBack => repo::claim_unreleased(&state.pool, REPAIR_BATCH).await,
        }
    }

    async fn settle(self, state: &AppState, id: i64, rid: &RequestId) -> anyhow::Result<()> {
        state.products.release(id, rid).await?;
        match self {
            Self::Undo => repo::remove_abandoned(&state.pool, id).await?,
            Self::GiveBack => repo::mark_stock_released(&state.pool, id).await?,
        }
        Ok(())
    }

    fn count(self, id: i64, done: &mut Repaired) {
        match self {
            Self::Undo => {
                tracing::info!(order_id = id, "undid an interrupted checkout");
                done.undone += 1;
            }
            Self::GiveBack => {
                tracing::info!(order_id = id, "returned the stock of a cancelled order");
                done.released += 1;
            }
        }
    }
}

/// Logs a failed repair and lets a pass on any replica retry it soon
/// instead of after the whole lease.
async fn retry_later(state: &AppState, id: i64, e: &anyhow::Error, done: &mut Repaired) {
    tracing::warn!(
        order_id = id,
        error = format!("{e:#}"),
        "repair failed; will retry"
    );
    done.failed += 1;
    let soon = repair_interval(state.pending_timeout);
    if let Err(e) = repo::repair_again_after(&state.pool, id, soon).await {
        tracing::warn!(order_id = id, error = ?e, "could not schedule the retry; the lease runs out instead");
    }
}

/// How often the repair loop looks: a fraction of the pending timeout.
pub fn repair_interval(pending_timeout: Duration) -> Duration {
    (pending_timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(10))
}

/// Runs repair passes until cancelled.
pub async fn repair(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let every = repair_interval(state.pending_timeout);
    loop {
        if let Err(e) = repair_once(&state).await {
            tracing::warn!(error = ?e, "repair pass failed");
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(every) => {},
        }
    }
}
