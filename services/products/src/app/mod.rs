//! Use cases: the reservation calls the orders service makes ([`stock`]) and
//! the ledger's background work ([`ledger`]). The catalogue's reads and
//! writes are single store calls, made by the handlers in `api`.

pub mod ledger;
pub mod stock;
