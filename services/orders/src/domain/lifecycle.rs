//! The order lifecycle: the one table of every move an order can make and
//! who may make it. The status change, the cancel endpoint, the checkout and
//! the admin console (through `GET /orders/lifecycle`) all read it.
//!
//! ```text
//! pending ──checkout──▶ confirmed ──admin──▶ shipped ──admin──▶ delivered
//!    │                      │
//!    └──checkout──▶ cancelled ◀──owner or admin──┘
//! ```

use serde::Serialize;
use shop_types::OrderStatus::{self, Cancelled, Confirmed, Delivered, Pending, Shipped};

/// Who makes a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// Only the checkout, as it settles the order it placed (a pending order
    /// is a checkout in flight).
    Checkout,
    /// The order's owner or an admin (`POST /orders/{id}/cancel`).
    Owner,
    /// An admin (`PATCH /orders/{id}/status`).
    Admin,
}

/// One allowed move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Move {
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub by: By,
}

const fn step(from: OrderStatus, to: OrderStatus, by: By) -> Move {
    Move { from, to, by }
}

/// Every move an order can make; anything not here is refused.
pub const MOVES: &[Move] = &[
    step(Pending, Confirmed, By::Checkout),
    // Payment declined: the order ends cancelled and its stock goes back.
    step(Pending, Cancelled, By::Checkout),
    step(Confirmed, Shipped, By::Admin),
    step(Shipped, Delivered, By::Admin),
    step(Confirmed, Cancelled, By::Owner),
];

/// Whether `by` may move an order from `from` to `to`. An admin may make
/// every move an owner may.
pub fn allows(from: OrderStatus, to: OrderStatus, by: By) -> bool {
    MOVES.iter().any(|m| {
        m.from == from && m.to == to && (m.by == by || (by == By::Admin && m.by == By::Owner))
    })
}

/// Where `by` may move an order that is `from`, in the table's order.
pub fn next(from: OrderStatus, by: By) -> impl Iterator<Item = OrderStatus> {
    MOVES
        .iter()
        .filter(move |m| allows(from, m.to, by) && m.from == from)
        .map(|m| m.to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_contract() {
        assert!(allows(Pending, Confirmed, By::Checkout));
        assert!(allows(Pending, Cancelled, By::Checkout));
        assert!(allows(Confirmed, Shipped, By::Admin));
        assert!(allows(Shipped, Delivered, By::Admin));
        assert!(allows(Confirmed, Cancelled, By::Owner));
        assert!(allows(Confirmed, Cancelled, By::Admin));
        // A pending order is a checkout in flight: nobody else moves it.
        assert!(!allows(Pending, Confirmed, By::Admin));
        assert!(!allows(Pending, Cancelled, By::Owner));
        assert!(!allows(Pending, Cancelled, By::Admin));
        assert!(!allows(Shipped, Cancelled, By::Admin));
        assert!(!allows(Delivered, Shipped, By::Admin));
        assert!(!allows(Cancelled, Confirmed, By::Admin));
        assert!(!allows(Pending, Shipped, By::Checkout));
        assert!(!allows(Confirmed, Shipped, By::Owner));
    }

    #[test]
    fn next_lists_an_admins_moves() {
        assert_eq!(
            next(Confirmed, By::Admin).collect::<Vec<_>>(),
            [Shipped, Cancelled]
        );
        assert_eq!(next(Pending, By::Admin).count(), 0);
        assert_eq!(next(Delivered, By::Admin).count(), 0);
    }
}
