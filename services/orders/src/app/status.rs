//! Status moves after checkout: an owner's cancellation and an admin's
//! shipping, delivery or cancellation, each allowed by the lifecycle table
//! and written with its event; a cancelled order's stock goes back.

use crate::{
    app::checkout::stock_back,
    domain::{
        events::{self, Buyer, StatusChange},
        lifecycle::By,
    },
    error::Error,
    state::AppState,
    store::orders::{self as repo, StoredOrder},
};
use shop_auth::Identity;
use shop_platform::RequestId;
use shop_types::{Order, OrderStatus};

/// The order `id` as `user` may see it: their own, or any for an admin.
pub async fn visible(state: &AppState, user: &Identity, id: i64) -> Result<StoredOrder, Error> {
    repo::get(&state.pool, id)
        .await?
        .filter(|o| o.order.user_id == user.user_id || user.is_admin())
        .ok_or(Error::OrderNotFound(id))
}

/// Moves order `id` to `next` if the lifecycle lets `by` do it.
pub async fn move_to(
    state: &AppState,
    id: i64,
    next: OrderStatus,
    (who, by): (&Identity, By),
    request_id: &RequestId,
) -> Result<Order, Error> {
    let (before, stored) = repo::change_status(&state.pool, id, next, by, |old, stored| {
        events::status_updated(
            StatusChange {
                order_id: stored.order.id,
                owner: Buyer {
                    user_id: stored.order.user_id,
                    email: &stored.user_email,
                },
                old,
                new: stored.order.status,
                updated_by: &who.email,
            },
            request_id,
        )
    })
    .await?;
    tracing::info!(order_id = id, from = %before, to = %next, by = who.user_id, "order status changed");
    state.wake.notify_one();
    if next == OrderStatus::Cancelled {
        stock_back(state, id, request_id).await;
    }
    Ok(stored.order)
}

/// `POST /orders/{id}/cancel`: the owner (or an admin) cancels.
pub async fn cancel(
    state: &AppState,
    user: &Identity,
    id: i64,
    request_id: &RequestId,
) -> Result<Order, Error> {
    visible(state, user, id).await?;
    move_to(
        state,
        id,
        OrderStatus::Cancelled,
        (user, By::Owner),
        request_id,
    )
    .await
}
