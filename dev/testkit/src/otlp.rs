//! A test OTLP/HTTP receiver: takes `POST /v1/traces` as the collector and
//! Jaeger do (protobuf, the types of `opentelemetry-proto`) and keeps every
//! span for the test to read.

use axum::{Router, body::Bytes, extract::State, http::StatusCode, response::IntoResponse};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::{AnyValue, any_value::Value},
};
use prost::Message;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

/// One received span, with its resource's `service.name`; ids in hex.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// OTLP's `SpanKind`: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i32,
    pub attributes: HashMap<String, String>,
    pub links: Vec<(String, String)>,
}

/// The receiver and what it has received so far.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub url: String,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    /// Export requests that were not OTLP protobuf.
    rejected: Arc<Mutex<usize>>,
}

impl Receiver {
    /// Starts on a thread and runtime of its own, so it outlives any one
    /// test's runtime.
    pub fn start() -> Self {
        Self::start_at("127.0.0.1:0")
    }

    /// As [`Receiver::start`], on `address` (`host:port`).
    pub fn start_at(address: &str) -> Self {
        let listener = std::net::TcpListener::bind(address)
            .unwrap_or_else(|e| panic!("the OTLP receiver cannot listen on {address}: {e}"));
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let receiver = Self {
            url,
            spans: Arc::default(),
            rejected: Arc::default(),
        };
        let state = receiver.clone();
        std::thread::Builder::new()
            .name("otlp-receiver".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                    let app = Router::new()
                        .route("/v1/traces", axum::routing::post(export))
                        .with_state(state);
                    axum::serve(listener, app).await.expect("the receiver runs");
                });
            })
            .expect("the receiver thread starts");
        receiver
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The spans of one trace.
    pub fn trace(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        self.spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect()
    }

    pub fn rejected(&self) -> usize {
        self.rejected.lock().map(|r| *r).unwrap_or_default()
    }
}

async fn export(State(receiver): State<Receiver>, body: Bytes) -> impl IntoResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        if let Ok(mut r) = receiver.rejected.lock() {
            *r += 1;
        }
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .map(|kv| text(kv.value.as_ref()))
            .unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            received.push(ReceivedSpan {
                service: service.clone(),
                name: span.name,
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                kind: span.kind,
                attributes: span
                    .attributes
                    .iter()
                    .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
                    .collect(),
                links: span
                    .links
                    .iter()
                    .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                    .collect(),
            });
        }
    }
    if let Ok(mut spans) = receiver.spans.lock() {
        spans.extend(received);
    }
    (
        StatusCode::OK,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// The receiver of this test process, with this process's spans exported
/// to it: started and installed by the first call. Spans of every test in
/// the process arrive here; each test reads its own trace.
pub fn exporting() -> &'static Receiver {
    static RECEIVER: std::sync::OnceLock<Receiver> = std::sync::OnceLock::new();
    RECEIVER.get_or_init(|| {
        let receiver = Receiver::start();
        let env = shop_platform::config::Env::from_pairs([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url.as_str()),
            // Spans are sent a tenth of a second after they end.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("RUST_LOG", "warn"),
        ])
        .expect("valid settings");
        let settings = shop_platform::config::LogSettings::from_env(&env).expect("valid settings");
        // The subscriber lives as long as the process.
        std::mem::forget(shop_platform::telemetry::init(
            &settings,
            &shop_stack::PARTS,
        ));
        assert!(
            shop_platform::traces::enabled(),
            "another subscriber was installed first"
        );
        receiver
    })
}
