//! Forwarding to the services. The gateway checks credentials before a
//! request reaches a service that needs them, strips any identity headers a
//! client sent, and adds the verified identity. Services verify the token
//! again themselves; `/internal/*` is never routed.

use crate::AppState;
use crate::proxy;
use axum::{
    Router,
    extract::{FromRequestParts, Request, State, WebSocketUpgrade},
    http::{HeaderName, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use shop_auth::Identity;
use shop_platform::{ApiError, client};

pub const USER_ID: HeaderName = HeaderName::from_static("x-user-id");
pub const USER_EMAIL: HeaderName = HeaderName::from_static("x-user-email");
pub const USER_ROLE: HeaderName = HeaderName::from_static("x-user-role");
/// Every identity header a client might try to smuggle in.
const IDENTITY_HEADERS: [&str; 6] = [
    "x-user-id",
    "x-user-email",
    "x-user-role",
    "x-authenticated-user",
    "x-forwarded-user",
    "x-auth-user",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ws/notifications", get(websocket))
        .route("/users", any(forward))
        .route("/users/{*rest}", any(forward))
        .route("/auth/{*rest}", any(forward))
        .route("/.well-known/{*rest}", any(forward))
        .route("/products", any(forward))
        .route("/products/{*rest}", any(forward))
        .route("/orders", any(forward))
        .route("/orders/{*rest}", any(forward))
        .route("/notifications", any(forward))
        .route("/notifications/{*rest}", any(forward))
        .fallback(|| async { ApiError::not_found("Not Found") })
}

/// What a path needs before it is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    User,
    Admin,
}

pub fn access(method: &Method, path: &str) -> Access {
    // Only these change anything; any other method (TRACE, an extension)
    // goes on to the service, which answers 405 with `Allow`.
    let writes = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "orders" | "notifications" => Access::User,
        "users" => match path.trim_end_matches('/') {
            "/users/register" | "/users/login" => Access::Public,
            "/users/me" | "/users/logout" => Access::User,
            // Account administration: /users/{id}/deactivate and the like.
            _ => Access::Admin,
        },
        // Paths that take no write: the service answers 405 with `Allow`.
        "products" if writes => match path.trim_end_matches('/') {
            "/products/categories" | "/products/reservations" => Access::Public,
            _ => Access::Admin,
        },
        _ => Access::Public,
    }
}

fn upstream<'a>(state: &'a AppState, path: &str) -> Option<&'a proxy::Upstream> {
    let u = &state.upstreams;
    match path.trim_start_matches('/').split('/').next()? {
        "users" | "auth" | ".well-known" => Some(&u.users),
        "products" => Some(&u.products),
        "orders" => Some(&u.orders),
        "notifications" | "ws" => Some(&u.notifications),
        _ => None,
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
    let need = access(&parts.method, parts.uri.path());
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
            return ApiError::Forbidden("Admin privileges required".into()).into_response();
        }
        add_identity(&mut parts.headers, &id);
        identity = Some(id);
    }
    let Some(upstream) = upstream(&state, parts.uri.path()) else {
        return ApiError::not_found("Not Found").into_response();
    };
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

fn add_identity(headers: &mut axum::http::HeaderMap, id: &Identity) {
    headers.insert(USER_ID, HeaderValue::from(id.user_id));
    if let Ok(v) = HeaderValue::from_str(&id.email) {
        headers.insert(USER_EMAIL, v);
    }
    headers.insert(USER_ROLE, HeaderValue::from_static(id.role.as_str()));
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
        Err(rejection) => return (StatusCode::BAD_REQUEST, rejection.body_text()).into_response(),
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
        assert_eq!(access(&Method::GET, "/products"), Access::Public);
        assert_eq!(access(&Method::POST, "/products"), Access::Admin);
        assert_eq!(access(&Method::PATCH, "/products/1/stock"), Access::Admin);
        // No write there: on to the service, which answers 405.
        assert_eq!(access(&Method::PUT, "/products/categories"), Access::Public);
        assert_eq!(access(&Method::TRACE, "/products/1"), Access::Public);
        assert_eq!(access(&Method::POST, "/users/login"), Access::Public);
        assert_eq!(access(&Method::GET, "/users/me"), Access::User);
        assert_eq!(access(&Method::POST, "/users/logout"), Access::User);
        assert_eq!(access(&Method::POST, "/users/register"), Access::Public);
        assert_eq!(access(&Method::POST, "/users/7/deactivate"), Access::Admin);
        assert_eq!(access(&Method::GET, "/orders"), Access::User);
        assert_eq!(access(&Method::GET, "/notifications/3"), Access::User);
    }
}
