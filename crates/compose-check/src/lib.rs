//! `docker compose up` without Docker: reads `docker-compose.yml` as
//! `docker-compose config` resolves it, and starts what each container would
//! run as a native process — the release binaries with the environment
//! compose gives them, the stand-ins for the third-party images, and nginx
//! with the web image's configuration — in the order compose starts them.
//!
//! Container host names become `127.0.0.1` and every port a free one; see
//! [`replay`] for the whole mapping.

pub mod file;
pub mod nginx;
pub mod replay;

pub use file::ComposeFile;
pub use replay::Replay;
