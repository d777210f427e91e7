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
    let change = state.catalogue.change();
    let reserved = reservations::reserve(&state.pool, req, state.reservation_hold).await;
    // Whatever the outcome: an unknown one (a lost commit acknowledgement)
    // may have moved stock too.
    let products: Vec<i64> = req.items.iter().map(|line| line.product_id).collect();
    change.moved(&products);
    reserved
}

/// Makes an order's hold permanent (no stock moves).
pub async fn confirm(state: &AppState, order_id: i64) -> Result<Confirmed, Error> {
    reservations::confirm(&state.pool, order_id).await
}

/// Gives an order's stock back (or marks the order so a late hold is refused).
/// A failure may have moved any product's stock (the change says so when
/// dropped unfinished).
pub async fn release(state: &AppState, order_id: i64) -> Result<Released, Error> {
    let change = state.catalogue.change();
    let release = reservations::release(&state.pool, order_id).await?;
    change.moved(&release.products);
    Ok(release.answer())
}
