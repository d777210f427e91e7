//! What the service does: consume order events once each, email the owner
//! and record the toast ([`consumer`]), and carry toasts to every replica's
//! sockets ([`push`], [`hub`]).

pub mod consumer;
pub mod hub;
pub mod push;
