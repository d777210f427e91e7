//! The web front on :8080 for development: the built Leptos app as static
//! files (`/admin` and `/status` get console.html, the console's bundle;
//! the storefront's routes get index.html, so client-side routes survive a
//! reload, and any other path gets it with a 404), `/robots.txt`,
//! `/sitemap.xml` from the gateway, `/api/*` forwarded to the gateway with the prefix stripped and
//! `/ws/*` as it is, as the nginx front does in docker compose. The app's
//! files are sent precompressed (brotli, else gzip) and, when named with
//! their version, cached for a year.

use anyhow::Result;
use axum::{
    Router,
    extract::{Request, State, WebSocketUpgrade},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use shop_gateway::proxy::{self, Upstream};
use shop_platform::{Service, config::Env};
use std::{net::IpAddr, path::PathBuf, time::Duration};
use tower::ServiceExt;
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
    // The gateway's answers are compressed here, as nginx's `gzip_types`
    // does in compose; the sitemap is the products service's, routed by it.
    let api = Router::new()
        .route("/api", any(forward_api))
        .route("/api/{*rest}", any(forward_api))
        .route("/sitemap.xml", get(forward_api))
        .layer(CompressionLayer::new());
    Router::new()
        .merge(api)
        .route("/ws/{*rest}", get(forward_ws))
        .with_state(state)
        .merge(static_files(&config.dist))
}

/// The app's files and pages, `/robots.txt`, with the security and caching
/// headers and compression.
fn static_files(dist: &std::path::Path) -> Router {
    let pages = Pages {
        storefront: dist.join("index.html"),
        console: dist.join("console.html"),
    };
    Router::new()
        .route("/robots.txt", get(robots))
        .fallback_service(
            ServeDir::new(dist)
                .precompressed_br()
                .precompressed_gzip()
                .append_index_html_on_directories(false)
                .fallback(axum::handler::HandlerWithoutStateExt::into_service(
                    move |req: Request| page(pages.clone(), req),
                )),
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
        .layer(CompressionLayer::new())
}

/// The app's two pages (xtask/src/web.rs).
#[derive(Clone)]
struct Pages {
    storefront: PathBuf,
    console: PathBuf,
}

/// Which page a route loads: the admin console and the status page are the
/// console's bundle, the storefront's routes (web/src/app.rs) its own.
/// Anything else is answered 404 with the storefront's page, which shows
/// its "not found". web/nginx.conf (`map $uri $shop_page`) does the same.
pub fn page_of(path: &str) -> Option<Page> {
    let console = ["/admin", "/status"].iter().any(|root| {
        path.strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    if console {
        return Some(Page::Console);
    }
    let product = path
        .strip_prefix("/products/")
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    let storefront = [
        "/",
        "/index.html",
        "/cart",
        "/checkout",
        "/orders",
        "/login",
        "/register",
        "/auth/callback",
    ];
    (product || storefront.contains(&path)).then_some(Page::Storefront)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Storefront,
    Console,
}

/// What the app's files end with: a missing one is a plain 404, never a
/// page parsed as code (web/nginx.conf's file locations do the same).
const FILE_ENDINGS: [&str; 11] = [
    ".wasm", ".js", ".mjs", ".css", ".map", ".ico", ".png", ".svg", ".webp", ".woff", ".woff2",
];

async fn page(pages: Pages, req: Request) -> Response {
    let path = req.uri().path().to_ascii_lowercase();
    if FILE_ENDINGS.iter().any(|end| path.ends_with(end)) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (file, status) = match page_of(req.uri().path()) {
        Some(Page::Console) => (pages.console, StatusCode::OK),
        Some(Page::Storefront) => (pages.storefront, StatusCode::OK),
        None => (pages.storefront, StatusCode::NOT_FOUND),
    };
    let mut response = match ServeFile::new(file).oneshot(req).await {
        Ok(response) => response.map(axum::body::Body::new),
        Err(never) => match never {},
    };
    if response.status().is_success() {
        *response.status_mut() = status;
    }
    response
}

/// What crawlers may read: the catalogue and the products, not the
/// visitor's own pages, the console or the API.
pub const ROBOTS: &str = "User-agent: *
Disallow: /admin
Disallow: /status
Disallow: /cart
Disallow: /checkout
Disallow: /orders
Disallow: /login
Disallow: /register
Disallow: /auth/
Disallow: /api/
Disallow: /ws/
";

async fn robots() -> ([(header::HeaderName, &'static str); 1], &'static str) {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        ROBOTS,
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;

    async fn get(app: &Router, path: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        let req = Request::get(path)
            .header(header::ACCEPT_ENCODING, "identity")
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status, parts.headers, body)
    }

    fn dist() -> (tempdir::TempDir, Router) {
        let dir = tempdir::TempDir::new();
        std::fs::write(dir.0.join("index.html"), "storefront").unwrap();
        std::fs::write(dir.0.join("console.html"), "console").unwrap();
        std::fs::write(dir.0.join("app.css"), "body{}").unwrap();
        let app = static_files(&dir.0);
        (dir, app)
    }

    mod tempdir {
        pub struct TempDir(pub std::path::PathBuf);

        impl TempDir {
            pub fn new() -> Self {
                let dir = std::env::temp_dir().join(format!(
                    "shop-web-front-{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4()
                ));
                std::fs::create_dir_all(&dir).unwrap();
                Self(dir)
            }
        }

        impl Drop for TempDir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[tokio::test]
    async fn the_app_routes_load_their_page_and_anything_else_is_a_404_with_the_storefront() {
        let (_dir, app) = dist();
        for (path, status, body) in [
            ("/", 200, "storefront"),
            ("/products/12", 200, "storefront"),
            ("/cart", 200, "storefront"),
            ("/auth/callback?code=x", 200, "storefront"),
            ("/admin", 200, "console"),
            ("/admin/orders", 200, "console"),
            ("/status/", 200, "console"),
            ("/app.css", 200, "body{}"),
            ("/nowhere", 404, "storefront"),
            ("/products/abc", 404, "storefront"),
            ("/products/", 404, "storefront"),
            ("/administrator", 404, "storefront"),
            ("/styles/missing.css?v=1", 404, ""),
            ("/favicon.ico", 404, ""),
        ] {
            let (got, headers, got_body) = get(&app, path).await;
            assert_eq!(got.as_u16(), status, "{path}");
            assert_eq!(String::from_utf8_lossy(&got_body), body, "{path}");
            assert!(
                headers.contains_key(header::CONTENT_SECURITY_POLICY),
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn robots_txt_is_text_that_keeps_crawlers_off_private_pages() {
        let (_dir, app) = dist();
        let (status, headers, body) = get(&app, "/robots.txt").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let body = String::from_utf8(body).unwrap();
        assert!(body.starts_with("User-agent: *"), "{body}");
        for private in ["/admin", "/checkout", "/orders", "/api/"] {
            assert!(body.contains(&format!("Disallow: {private}\n")), "{body}");
        }
        assert!(!body.contains("Disallow: /\n"), "the catalogue stays open");
    }

    /// Through the standard layers, as `build` serves it: they once turned
    /// the compressed page into undecodable JSON.
    #[tokio::test]
    async fn a_compressed_404_page_decodes() {
        let (_dir, app) = dist();
        let app = shop_platform::telemetry::http_layers(app, "web", Duration::from_secs(5));
        std::fs::write(_dir.0.join("index.html"), "x".repeat(4096)).unwrap();
        let req = Request::get("/no-such-page")
            .header(header::ACCEPT_ENCODING, "gzip, deflate, br, zstd")
            .body(Body::empty())
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let encoding = resp.headers().get(header::CONTENT_ENCODING).cloned();
        let length = resp.headers().get(header::CONTENT_LENGTH).cloned();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        match encoding.as_ref().map(|e| e.to_str().unwrap()) {
            Some("gzip") => assert_eq!(&body[..2], &[0x1f, 0x8b], "gzip"),
            None => assert_eq!(body.len(), 4096),
            Some(other) => panic!("{other}"),
        }
        if let Some(length) = &length {
            assert_eq!(
                length.to_str().unwrap(),
                body.len().to_string(),
                "{encoding:?}"
            );
        }
    }
}
