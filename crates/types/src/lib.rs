//! The wire contract of API.md as Rust types, shared by every service and the
//! web app. This crate compiles for `wasm32-unknown-unknown`; anything that
//! only a server needs sits behind the `server` feature.

pub mod error;
pub mod event;
pub mod health;

pub use error::{ErrorBody, ErrorDetail, FieldError};
pub use event::EventEnvelope;
pub use health::{GatewayHealth, HealthReport, OverallStatus, ServiceHealth, ServiceStatus};
