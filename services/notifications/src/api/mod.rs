//! HTTP only: the inbox's routes and the live socket. Refusals are
//! `Error`s, made answers in `error.rs`.

pub mod notifications;
pub mod ws;
