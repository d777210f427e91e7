//! The cost of tracing: the product read and checkout again, on a platform
//! that samples and exports every request's spans to an OTLP sink here.

use axum::{Router, body::Bytes, extract::State, routing::post};
use serde::Serialize;
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

/// The scenarios measured twice, untraced and traced.
pub const SCENARIOS: [&str; 2] = ["product_by_id", "checkout_spread"];

/// What the sink took in: proof that the traced run exported.
#[derive(Debug, Default, Serialize)]
pub struct Exports {
    pub requests: u64,
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct Counts {
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// An OTLP/HTTP endpoint that accepts every export and counts it, as a
/// collector would take it in.
#[derive(Debug, Clone)]
pub struct Sink {
    pub url: String,
    counts: Arc<Counts>,
}

impl Sink {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let counts = Arc::new(Counts::default());
        let app = Router::new()
            .route("/v1/traces", post(take))
            .with_state(counts.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url, counts })
    }

    pub fn exports(&self) -> Exports {
        Exports {
            requests: self.counts.requests.load(Ordering::Relaxed),
            bytes: self.counts.bytes.load(Ordering::Relaxed),
        }
    }
}

async fn take(State(counts): State<Arc<Counts>>, body: Bytes) -> &'static [u8] {
    counts.requests.fetch_add(1, Ordering::Relaxed);
    counts.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    // An empty ExportTraceServiceResponse.
    b""
}
