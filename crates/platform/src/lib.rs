//! What every Shop binary shares: typed configuration, telemetry and the
//! request-id layer, the API error body, database start-up, `/health`,
//! `/openapi.json`, `/metrics`, graceful shutdown and serving, and answers
//! served from memory that the database invalidates (`cache`).

#[cfg(feature = "database")]
pub mod cache;
pub mod client;
pub mod config;
pub mod conn;
#[cfg(feature = "database")]
pub mod db;
pub mod error;
#[cfg(feature = "database")]
pub mod health;
pub mod metrics;
pub mod openapi;
#[cfg(feature = "database")]
pub mod retention;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod traces;

pub use error::{ApiError, AppJson, Path, Query, Result, int_param};
pub use server::Service;
pub use telemetry::RequestId;

/// Several TLS stacks meet in one process (the AWS SDK brings aws-lc-rs,
/// the HTTP clients ring); rustls then needs a process default. Call first
/// thing in every binary and test harness; later calls are no-ops.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
