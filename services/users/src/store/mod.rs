//! SQL, one module per table group. Nothing above this folder writes SQL.

pub mod keys;
pub mod sessions;
pub mod throttle;
pub mod users;
