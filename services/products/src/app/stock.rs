//! The reservation use cases the orders service calls: each is one ledger
//! transaction, after which this replica's catalogue copy forgets what the
//! change touched (the other replicas learn it from the announcement).

use crate::{
    error::Error,
    state::AppState,
    store::reservations::{self, Confirmed, Released, Reservation, ReserveRequest},
};

/// Holds every line or none.
pub async fn reserve(state: &AppState, req: &ReserveRequest) -> Result<Reservation, Error> {
    let reserved = reservations::reserve(&state.pool, req, state.reservation_hold).await;
    // Whatever the outcome: a refusal may have followed a change.
    for line in &req.items {
        state.catalogue.changed(Some(line.product_id));
    }
    reserved
}

/// Makes an order's hold permanent.
pub async fn confirm(state: &AppState, order_id: i64) -> Result<Confirmed, Error> {
    reservations::confirm(&state.pool, order_id).await
}

/// Gives an order's stock back (or marks the order so a late hold is refused).
pub async fn release(state: &AppState, order_id: i64) -> Result<Released, Error> {
    let released = reservations::release(&state.pool, order_id).await?;
    if released.units_returned > 0 {
        state.catalogue.changed(None);
    }
    Ok(released)
}
