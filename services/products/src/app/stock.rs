//! The reservation use cases the orders service calls: each is one ledger
//! transaction, after which this replica's catalogue copy forgets the
//! products whose stock moved and queues them for the batched announcement
//! to the other replicas (the transaction kept the trigger quiet).

use crate::{
    error::Error,
    state::AppState,
    store::reservations::{self, Confirmed, Released, Reservation, ReserveRequest},
};

/// Holds every line or none.
pub async fn reserve(state: &AppState, req: &ReserveRequest) -> Result<Reservation, Error> {
    let reserved = reservations::reserve(&state.pool, req, state.reservation_hold).await;
    // Whatever the outcome: an unknown one (a lost commit acknowledgement)
    // may have moved stock too.
    let products: Vec<i64> = req.items.iter().map(|line| line.product_id).collect();
    state.catalogue.changed_here(&products);
    reserved
}

/// Makes an order's hold permanent (no stock moves).
pub async fn confirm(state: &AppState, order_id: i64) -> Result<Confirmed, Error> {
    reservations::confirm(&state.pool, order_id).await
}

/// Gives an order's stock back (or marks the order so a late hold is refused).
pub async fn release(state: &AppState, order_id: i64) -> Result<Released, Error> {
    let release = reservations::release(&state.pool, order_id).await?;
    state.catalogue.changed_here(&release.products);
    Ok(release.answer())
}
