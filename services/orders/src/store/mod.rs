//! SQL, one module per table group. Nothing above this folder writes SQL.

pub mod idempotency;
pub mod orders;
pub mod outbox;
