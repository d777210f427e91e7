//! Use cases: each one what a request or a background task does, in terms
//! of the domain's rules, the store and the clients.
//!
//! - [`checkout`]: claim the key → place (the saga) → keep the answer;
//! - [`status`]: cancellations and an admin's moves;
//! - [`repair`]: settling what an interrupted checkout or a cancellation
//!   left behind;
//! - [`relay`]: publishing the outbox.

pub mod checkout;
pub mod relay;
pub mod repair;
pub mod status;
