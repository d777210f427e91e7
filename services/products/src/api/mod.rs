//! HTTP only: routes, extractors, parameters, and handlers that call `app`
//! or, for a single read or write, `store`. Refusals are `Error`s, made
//! answers in `error.rs`.

pub mod catalogue;
pub mod images;
pub mod internal;

/// Every handler's result: a refusal is a domain [`crate::error::Error`].
pub type Result<T, E = crate::error::Error> = std::result::Result<T, E>;
