//! Checkout, out of the HTTP handler: a persisted state machine whose every
//! step is one transaction (here or at the products service), safe to
//! abandon at any await point.
//!
//! ```text
//! pending ── reserve ── confirm hold ── confirm order ──▶ confirmed
//!    │          │ payment declined ──────────────────────▶ cancelled (stock released)
//!    └──────────┴── refused / failed / timed out / stale ─▶ abandoned → released → removed
//! ```
//!
//! The order is confirmed only after the products service made its hold
//! permanent, and the confirming transaction refuses an abandoned order, so
//! a confirmed order always has its stock. Whatever a request leaves behind
//! (a crash, a dropped connection, a lost acknowledgement) the repair loop
//! finishes on whichever replica gets to it first.

use crate::{
    AppState, domain,
    error::Error,
    idempotency,
    repo::{self, NewEvent, StoredOrder},
};
use chrono::Utc;
use shop_auth::Identity;
use shop_platform::RequestId;
use shop_types::{
    EventEnvelope, OrderStatus,
    event::{ORDER_CREATED, OrderCreated, OrderCreatedItem},
    internal::ReserveLine,
};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub fn envelope<T>(event_type: &str, request_id: &RequestId, data: T) -> EventEnvelope<T> {
    EventEnvelope {
        event_id: uuid::Uuid::new_v4(),
        event_type: event_type.to_owned(),
        timestamp: Utc::now(),
        correlation_id: request_id.0.clone(),
        data,
    }
}

/// A checkout's request: checked lines and the payment outcome.
#[derive(Debug, Clone, Copy)]
pub struct Checkout<'a> {
    pub user: &'a Identity,
    pub lines: &'a [ReserveLine],
    pub approved: bool,
    pub request_id: &'a RequestId,
    /// The `Idempotency-Key` this request holds, recorded with the order.
    pub key: Option<idempotency::Held<'a>>,
}

/// Places an order: confirmed with its stock, or an error and no stock held
/// (now, or once the repair loop has run).
pub async fn place(state: &AppState, c: Checkout<'_>) -> Result<StoredOrder, Error> {
    let order_id = repo::insert_pending(&state.pool, c.user.user_id, &c.user.email).await?;
    let reservation = match state
        .products
        .reserve(order_id, c.lines, c.request_id)
        .await
    {
        Ok(r) => r,
        Err(Error::Refused(refusal)) => {
            // Nothing was held: the products service refused in one transaction.
            if let Err(e) = repo::forget(&state.pool, order_id).await {
                tracing::warn!(order_id, error = ?e, "could not remove a refused checkout");
            }
            return Err(Error::Refused(refusal));
        }
        Err(e) => return Err(abandon(state, order_id, c.request_id, e).await),
    };
    let total = domain::total(&reservation.lines);
    if !c.approved {
        repo::finalize::<()>(
            &state.pool,
            order_id,
            &reservation.lines,
            total,
            OrderStatus::Cancelled,
            None,
            None,
        )
        .await?;
        release_now(state, order_id, c.request_id).await;
        tracing::info!(order_id, "payment declined");
        return Err(Error::PaymentDeclined);
    }
    // The hold becomes permanent before the order is confirmed: a hold that
    // expired or was released meanwhile stops the checkout here.
    if let Err(e) = state.products.confirm(order_id, c.request_id).await {
        let cause = match e {
            Error::Refused(_) => Error::CheckoutAbandoned,
            other => other,
        };
        return Err(abandon(state, order_id, c.request_id, cause).await);
    }
    let data = OrderCreated {
        order_id,
        user_id: c.user.user_id,
        user_email: c.user.email.clone(),
        total_amount: total,
        status: OrderStatus::Confirmed,
        items: reservation
            .lines
            .iter()
            .map(|l| OrderCreatedItem {
                product_id: l.product_id,
                product_name: l.product_name.clone(),
                quantity: l.quantity,
                price: l.product_price,
            })
            .collect(),
    };
    let event = NewEvent {
        subject: format!("Order #{order_id} confirmed"),
        envelope: envelope(ORDER_CREATED, c.request_id, data),
    };
    match repo::finalize(
        &state.pool,
        order_id,
        &reservation.lines,
        total,
        OrderStatus::Confirmed,
        Some(&event),
        c.key,
    )
    .await
    {
        Ok(stored) => {
            state.wake.notify_one();
            tracing::info!(order_id, total = %total, "order confirmed");
            Ok(stored)
        }
        // The commit may have happened with only its acknowledgement lost:
        // releasing now could take the stock of a confirmed order. A checkout
        // that really failed stays pending and the repair loop undoes it.
        Err(e) => {
            tracing::warn!(order_id, error = ?e, "confirming failed; the repair loop settles the checkout");
            Err(e)
        }
    }
}

/// Gives up on a checkout whose reservation may or may not exist: it can no
/// longer be confirmed, its stock is released (or the release leaves its
/// mark against a late reservation) and the row goes. If the release fails,
/// the repair loop retries it at once.
async fn abandon(state: &AppState, order_id: i64, request_id: &RequestId, cause: Error) -> Error {
    if let Err(e) = repo::abandon(&state.pool, order_id).await {
        tracing::warn!(order_id, error = ?e, "could not mark a failed checkout; the repair loop will");
        return cause;
    }
    match state.products.release(order_id, request_id).await {
        Ok(()) => {
            if let Err(e) = repo::remove_abandoned(&state.pool, order_id).await {
                tracing::warn!(order_id, error = ?e, "could not remove an abandoned checkout");
            }
        }
        Err(e) => tracing::warn!(
            order_id,
            error = format!("{e:#}"),
            "release deferred to the repair loop"
        ),
    }
    cause
}

/// Gives a cancelled order's stock back now; on failure the repair loop retries.
pub async fn release_now(state: &AppState, order_id: i64, request_id: &RequestId) {
    match state.products.release(order_id, request_id).await {
        Ok(()) => {
            if let Err(e) = repo::mark_stock_released(&state.pool, order_id).await {
                tracing::warn!(order_id, error = ?e, "could not record the released stock");
            }
        }
        Err(e) => tracing::warn!(order_id, error = format!("{e:#}"), "stock release deferred"),
    }
}

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
