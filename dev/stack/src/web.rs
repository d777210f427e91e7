//! The web front on :8080 for development: the built Leptos app as static
//! files (`/admin` and `/status` get console.html, the console's bundle;
//! other unknown paths get index.html, so client-side routes survive a
//! reload), `/api/*` forwarded to the gateway with the prefix stripped and
//! `/ws/*` as it is, as the nginx front does in docker compose. The app's
//! files are sent precompressed (brotli, else gzip) and, when named with
//! their version, cached for a year.

use anyhow::Result;
use axum::{
    Router,
    extract::{Request, State, WebSocketUpgrade},
    http::{HeaderMap, HeaderValue, header},
    response::Response,
    routing::{any, get},
};
use shop_gateway::proxy::{self, Upstream};
use shop_platform::{Service, config::Env};
use std::{net::IpAddr, path::PathBuf, time::Duration};
use tower_http::{
    compression::CompressionLayer,
    services::{ServeDir, ServeFile},
    set_header::SetResponseHeaderLayer,
};

#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    /// `WEB_DIST_DIR`, default `web/dist`.
    pub dist: PathBuf,
    pub request_timeout: Duration,
}

pub const DEFAULT_PORT: u16 = 8080;

impl Config {
    pub fn from_env(env: &Env) -> Result<Self> {
        Ok(Self {
            host: env
                .service_var("web", "HOST")
                .or_else(|| env.get("HOST"))
                .unwrap_or("127.0.0.1")
                .parse()?,
            port: env
                .service_var("web", "PORT")
                .map(str::parse)
                .transpose()?
                .unwrap_or(DEFAULT_PORT),
            dist: env
                .get("WEB_DIST_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(crate::default_dist_dir),
            request_timeout: Duration::from_secs(env.parse_or("REQUEST_TIMEOUT_SECS", 30)?),
        })
    }
}

#[derive(Clone)]
struct WebState {
    gateway: Upstream,
    client: proxy::Client,
    timeout: Duration,
}

pub async fn build(config: &Config, gateway: Upstream) -> Result<Service> {
    if !config.dist.join("index.html").exists() {
        tracing::warn!(dist = %config.dist.display(), "the web app is not built; run `cargo xtask web`");
    }
    let state = WebState {
        gateway,
        client: proxy::client(),
        timeout: config.request_timeout,
    };
    // One second beyond the forwarding timeout, so a slow gateway is a 504.
    Service::bind_addr(
        "web",
        config.host,
        config.port,
        config.request_timeout + Duration::from_secs(1),
        router(config, state),
    )
    .await
}

/// The policy the app runs under: its own files only, WebAssembly compiled
/// (`'wasm-unsafe-eval'`) but no inline or evaluated script, no framing.
/// web/nginx.conf sends the same headers in docker compose.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn router(config: &Config, state: WebState) -> Router {
    let index = config.dist.join("index.html");
    // The admin console and the status page are the console's bundle
    // (xtask/src/web.rs); every other route is the storefront's.
    let console = ServeFile::new(config.dist.join("console.html"));
    let static_files = Router::new()
        .route_service("/admin", console.clone())
        .route_service("/admin/", console.clone())
        .route_service("/admin/{*section}", console.clone())
        .route_service("/status", console.clone())
        .route_service("/status/", console)
        .fallback_service(
            ServeDir::new(&config.dist)
                .precompressed_br()
                .precompressed_gzip()
                .fallback(ServeFile::new(index)),
        )
        .layer(axum::middleware::from_fn(cache_by_version))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        .layer(CompressionLayer::new());
    Router::new()
        .route("/api", any(forward_api))
        .route("/api/{*rest}", any(forward_api))
        .route("/ws/{*rest}", get(forward_ws))
        .with_state(state)
        .merge(static_files)
}

/// The app's files are named in index.html and boot.js with `?v=` and a
/// fingerprint of the sources (xtask/src/web.rs): such a URL never changes
/// content, so it is kept for a year. Anything else (index.html, a route)
/// is revalidated every time.
async fn cache_by_version(req: Request, next: axum::middleware::Next) -> Response {
    let versioned = req.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.starts_with("v=") && pair.len() > 2)
    });
    let mut response = next.run(req).await;
    let policy = if versioned && response.status().is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}

async fn forward_api(State(state): State<WebState>, mut req: Request) -> Response {
    *req.headers_mut() = outermost(req.headers());
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/api");
    let stripped = match path_and_query.strip_prefix("/api") {
        Some(rest) if rest.is_empty() || rest.starts_with('?') => format!("/{rest}"),
        Some(rest) => rest.to_owned(),
        None => path_and_query.to_owned(),
    };
    let mut response =
        proxy::forward(&state.client, &state.gateway, req, &stripped, state.timeout).await;
    // The gateway's redirects name its own paths (/docs → /docs/): put the
    // prefix back, as nginx's `proxy_redirect` does in compose.
    if let Some(location) = response.headers().get(header::LOCATION)
        && let Ok(location) = location.to_str()
        && location.starts_with('/')
        && !location.starts_with("//")
        && let Ok(value) = HeaderValue::from_str(&format!("/api{location}"))
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `/ws/*` goes to the gateway unchanged; the gateway checks the session.
async fn forward_ws(State(state): State<WebState>, ws: WebSocketUpgrade, req: Request) -> Response {
    let path_and_query = req.uri().path_and_query().map_or("/ws", |pq| pq.as_str());
    let url = format!(
        "{}{}",
        state.gateway.url().replacen("http", "ws", 1),
        path_and_query
    );
    // The gateway closes the socket when its session ends; the web front
    // relays that close.
    let forever: futures::future::BoxFuture<'static, (u16, &'static str)> =
        Box::pin(futures::future::pending());
    proxy::websocket(ws, "gateway", &url, &outermost(req.headers()), &[], forever).await
}

/// The web front is the outermost hop: what a client claims about the host
/// and scheme it reached is dropped, and the host the browser used is
/// passed on from `Host`.
fn outermost(headers: &HeaderMap) -> HeaderMap {
    let mut headers = headers.clone();
    headers.remove(proxy::FORWARDED_HOST);
    headers.remove("x-forwarded-proto");
    headers
}
