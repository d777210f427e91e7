//! Checkout, out of the HTTP handler: a persisted state machine whose every
//! step is one transaction (here or at the products service), safe to
//! abandon at any await point.
//!
//! ```text
//! pending ── reserve for good ──────────── confirm order ──▶ confirmed
//!    │          │ (payment declined: a plain hold) ─────────▶ cancelled (stock released)
//!    └──────────┴── refused / failed / timed out / stale ───▶ abandoned → released → removed
//! ```
//!
//! The payment is decided before the stock is asked for, so an approved
//! checkout asks the products service to hold its stock for good in the
//! same call that reserves it (one call, one commit there). The order is
//! confirmed only after that, and the confirming transaction refuses an
//! abandoned order, so a confirmed order always has its stock. Stock held
//! for good by a checkout that then dies is not left to expire: the pending
//! row stays, and the repair loop (on whichever replica gets to it first)
//! abandons the checkout and releases the stock, as for any other failure.
//! A products service from before this call could confirm refuses the field;
//! the checkout then asks for a plain hold and confirms it in a second call,
//! as before.

use crate::{
    domain::{
        events::{self, Buyer},
        lines,
    },
    error::{Answer, Error, Refusal},
    state::AppState,
    store::{
        idempotency::{self, Claim},
        orders::{self as repo, StoredOrder},
    },
};
use shop_auth::Identity;
use shop_platform::RequestId;
use shop_types::{OrderStatus, internal::ReserveLine};

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

/// `POST /orders` as a use case, on lines checked at the edge
/// ([`lines::lines`]): the `Idempotency-Key` claimed (or its earlier answer
/// replayed), the order placed, and the answer kept under the key so that a
/// retry gets the same bytes.
pub async fn checkout(
    state: &AppState,
    user: &Identity,
    lines: &[ReserveLine],
    approved: bool,
    key: Option<&str>,
    request_id: &RequestId,
) -> Result<Answer, Error> {
    if let Some(key) = key {
        let fingerprint = lines::fingerprint(lines, approved);
        let lease = state.idempotency_lease;
        match idempotency::claim(&state.pool, user.user_id, key, &fingerprint, lease).await? {
            Claim::Fresh => {}
            Claim::Replay { status, body } => return Ok(Answer::replay(status, body)),
            Claim::Placed { order_id } => {
                let stored = repo::get(&state.pool, order_id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("order {order_id} of a used key is gone"))?;
                let answer = Answer::of(Ok(stored.order));
                idempotency::finish(&state.pool, user.user_id, key, answer.status, &answer.body)
                    .await?;
                return Ok(answer);
            }
        }
    }
    let c = Checkout {
        user,
        lines,
        approved,
        request_id,
        key: key.map(|key| idempotency::Held {
            user_id: user.user_id,
            key,
        }),
    };
    let placed = place(state, c).await;
    let outcome = match &placed {
        Ok(_) => "confirmed",
        Err(Error::PaymentDeclined) => "declined",
        Err(Error::Refused(_)) => "refused",
        Err(_) => "failed",
    };
    metrics::counter!("orders_checkouts_total", "outcome" => outcome).increment(1);
    let answer = Answer::of(placed.map(|stored| stored.order));
    if let Some(key) = key {
        if answer.is_server_error() {
            idempotency::abandon(&state.pool, user.user_id, key).await?;
        } else {
            idempotency::finish(&state.pool, user.user_id, key, answer.status, &answer.body)
                .await?;
        }
    }
    Ok(answer)
}

/// Places an order: confirmed with its stock, or an error and no stock held
/// (now, or once the repair loop has run).
pub async fn place(state: &AppState, c: Checkout<'_>) -> Result<StoredOrder, Error> {
    let order_id = repo::insert_pending(&state.pool, c.user.user_id, &c.user.email).await?;
    let reservation = match reserve(state, order_id, c).await {
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
    let total = lines::total(&reservation.lines);
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
        stock_back(state, order_id, c.request_id).await;
        tracing::info!(order_id, "payment declined");
        return Err(Error::PaymentDeclined);
    }
    // A plain hold becomes permanent before the order is confirmed: one
    // that expired or was released meanwhile stops the checkout here.
    if !reservation.confirmed
        && let Err(e) = state.products.confirm(order_id, c.request_id).await
    {
        let cause = match e {
            Error::Refused(_) => Error::CheckoutAbandoned,
            other => other,
        };
        return Err(abandon(state, order_id, c.request_id, cause).await);
    }
    let buyer = Buyer {
        user_id: c.user.user_id,
        email: &c.user.email,
    };
    let event = events::order_created(order_id, buyer, &reservation.lines, total, c.request_id);
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

/// Reserves the checkout's lines, for good when the payment is approved.
/// A products service from before it could hold for good in this call
/// refuses the unknown `confirm` field (422, nothing held): asked again
/// without it, it answers with a plain hold, which the caller confirms.
async fn reserve(
    state: &AppState,
    order_id: i64,
    c: Checkout<'_>,
) -> Result<shop_types::internal::Reservation, Error> {
    let products = &state.products;
    match products
        .reserve(order_id, c.lines, c.approved, c.request_id)
        .await
    {
        Err(Error::Refused(Refusal::Invalid(detail))) if c.approved => {
            tracing::info!(
                order_id,
                detail,
                "reserving for good refused; asking for a plain hold"
            );
            products
                .reserve(order_id, c.lines, false, c.request_id)
                .await
        }
        other => other,
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
pub async fn stock_back(state: &AppState, order_id: i64, request_id: &RequestId) {
    match state.products.release(order_id, request_id).await {
        Ok(()) => {
            if let Err(e) = repo::mark_stock_released(&state.pool, order_id).await {
                tracing::warn!(order_id, error = ?e, "could not record the released stock");
            }
        }
        Err(e) => tracing::warn!(order_id, error = format!("{e:#}"), "stock release deferred"),
    }
}
