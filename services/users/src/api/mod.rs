//! HTTP only: routes, extractors, cookies and redirects, and handlers that
//! call `app` or, for a single read or write, `store`. Refusals are
//! `Error`s, made answers in `error.rs`.

pub mod account;
pub mod admin;
pub mod google;
pub mod internal;
pub mod jwks;

/// Every handler's result: a refusal is a domain [`crate::error::Error`].
pub type Result<T, E = crate::error::Error> = std::result::Result<T, E>;
