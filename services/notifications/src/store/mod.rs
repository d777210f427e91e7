//! SQL, one module per table group. Nothing above this folder writes SQL.

pub mod notifications;
pub mod push;
