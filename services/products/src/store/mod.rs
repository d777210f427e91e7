//! SQL, one module per table group. Nothing above this folder writes SQL.

pub mod images;
pub mod products;
pub mod reservations;
pub mod seed;
