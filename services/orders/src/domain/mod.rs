//! Pure order rules, no I/O: what a valid order request is ([`lines`]), the
//! moves an order may make and who makes them ([`lifecycle`]), and the
//! events an order produces with their subjects ([`events`]).

pub mod events;
pub mod lifecycle;
pub mod lines;
