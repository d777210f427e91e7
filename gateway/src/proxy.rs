//! Forwarding HTTP requests to an upstream over pooled keep-alive connections,
//! streaming both bodies. An unreachable upstream answers 503, a slow one 504,
//! both with the API error body.

use crate::error::Refusal;
use anyhow::{Context, Result};
use axum::{
    body::Body,
    extract::Request,
    http::{HeaderMap, Uri, Version, header},
    response::{IntoResponse, Response},
};
use hyper_util::{
    client::legacy::{Client as HyperClient, connect::HttpConnector},
    rt::TokioExecutor,
};
use shop_platform::telemetry::MAX_BODY_BYTES;
use shop_types::{MAX_CLIENT_MESSAGE_BYTES, MAX_WS_FRAME_BYTES};
use std::time::Duration;
use tracing::Instrument;

pub type Client = HyperClient<HttpConnector, Body>;

pub const FORWARDED_HOST: header::HeaderName = header::HeaderName::from_static("x-forwarded-host");

/// One pooled client per process, built at start-up.
pub fn client() -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    HyperClient::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build(connector)
}

/// A named upstream base URL such as `http://127.0.0.1:8001`. Cloned with
/// the handler state on every request: two reference counts, no copies.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: std::sync::Arc<str>,
    base: std::sync::Arc<str>,
}

impl Upstream {
    pub fn new(name: &str, base_url: &str) -> Result<Self> {
        let base = base_url.trim_end_matches('/').to_owned();
        let uri: Uri = base
            .parse()
            .with_context(|| format!("`{base_url}` is not a valid URL"))?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http") && uri.authority().is_some(),
            "`{base_url}` must be an http:// URL with a host"
        );
        Ok(Self {
            name: name.into(),
            base: base.into(),
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }
}

// RFC 9110 §7.6.1: connection-specific headers must not be forwarded.
const HOP_BY_HOP: [header::HeaderName; 7] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

/// Sends `req` to `upstream` at `path_and_query` and streams the answer back.
pub async fn forward(
    client: &Client,
    upstream: &Upstream,
    mut req: Request,
    path_and_query: &str,
    timeout: Duration,
) -> Response {
    req = match within_limit(req).await {
        Ok(req) => req,
        Err(refusal) => return refusal,
    };
    let uri: Uri = match format!("{}{}", upstream.base, path_and_query).parse() {
        Ok(uri) => uri,
        Err(_) => return Refusal::BadPath.into_response(),
    };
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    strip_hop_by_hop(req.headers_mut());
    if let Some(peer) = shop_platform::client::peer(req.extensions()) {
        shop_platform::client::append_forwarded_for(req.headers_mut(), peer);
    }
    // The upstream must still know which host the browser talked to (the
    // same-origin check for cookie sessions compares against it).
    if let Some(host) = req.headers_mut().remove(header::HOST)
        && !req.headers().contains_key(FORWARDED_HOST)
    {
        req.headers_mut().insert(FORWARDED_HOST, host);
    }

    // With traces on, the hop is a client span whose context the upstream
    // continues; a client's own trace headers were already continued by
    // this part's request span and are replaced.
    let span = shop_platform::traces::enabled().then(|| {
        let span = tracing::info_span!(
            "forward",
            otel.name = format!("{} {}", req.method(), upstream.name),
            otel.kind = "client",
            upstream = %upstream.name,
        );
        shop_platform::traces::inject_headers(&span, req.headers_mut());
        span
    });
    let call = tokio::time::timeout(timeout, client.request(req));
    let answer = match &span {
        Some(span) => call.instrument(span.clone()).await,
        None => call.await,
    };
    if let Some(span) = &span {
        match &answer {
            Ok(Ok(resp)) => shop_platform::traces::record_status(span, resp.status()),
            _ => shop_platform::traces::record_error(span, "the upstream did not answer"),
        }
    }
    match answer {
        Ok(Ok(resp)) => {
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(e)) if e.is_connect() => {
            tracing::warn!(upstream = %upstream.name, error = %e, "upstream unreachable");
            Refusal::Unavailable(upstream.name.to_string()).into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(upstream = %upstream.name, error = %e, "upstream failed");
            Refusal::Failed(upstream.name.to_string()).into_response()
        }
        Err(_) => {
            tracing::warn!(upstream = %upstream.name, "upstream timed out");
            Refusal::TimedOut(upstream.name.to_string()).into_response()
        }
    }
}

/// A body that says how long it is was checked against the limit before it
/// was read; one that does not (chunked) is read here up to the limit, so an
/// oversized one is answered 413 instead of being cut off mid-stream.
async fn within_limit(req: Request) -> Result<Request, Response> {
    let declared = req.headers().contains_key(header::CONTENT_LENGTH);
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    if declared || !chunked {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    match http_body_util::BodyExt::collect(http_body_util::Limited::new(body, MAX_BODY_BYTES)).await
    {
        Ok(collected) => Ok(Request::from_parts(parts, Body::from(collected.to_bytes()))),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(Refusal::BodyTooLarge(MAX_BODY_BYTES).into_response())
        }
        Err(e) => {
            tracing::info!(error = %e, "request body could not be read");
            Err(Refusal::UnreadableBody.into_response())
        }
    }
}

/// Headers passed to the upstream of a WebSocket: credentials, the request
/// id, and where the browser came from.
const WS_PASSED: [&str; 6] = [
    "authorization",
    "cookie",
    "origin",
    "x-request-id",
    "x-forwarded-host",
    "user-agent",
];

/// Connects to `upstream_url` (`ws://...`) first — an unreachable upstream is
/// a 503 before the client is upgraded — then relays messages both ways and
/// closes each side when the other closes.
pub async fn websocket(
    ws: axum::extract::WebSocketUpgrade,
    upstream_name: &str,
    upstream_url: &str,
    headers: &HeaderMap,
    extra: &[(header::HeaderName, header::HeaderValue)],
    ended: futures::future::BoxFuture<'static, (u16, &'static str)>,
) -> Response {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = match upstream_url.into_client_request() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, upstream_url, "bad upstream WebSocket URL");
            return Refusal::Failed(upstream_name.to_owned()).into_response();
        }
    };
    for name in WS_PASSED {
        if let Some(v) = headers.get(name) {
            request.headers_mut().insert(name, v.clone());
        }
    }
    if !request.headers().contains_key(FORWARDED_HOST)
        && let Some(host) = headers.get(header::HOST)
    {
        request.headers_mut().insert(FORWARDED_HOST, host.clone());
    }
    for (k, v) in extra {
        request.headers_mut().insert(k.clone(), v.clone());
    }
    shop_platform::traces::inject_headers(&tracing::Span::current(), request.headers_mut());
    let upstream = match tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(request),
    )
    .await
    {
        Ok(Ok((stream, _))) => stream,
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
            // The upstream refused the upgrade (e.g. 401): pass its verdict on.
            let status = resp.status();
            let body = resp.body().clone().unwrap_or_default();
            let mut refusal = Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "application/json");
            for name in [header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
                if let Some(v) = resp.headers().get(&name) {
                    refusal = refusal.header(name, v.clone());
                }
            }
            return refusal
                .body(Body::from(body))
                .unwrap_or_else(|_| Refusal::Failed(upstream_name.to_owned()).into_response());
        }
        Ok(Err(e)) => {
            tracing::warn!(upstream = upstream_name, error = %e, "WebSocket upstream unreachable");
            return Refusal::Unavailable(upstream_name.to_owned()).into_response();
        }
        Err(_) => {
            return Refusal::TimedOut(upstream_name.to_owned()).into_response();
        }
    };
    ws.max_message_size(MAX_WS_FRAME_BYTES)
        .max_frame_size(MAX_WS_FRAME_BYTES)
        .on_upgrade(move |client| relay_websocket(client, upstream, ended))
}

/// Relays both ways until either side ends. A client message over
/// [`MAX_CLIENT_MESSAGE_BYTES`] (or past the frame limit) closes the client
/// with 1009 here, before it reaches the service; the upstream's close code
/// (1009, 1012 restart, 1000 idle) reaches the client. When `ended`
/// resolves (the session was revoked or its token expired) the client is
/// closed with its code and reason, whatever the upstream does.
async fn relay_websocket(
    client: axum::extract::ws::WebSocket,
    upstream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    ended: futures::future::BoxFuture<'static, (u16, &'static str)>,
) {
    use axum::extract::ws::{CloseFrame as AClose, Message as A};
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as T;
    let too_big = || {
        A::Close(Some(AClose {
            code: 1009,
            reason: "message too big".into(),
        }))
    };
    // Counted while the relay runs, however it ends.
    struct Open;
    impl Drop for Open {
        fn drop(&mut self) {
            metrics::gauge!("gateway_open_sockets").decrement(1.0);
        }
    }
    metrics::gauge!("gateway_open_sockets").increment(1.0);
    let _open = Open;
    let (mut client_tx, mut client_rx) = client.split();
    let (mut up_tx, mut up_rx) = upstream.split();
    // What to tell the client when its own side ended the relay.
    let verdict = {
        let to_upstream = async {
            let verdict = loop {
                let m = match client_rx.next().await {
                    Some(Ok(m)) => m,
                    Some(Err(_)) => break Some(too_big()),
                    None => break None,
                };
                let m = match m {
                    A::Text(t) if t.len() > MAX_CLIENT_MESSAGE_BYTES => break Some(too_big()),
                    A::Binary(b) if b.len() > MAX_CLIENT_MESSAGE_BYTES => break Some(too_big()),
                    A::Text(t) => T::Text(t.as_str().into()),
                    A::Binary(b) => T::Binary(b),
                    A::Ping(b) => T::Ping(b),
                    A::Pong(b) => T::Pong(b),
                    A::Close(_) => break None,
                };
                if up_tx.send(m).await.is_err() {
                    break None;
                }
            };
            let _ = up_tx.close().await;
            verdict
        };
        let to_client = async {
            while let Some(Ok(m)) = up_rx.next().await {
                let m = match m {
                    T::Text(t) => A::Text(t.as_str().into()),
                    T::Binary(b) => A::Binary(b),
                    T::Ping(b) => A::Ping(b),
                    T::Pong(b) => A::Pong(b),
                    T::Close(frame) => {
                        let frame = frame.map(|f| AClose {
                            code: f.code.into(),
                            reason: f.reason.as_str().into(),
                        });
                        let _ = client_tx.send(A::Close(frame)).await;
                        break;
                    }
                    T::Frame(_) => continue,
                };
                if client_tx.send(m).await.is_err() {
                    break;
                }
            }
        };
        // Whichever side ends first ends both.
        tokio::select! {
            verdict = to_upstream => verdict,
            () = to_client => None,
            (code, reason) = ended => Some(A::Close(Some(AClose {
                code,
                reason: reason.into(),
            }))),
        }
    };
    match verdict {
        Some(close) => {
            let _ = client_tx.send(close).await;
        }
        None => {
            let _ = client_tx.close().await;
        }
    }
}
