//! The mail inbox of the one-command run (`cargo xtask up`): the
//! notifications service sends to its SMTP listener over real SMTP, as it
//! would to a mail relay in production, and people read what arrived on
//! its page (`:8025`). Scripts written for MailHog keep working: the inbox
//! answers the part of MailHog's HTTP API they use.
//!
//! Messages live in memory (the newest [`CAPACITY`], at most
//! [`CAPACITY_BYTES`] in all). The inbox is a development tool: the
//! one-process platform starts it only when no `SMTP_URL` is set, which
//! production refuses, and it listens on loopback unless `INBOX_HOST` says
//! otherwise.

mod http;
mod smtp;
mod store;

pub use http::router;
pub use smtp::serve as serve_smtp;
pub use store::{CAPACITY, CAPACITY_BYTES, Inbox, Received};
