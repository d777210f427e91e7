//! axum extractors: `CurrentUser` (any signed-in user) and `AdminUser`. The
//! token comes from `Authorization: Bearer` or the `shop_session` cookie; a
//! cookie-authenticated request that changes state must come from our origin.

use crate::{AuthError, Identity, Verifier};
use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderMap, Method, header, request::Parts},
};
use axum_extra::extract::CookieJar;
use shop_platform::ApiError;
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "shop_session";

/// Verification state shared by a service's handlers.
#[derive(Debug, Clone)]
pub struct Auth {
    pub verifier: Verifier,
    /// Origins allowed besides the request's own host (`ALLOWED_ORIGINS`).
    pub allowed_origins: Arc<Vec<String>>,
}

impl Auth {
    pub fn new(verifier: Verifier, allowed_origins: Vec<String>) -> Self {
        Self {
            verifier,
            allowed_origins: Arc::new(
                allowed_origins
                    .into_iter()
                    .map(|o| o.trim_end_matches('/').to_owned())
                    .collect(),
            ),
        }
    }

    /// Authenticates a request's parts (also used by the gateway and the
    /// WebSocket upgrade, which reads `?token=` too).
    pub async fn authenticate(&self, parts: &Parts) -> Result<Identity, ApiError> {
        let (token, from_cookie) =
            token_from_parts(parts).ok_or_else(|| to_api(AuthError::Missing))?;
        if from_cookie && !is_safe(&parts.method) && !self.origin_allowed(&parts.headers) {
            return Err(ApiError::Forbidden(
                "Cross-site request refused: Origin does not match".into(),
            ));
        }
        let id = self.verifier.identify(&token).await.map_err(to_api)?;
        // Every line the request logs from here on names who asked.
        tracing::Span::current().record("user_id", id.user_id);
        Ok(id)
    }

    /// Authenticates a WebSocket upgrade: `?token=` (for clients that can
    /// set neither a cookie nor a header), else the header or cookie.
    pub async fn authenticate_socket(&self, parts: &Parts) -> Result<Identity, ApiError> {
        let query_token = parts.uri.query().and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "token")
                .map(|(_, v)| v.to_owned())
        });
        if let Some(token) = query_token {
            return self.verifier.identify(&token).await.map_err(to_api);
        }
        let (token, from_cookie) =
            token_from_parts(parts).ok_or_else(|| to_api(AuthError::Missing))?;
        // A page on another site can open a socket that carries our cookie
        // (cross-site WebSocket hijacking): the upgrade is a GET, so the
        // write rule above does not catch it.
        if from_cookie && !self.origin_allowed(&parts.headers) {
            return Err(ApiError::Forbidden(
                "Cross-site WebSocket refused: Origin does not match".into(),
            ));
        }
        self.verifier.identify(&token).await.map_err(to_api)
    }

    /// Same-origin check for cookie-authenticated writes: the `Origin` must be
    /// the host the browser talked to (`X-Forwarded-Host` behind our fronts)
    /// or one of the configured origins.
    fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let origin = origin.trim_end_matches('/');
        if self.allowed_origins.iter().any(|o| o == origin) {
            return true;
        }
        let origin_host = origin.split_once("://").map(|(_, h)| h);
        let seen_host = headers
            .get("x-forwarded-host")
            .or_else(|| headers.get(header::HOST))
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.split(',').next())
            .map(str::trim);
        matches!((origin_host, seen_host), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The bearer token, else the session cookie; `true` when it came from the cookie.
pub fn token_from_parts(parts: &Parts) -> Option<(String, bool)> {
    if let Some(value) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let mut it = value.splitn(2, ' ');
        if let (Some(scheme), Some(token)) = (it.next(), it.next())
            && scheme.eq_ignore_ascii_case("bearer")
            && !token.trim().is_empty()
        {
            return Some((token.trim().to_owned(), false));
        }
    }
    CookieJar::from_headers(&parts.headers)
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
        .map(|v| (v, true))
}

fn to_api(e: AuthError) -> ApiError {
    match e {
        AuthError::KeysUnavailable => {
            ApiError::Unavailable("Cannot verify credentials right now".into())
        }
        other => ApiError::Unauthorized(other.to_string()),
    }
}

/// Any signed-in, verified user.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Identity);

impl<S> FromRequestParts<S> for CurrentUser
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Auth::from_ref(state)
            .authenticate(parts)
            .await
            .map(CurrentUser)
    }
}

/// A verified user whose role is `admin`; others get 403.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Identity);

impl<S> FromRequestParts<S> for AdminUser
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let id = Auth::from_ref(state).authenticate(parts).await?;
        if !id.is_admin() {
            return Err(ApiError::Forbidden("Admin privileges required".into()));
        }
        Ok(AdminUser(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JwkSet, SigningKey, TokenRules};
    use axum::http::Request;
    use shop_types::Role;

    fn auth_and_token() -> (Auth, String) {
        let key = SigningKey::generate().unwrap();
        let rules = TokenRules::default();
        let verifier = Verifier::with_keys(
            &JwkSet {
                keys: vec![key.public_jwk()],
            },
            &rules,
        );
        let token = key.issue(&rules, 1, "a@b.co", Role::Customer, 60).unwrap();
        (
            Auth::new(verifier, vec!["http://localhost:8080".into()]),
            token,
        )
    }

    fn parts(method: Method, headers: &[(&str, &str)]) -> Parts {
        let mut b = Request::builder().method(method).uri("/orders");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[tokio::test]
    async fn bearer_token_authenticates() {
        let (auth, token) = auth_and_token();
        let p = parts(
            Method::POST,
            &[("authorization", &format!("Bearer {token}"))],
        );
        assert_eq!(auth.authenticate(&p).await.unwrap().user_id, 1);
    }

    #[tokio::test]
    async fn no_credentials_is_401() {
        let (auth, _) = auth_and_token();
        let err = auth
            .authenticate(&parts(Method::GET, &[]))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Unauthorized(_)));
    }

    #[tokio::test]
    async fn cookie_write_from_another_origin_is_403() {
        let (auth, token) = auth_and_token();
        let cookie = format!("{SESSION_COOKIE}={token}");
        let p = parts(
            Method::POST,
            &[
                ("cookie", &cookie),
                ("origin", "https://evil.example"),
                ("host", "localhost:3000"),
            ],
        );
        assert!(matches!(
            auth.authenticate(&p).await,
            Err(ApiError::Forbidden(_))
        ));
        let no_origin = parts(Method::POST, &[("cookie", &cookie)]);
        assert!(matches!(
            auth.authenticate(&no_origin).await,
            Err(ApiError::Forbidden(_))
        ));
    }

    #[tokio::test]
    async fn cookie_write_from_our_own_origin_is_allowed() {
        let (auth, token) = auth_and_token();
        let cookie = format!("{SESSION_COOKIE}={token}");
        let configured = parts(
            Method::POST,
            &[("cookie", &cookie), ("origin", "http://localhost:8080")],
        );
        assert!(auth.authenticate(&configured).await.is_ok());
        let same_host = parts(
            Method::POST,
            &[
                ("cookie", &cookie),
                ("origin", "http://127.0.0.1:41234"),
                ("x-forwarded-host", "127.0.0.1:41234"),
            ],
        );
        assert!(auth.authenticate(&same_host).await.is_ok());
    }

    #[tokio::test]
    async fn a_cookie_socket_from_another_origin_is_403_and_from_ours_is_allowed() {
        let (auth, token) = auth_and_token();
        let cookie = format!("{SESSION_COOKIE}={token}");
        let foreign = parts(
            Method::GET,
            &[
                ("cookie", &cookie),
                ("origin", "https://evil.example"),
                ("host", "localhost:3000"),
            ],
        );
        assert!(matches!(
            auth.authenticate_socket(&foreign).await,
            Err(ApiError::Forbidden(_))
        ));
        let ours = parts(
            Method::GET,
            &[("cookie", &cookie), ("origin", "http://localhost:8080")],
        );
        assert!(auth.authenticate_socket(&ours).await.is_ok());
        // A bearer token is not sent by a browser on its own: no Origin rule.
        let bearer = parts(
            Method::GET,
            &[
                ("authorization", &format!("Bearer {token}")),
                ("origin", "https://evil.example"),
            ],
        );
        assert!(auth.authenticate_socket(&bearer).await.is_ok());
    }

    #[tokio::test]
    async fn cookie_read_needs_no_origin() {
        let (auth, token) = auth_and_token();
        let cookie = format!("{SESSION_COOKIE}={token}");
        assert!(
            auth.authenticate(&parts(Method::GET, &[("cookie", &cookie)]))
                .await
                .is_ok()
        );
    }
}
