//! Forwarding to the services, by one route table ([`ROUTES`]): each row
//! names a path, its service and what reads and writes of it need. The
//! gateway checks credentials before a request reaches a service that needs
//! them and strips any identity headers a client sent; services verify the
//! token again themselves. `/internal/*` is never routed.

use crate::error::Refusal;
use crate::{AppState, Upstreams, proxy};
use axum::{
    Router,
    extract::{FromRequestParts, Request, State, WebSocketUpgrade},
    http::{HeaderName, HeaderValue, Method},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use shop_platform::client;

/// Identity headers a client might try to smuggle in. The gateway adds none
/// (every service verifies the token itself) and forwards none.
const IDENTITY_HEADERS: [&str; 6] = [
    "x-user-id",
    "x-user-email",
    "x-user-role",
    "x-authenticated-user",
    "x-forwarded-user",
    "x-auth-user",
];

/// What a path needs before it is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    User,
    Admin,
}

/// Which service answers a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Users,
    Products,
    Orders,
    Notifications,
}

/// One row of the route table: a path (`exact`), a path and everything below
/// it, or only what is below it (`below`), its service, and what reads and
/// writes of it need.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub path: &'static str,
    pub exact: bool,
    /// Only the paths below `path`, not `path` itself.
    pub below: bool,
    pub service: Service,
    pub reads: Access,
    /// POST, PUT, PATCH and DELETE; any other method (TRACE, an extension)
    /// counts as a read and goes on to the service, which answers 405.
    pub writes: Access,
}

const fn at(path: &'static str, service: Service, reads: Access, writes: Access) -> Route {
    Route {
        path,
        exact: true,
        below: false,
        service,
        reads,
        writes,
    }
}

const fn under(path: &'static str, service: Service, reads: Access, writes: Access) -> Route {
    Route {
        path,
        exact: false,
        below: false,
        service,
        reads,
        writes,
    }
}

const fn below(path: &'static str, service: Service, reads: Access, writes: Access) -> Route {
    Route {
        below: true,
        ..under(path, service, reads, writes)
    }
}

use Access::{Admin, Public, User};

/// Every path the gateway forwards; the first row that matches decides.
/// `/internal/*` is in no row, so it is never routed.
pub const ROUTES: &[Route] = &[
    at("/users/register", Service::Users, Public, Public),
    at("/users/login", Service::Users, Public, Public),
    at("/users/me", Service::Users, User, User),
    at("/users/logout", Service::Users, User, User),
    // Account administration: /users, /users/{id}/deactivate and the like.
    under("/users", Service::Users, Admin, Admin),
    below("/auth", Service::Users, Public, Public),
    below("/.well-known", Service::Users, Public, Public),
    // Paths that take no write: the service answers 405 with `Allow`.
    at("/products/categories", Service::Products, Public, Public),
    at("/products/reservations", Service::Products, Public, Public),
    under("/products", Service::Products, Public, Admin),
    under("/orders", Service::Orders, User, User),
    under("/notifications", Service::Notifications, User, User),
    // For crawlers; the web fronts pass their own /sitemap.xml here.
    at("/sitemap.xml", Service::Products, Public, Public),
];

impl Route {
    fn matches(&self, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        match path.strip_prefix(self.path) {
            Some("") => !self.below,
            Some(rest) => !self.exact && rest.starts_with('/'),
            None => false,
        }
    }
}

/// The row for `path`, if any.
pub fn route(path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.matches(path))
}

pub fn router() -> Router<AppState> {
    let mut router = Router::new().route("/ws/notifications", get(websocket));
    // One pair of axum routes per subtree; the table decides within it.
    for r in ROUTES.iter().filter(|r| !r.exact) {
        if !r.below {
            router = router.route(r.path, any(forward));
        }
        router = router.route(&format!("{}/{{*rest}}", r.path), any(forward));
    }
    // An exact path outside every subtree needs its own.
    for r in ROUTES.iter().filter(|r| r.exact) {
        // Covered when a subtree route has this path (`under`) or lies
        // above it; registering it again would panic.
        let in_subtree = ROUTES.iter().any(|s| {
            !s.exact
                && r.path
                    .strip_prefix(s.path)
                    .is_some_and(|rest| (rest.is_empty() && !s.below) || rest.starts_with('/'))
        });
        if !in_subtree {
            router = router.route(r.path, any(forward));
        }
    }
    router.fallback(|| async { Refusal::NoRoute })
}

pub fn access(method: &Method, path: &str) -> Option<Access> {
    let writes = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    route(path).map(|r| if writes { r.writes } else { r.reads })
}

fn upstream(upstreams: &Upstreams, service: Service) -> &proxy::Upstream {
    match service {
        Service::Users => &upstreams.users,
        Service::Products => &upstreams.products,
        Service::Orders => &upstreams.orders,
        Service::Notifications => &upstreams.notifications,
    }
}

/// What the client said about the host and scheme it reached is believed
/// only from a trusted proxy (the web front), like `X-Forwarded-For`; from
/// anyone else the gateway is the edge and the request's own `Host` counts.
fn distrust_forwarded_host(parts: &mut axum::http::request::Parts, state: &AppState) {
    let trusted = client::peer(&parts.extensions)
        .is_some_and(|peer| state.trusted_proxies.iter().any(|net| net.contains(&peer)));
    if !trusted {
        parts.headers.remove(proxy::FORWARDED_HOST);
        parts.headers.remove(FORWARDED_PROTO);
    }
}

pub const FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

// The request span (platform::telemetry) already names the path.
async fn forward(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    for h in IDENTITY_HEADERS {
        parts.headers.remove(h);
    }
    distrust_forwarded_host(&mut parts, &state);
    // The client's address, for the services' per-address limits: worked
    // out here, never taken from the client.
    parts.headers.remove(client::CLIENT_ADDRESS);
    if let Some(peer) = client::peer(&parts.extensions) {
        let address = client::behind_proxies(peer, &parts.headers, &state.trusted_proxies);
        if let Ok(v) = HeaderValue::from_str(&address.to_string()) {
            parts.headers.insert(client::CLIENT_ADDRESS, v);
        }
    }
    let Some(route) = route(parts.uri.path()) else {
        return Refusal::NoRoute.into_response();
    };
    let need = access(&parts.method, parts.uri.path()).unwrap_or(Access::Public);
    let mut identity = None;
    let logout =
        parts.method == Method::POST && parts.uri.path().trim_end_matches('/') == "/users/logout";
    // Public paths are forwarded as they are: a token there is checked, if
    // at all, by the service that needs it.
    if need != Access::Public {
        let id = match state.auth.authenticate(&parts).await {
            Ok(id) => id,
            Err(e) => return e.into_response(),
        };
        if need == Access::Admin && !id.is_admin() {
            return Refusal::AdminOnly.into_response();
        }
        identity = Some(id);
    }
    let upstream = upstream(&state.upstreams, route.service);
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let req = Request::from_parts(parts, body);
    let resp = proxy::forward(
        &state.proxy,
        upstream,
        req,
        &path_and_query,
        state.request_timeout,
    )
    .await;
    // The users service ended this session: this gateway refuses the token
    // from now on, and closes its sockets, without waiting for the feed
    // (which tells the other processes within REVOCATION_POLL_MS).
    if logout
        && resp.status().is_success()
        && let Some(id) = &identity
    {
        state
            .auth
            .verifier
            .revocations()
            .revoke_now(&id.session, id.expires_at);
    }
    resp
}

/// `GET /ws/notifications`: credentials checked here (401 before any
/// upgrade), then relayed to the notifications service.
async fn websocket(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    distrust_forwarded_host(&mut parts, &state);
    let identity = match state.auth.authenticate_socket(&parts).await {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(ws) => ws,
        Err(rejection) => return Refusal::NotAnUpgrade(rejection.body_text()).into_response(),
    };
    let base = state
        .upstreams
        .notifications
        .url()
        .replacen("http", "ws", 1);
    let bearer = HeaderValue::from_str(&format!("Bearer {}", identity.token));
    let extra: Vec<_> = bearer
        .into_iter()
        .map(|v| (axum::http::header::AUTHORIZATION, v))
        .collect();
    // The socket lives as long as its session: a logout, a deactivation or
    // the token's expiry closes it here too.
    let revocations = state.auth.verifier.revocations().clone();
    let ended = Box::pin(async move {
        let why = revocations
            .ended(&identity.session, identity.expires_at)
            .await;
        (why.code(), why.reason())
    });
    proxy::websocket(
        ws,
        "notification-service",
        &format!("{base}/ws/notifications"),
        &parts.headers,
        &extra,
        ended,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_rules_follow_the_contract() {
        assert_eq!(access(&Method::GET, "/products"), Some(Access::Public));
        assert_eq!(access(&Method::POST, "/products"), Some(Access::Admin));
        assert_eq!(
            access(&Method::PATCH, "/products/1/stock"),
            Some(Access::Admin)
        );
        // No write there: on to the service, which answers 405.
        assert_eq!(
            access(&Method::PUT, "/products/categories"),
            Some(Access::Public)
        );
        assert_eq!(access(&Method::TRACE, "/products/1"), Some(Access::Public));
        assert_eq!(access(&Method::POST, "/users/login"), Some(Access::Public));
        assert_eq!(access(&Method::GET, "/users/me"), Some(Access::User));
        assert_eq!(access(&Method::POST, "/users/logout"), Some(Access::User));
        assert_eq!(
            access(&Method::POST, "/users/register"),
            Some(Access::Public)
        );
        assert_eq!(
            access(&Method::POST, "/users/7/deactivate"),
            Some(Access::Admin)
        );
        assert_eq!(access(&Method::GET, "/orders"), Some(Access::User));
        assert_eq!(access(&Method::GET, "/notifications/3"), Some(Access::User));
        assert_eq!(access(&Method::GET, "/usersx"), None);
        assert_eq!(access(&Method::GET, "/internal/reservations"), None);
        assert_eq!(route("/users/me/").map(|r| r.service), Some(Service::Users));
        assert_eq!(route("/ws").map(|r| r.service), None);
        assert_eq!(route("/auth").map(|r| r.service), None);
        assert_eq!(
            route("/auth/google").map(|r| r.service),
            Some(Service::Users)
        );
    }
}
