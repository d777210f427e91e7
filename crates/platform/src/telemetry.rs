//! Logging set-up and the HTTP layers every service wears, in one place:
//! request id (kept or created, returned), one span per request carrying it,
//! panic catching and a request timeout.

use crate::{
    config::{LogFormat, LogSettings},
    error::ApiError,
};
use axum::{
    Router,
    extract::{FromRequestParts, Request, State},
    http::{HeaderName, HeaderValue, request::Parts},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use std::{convert::Infallible, time::Duration};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::{DefaultOnResponse, OnResponse, TraceLayer},
};
use tracing::Level;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt, prelude::*};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Log lines go to stdout through one 64 KiB buffer, written out when it
/// fills and every [`FLUSH_EVERY`] (as nginx's `buffer=64k flush=1s`): a
/// request costs a copy into memory, not a system call, and no thread is
/// woken per line. A full buffer is written out by the thread that filled
/// it, so lines are never dropped. Dropping the guard (at the end of
/// `main`) writes out the rest.
#[must_use = "dropping the guard stops the log writer"]
#[derive(Debug)]
pub struct LogGuard {
    flusher: Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
    out: SharedStdout,
    /// This guard's subscriber exports spans: the last are sent at drop.
    traces: bool,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if self.traces {
            crate::traces::shutdown();
        }
        if let Some((stop, thread)) = self.flusher.take() {
            drop(stop);
            let _ = thread.join();
        }
        self.out.flush_now();
    }
}

/// How long a log line may wait in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// The process's buffered stdout, shared by every thread that logs.
#[derive(Debug, Clone)]
struct SharedStdout(std::sync::Arc<std::sync::Mutex<std::io::BufWriter<std::io::Stdout>>>);

impl SharedStdout {
    fn new() -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(
            std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
        )))
    }

    fn flush_now(&self) {
        if let Ok(mut out) = self.0.lock() {
            let _ = std::io::Write::flush(&mut *out);
        }
    }
}

impl std::io::Write for SharedStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut out) => out.write(buf),
            Err(_) => Err(std::io::Error::other("the log buffer is poisoned")),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut out) => out.write_all(buf),
            Err(_) => Err(std::io::Error::other("the log buffer is poisoned")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.flush_now();
        Ok(())
    }
}

/// Installs the global subscriber: log lines, and spans exported over OTLP
/// when `settings.traces` is set. `parts` are the parts this process runs
/// (each gets its own `service.name`). Safe to call more than once (tests
/// do): only the first call installs, and only its guard runs a flusher.
pub fn init(settings: &LogSettings, parts: &[&'static str]) -> LogGuard {
    let out = SharedStdout::new();
    let writer = {
        let out = out.clone();
        move || out.clone()
    };
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let traced =
        settings
            .traces
            .as_ref()
            .and_then(|t| match crate::traces::install::<Registry>(t, parts) {
                Ok(layers) => layers,
                Err(e) => {
                    eprintln!("traces are not exported: {e:#}");
                    None
                }
            });
    let exports = traced.is_some();
    let installed = match traced {
        // Without traces the filter stays global: nothing below it is
        // even called for a line it drops.
        None => tracing_subscriber::registry()
            .with(filter)
            .with(lines(settings.format, writer))
            .try_init(),
        Some(mut layers) => {
            layers.insert(
                0,
                lines(settings.format, writer).with_filter(filter).boxed(),
            );
            tracing_subscriber::registry().with(layers).try_init()
        }
    };
    let flusher = installed.is_ok().then(|| {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let buffered = out.clone();
        let thread = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || {
                // Ends when the guard drops its sender.
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(FLUSH_EVERY)
                {
                    buffered.flush_now();
                }
            })
            .ok()?;
        Some((stop, thread))
    });
    LogGuard {
        flusher: flusher.flatten(),
        out,
        traces: exports && installed.is_ok(),
    }
}

/// The log line layer, for either subscriber shape.
fn lines<S, W>(format: LogFormat, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(writer)
            .boxed(),
        LogFormat::Pretty => fmt::layer().compact().with_writer(writer).boxed(),
    }
}

/// The parts that face clients write one access line per request at
/// `info`; behind them, a service's line is `debug` (the request id ties
/// its other lines to the edge's).
fn access_level(service: &str) -> Level {
    if matches!(service, "gateway" | "web") {
        Level::INFO
    } else {
        Level::DEBUG
    }
}

/// Adds `/metrics` and wraps a router in the standard layers. Outermost
/// first: set the request id, return it, open the request span, count the
/// answer, catch panics, enforce the timeout.
pub fn http_layers(router: Router, service: &'static str, timeout: Duration) -> Router {
    // The recorder must exist before the first request is counted.
    crate::metrics::handle();
    router
        .merge(crate::metrics::router())
        .layer(middleware::from_fn(reject_large_bodies))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::map_response(errors_as_json))
        .layer(middleware::from_fn_with_state(timeout, enforce_timeout))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        // Counts every answer, whichever layer gave it.
        .layer(middleware::from_fn_with_state(
            service,
            crate::metrics::track,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |req: &Request| request_span(service, req))
                .on_response(
                    move |resp: &Response, latency: Duration, span: &tracing::Span| {
                        crate::traces::record_status(span, resp.status());
                        DefaultOnResponse::new()
                            .level(access_level(service))
                            .on_response(resp, latency, span);
                    },
                ),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeRequestUuid))
        // No answer is ever to be sniffed into another type.
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::X_CONTENT_TYPE_OPTIONS,
            axum::http::HeaderValue::from_static("nosniff"),
        ))
}

/// Paths that load balancers, probes and Prometheus call every few seconds:
/// logged like any request, never exported as traces.
fn is_probe(path: &str) -> bool {
    path == "/metrics" || path == "/health" || path.starts_with("/health/")
}

/// One span per request, carrying the request id. With traces on it is a
/// server span that continues the caller's `traceparent`, named after the
/// matched route.
fn request_span(service: &'static str, req: &Request) -> tracing::Span {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    if is_probe(req.uri().path()) {
        return tracing::info_span!(
            target: "shop::probe",
            "request",
            service,
            method = %req.method(),
            path = %req.uri().path(),
            request_id = %id,
        );
    }
    let span = tracing::info_span!(
        "request",
        service,
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %id,
        user_id = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
        otel.name = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
    );
    if crate::traces::enabled() {
        let route = req
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map_or("", |m| m.as_str());
        span.record("otel.name", format!("{} {route}", req.method()).trim_end());
        span.record("otel.kind", "server");
        crate::traces::continue_from_headers(&span, req.headers(), service);
        if !route.is_empty() {
            // Straight to the exported span, not a field: log lines need
            // not carry it.
            crate::traces::set_attribute(&span, "http.route", route.to_owned());
        }
    }
    span
}

/// The largest request body any part accepts (413 past it).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A declared body over [`MAX_BODY_BYTES`] is refused before it is read —
/// the gateway streams bodies on, so it cannot rely on extractors.
async fn reject_large_bodies(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return ApiError::PayloadTooLarge(format!(
            "Request body is larger than {MAX_BODY_BYTES} bytes"
        ))
        .into_response();
    }
    next.run(req).await
}

/// One error shape everywhere: a 4xx answer that is not JSON (the router's
/// own 404 and 405, an extractor's rejection of a path or a body size) gets
/// `{"detail": ...}` with what it said, keeping its status and headers
/// (`Allow` on a 405). A page meant for a browser (the web front's 404,
/// HTML) and an encoded body, which cannot be read as text, are left alone.
async fn errors_as_json(resp: Response) -> Response {
    use axum::http::header;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let keep = content_type.starts_with("application/json")
        || content_type.starts_with("text/html")
        || resp.headers().contains_key(header::CONTENT_ENCODING);
    if !status.is_client_error() || keep {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let detail = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("Request refused")
            .to_owned()
    } else {
        text
    };
    let body = serde_json::json!({ "detail": detail }).to_string();
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Whether `req` asks to become a WebSocket on a WebSocket route: only
/// those live past the request timeout, for as long as the socket is open.
/// Anything else claiming an `Upgrade` (a drip-fed login, say) is timed
/// like every request, its body read included.
fn is_websocket_upgrade(req: &Request) -> bool {
    use axum::http::header;
    let has = |name: header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    req.method() == axum::http::Method::GET
        && req.uri().path().starts_with("/ws/")
        && has(header::UPGRADE, "websocket")
        && has(header::CONNECTION, "upgrade")
        && req.headers().contains_key(header::SEC_WEBSOCKET_KEY)
}

async fn enforce_timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    if is_websocket_upgrade(&req) {
        return next.run(req).await;
    }
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::Unavailable("The request took too long and was abandoned".into())
            .into_response(),
    }
}

/// The id of the current request; pass it on to every call and event it causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.0).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .headers
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|s| Self(s.to_owned()))
            .unwrap_or_else(Self::new_random))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, http::StatusCode, routing::get};
    use tower::ServiceExt;

    fn app() -> Router {
        let router = Router::new()
            .route("/id", get(|id: RequestId| async move { id.0 }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route(
                "/ws/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/panic", get(|| async { explode() }));
        http_layers(router, "test", Duration::from_millis(100))
    }

    fn explode() -> &'static str {
        panic!("boom")
    }

    #[tokio::test]
    async fn a_page_for_a_browser_and_an_encoded_error_keep_their_body() {
        use axum::http::header;
        let router = Router::new()
            .route(
                "/page",
                get(|| async {
                    (
                        StatusCode::NOT_FOUND,
                        [(header::CONTENT_TYPE, "text/html")],
                        "<!doctype html><p>Not found</p>",
                    )
                }),
            )
            .route(
                "/gzip",
                get(|| async {
                    (
                        StatusCode::NOT_FOUND,
                        [(header::CONTENT_ENCODING, "gzip")],
                        vec![0x1f_u8, 0x8b, 0x08, 0x00],
                    )
                }),
            )
            .route(
                "/text",
                get(|| async { (StatusCode::NOT_FOUND, "nothing here") }),
            );
        let app = http_layers(router, "test", Duration::from_secs(1));
        let body = |resp: Response| async move {
            axum::body::to_bytes(resp.into_body(), 1024).await.unwrap()
        };

        let resp = app
            .clone()
            .oneshot(Request::get("/page").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(&body(resp).await[..], b"<!doctype html><p>Not found</p>");

        let resp = app
            .clone()
            .oneshot(Request::get("/gzip").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(&body(resp).await[..], &[0x1f, 0x8b, 0x08, 0x00]);

        // Plain text is still turned into the error shape.
        let resp = app
            .oneshot(Request::get("/text").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(&body(resp).await[..], br#"{"detail":"nothing here"}"#);
    }

    #[tokio::test]
    async fn incoming_request_id_is_kept_and_returned() {
        let req = Request::get("/id")
            .header("x-request-id", "abc-123")
            .body(Body::empty())
            .unwrap();
        let resp = app().oneshot(req).await.unwrap();
        assert_eq!(resp.headers()["x-request-id"], "abc-123");
        let body = axum::body::to_bytes(resp.into_body(), 64).await.unwrap();
        assert_eq!(body, "abc-123");
    }

    #[tokio::test]
    async fn missing_request_id_is_created() {
        let resp = app()
            .oneshot(Request::get("/id").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    }

    #[tokio::test]
    async fn only_a_websocket_upgrade_on_a_websocket_route_skips_the_timeout() {
        let slow_for = |req: Request| async move {
            let resp = app().oneshot(req).await.unwrap();
            resp.status()
        };
        let upgrade = |path: &str, upgrade: &str| {
            Request::get(path)
                .header("upgrade", upgrade)
                .header("connection", "Upgrade")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                .body(Body::empty())
                .unwrap()
        };
        // Claiming an upgrade elsewhere, or another protocol, is timed.
        assert_eq!(
            slow_for(upgrade("/slow", "websocket")).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            slow_for(upgrade("/ws/slow", "h2c")).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(is_websocket_upgrade(&upgrade(
            "/ws/notifications",
            "websocket"
        )));
        assert!(!is_websocket_upgrade(&upgrade("/users/login", "websocket")));
    }

    #[tokio::test]
    async fn slow_handler_times_out_with_error_body() {
        let resp = app()
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(resp.headers().contains_key("x-request-id"));
    }

    #[tokio::test]
    async fn panic_becomes_opaque_500() {
        let resp = app()
            .oneshot(Request::get("/panic").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        assert_eq!(body, r#"{"detail":"Internal server error"}"#);
    }
}
