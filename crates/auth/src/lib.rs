//! Access tokens for the whole platform. The users service signs them with an
//! Ed25519 key (EdDSA, with `kid`); the gateway and every service verify them
//! against the published JWKS, cached, with no I/O per request.

mod extract;
mod keys;
mod revocation;
mod verify;

pub use extract::{AdminUser, Auth, CurrentUser, SESSION_COOKIE, token_from_parts};
pub use keys::{Jwk, JwkSet, SigningKey};
pub use revocation::{DEFAULT_STALE_LIMIT, RevocationBatch, Revocations, RevokedToken, SessionEnd};
pub use verify::{AuthError, Verifier};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use shop_types::Role;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The claims of an access token (API.md): `sub` is the user id as a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub email: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
}

/// Who is calling, once the token checked out.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    /// The session the token belongs to (its `jti`).
    pub session: String,
    /// The verified token, to pass on to other services.
    pub token: String,
    /// When the token expires (`exp`, Unix seconds): an open socket is
    /// closed then.
    pub expires_at: i64,
}

impl Identity {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// Issuer and audience every token must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRules {
    pub issuer: String,
    pub audience: String,
}

impl Default for TokenRules {
    fn default() -> Self {
        Self {
            issuer: "shop-users".into(),
            audience: "shop".into(),
        }
    }
}

/// How a service verifies tokens: `JWKS_URL`, `REVOCATIONS_URL`,
/// `REVOCATION_POLL_MS`, `JWT_ISSUER`, `JWT_AUDIENCE`, `ALLOWED_ORIGINS`.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub jwks_url: String,
    /// The users service's revocation feed.
    pub revocations_url: String,
    /// How often the feed is read: the longest a revoked token still works.
    pub revocation_poll: Duration,
    /// `REVOCATION_STALE_SECS`: how long the list is trusted while the feed
    /// cannot be read; then every token is refused with 503.
    pub revocation_stale: Duration,
    pub rules: TokenRules,
    pub allowed_origins: Vec<String>,
}

/// Origins a cookie-authenticated write may come from by default.
pub const DEV_ORIGINS: &str =
    "http://localhost:8080,http://127.0.0.1:8080,http://localhost:3000,http://127.0.0.1:3000";

impl AuthSettings {
    pub fn from_env(env: &shop_platform::config::Env) -> anyhow::Result<Self> {
        Ok(Self {
            jwks_url: env.dev_default("JWKS_URL", "http://127.0.0.1:8003/.well-known/jwks.json")?,
            revocations_url: env.dev_default(
                "REVOCATIONS_URL",
                "http://127.0.0.1:8003/internal/revocations",
            )?,
            revocation_poll: Duration::from_millis(env.parse_or("REVOCATION_POLL_MS", 1000)?),
            revocation_stale: Duration::from_secs(env.parse_or(
                "REVOCATION_STALE_SECS",
                revocation::DEFAULT_STALE_LIMIT.as_secs(),
            )?),
            rules: TokenRules::from_env(env),
            allowed_origins: env
                .dev_default("ALLOWED_ORIGINS", DEV_ORIGINS)?
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        })
    }

    /// Points verification at a users service's keys and revocation feed.
    pub fn follow_users(&mut self, users_url: &str) {
        let base = users_url.trim_end_matches('/');
        self.jwks_url = format!("{base}/.well-known/jwks.json");
        self.revocations_url = format!("{base}/internal/revocations");
    }

    /// A verifier that fetches the JWKS when it meets an unknown key.
    pub fn auth(&self) -> anyhow::Result<Auth> {
        Ok(Auth::new(
            Verifier::remote(&self.jwks_url, &self.rules)?,
            self.allowed_origins.clone(),
        ))
    }

    /// The background task that keeps `auth`'s revocations current; a
    /// service runs it with `Service::with_task`. Until the feed first
    /// answers, tokens are refused with 503.
    pub fn revocation_follower(
        &self,
        auth: &Auth,
    ) -> impl FnOnce(CancellationToken) -> BoxFuture<'static, anyhow::Result<()>> + Send + 'static
    {
        let revocations = auth.verifier.revocations().clone();
        let (url, every, stale) = (
            self.revocations_url.clone(),
            self.revocation_poll,
            self.revocation_stale,
        );
        move |stop| Box::pin(revocations.follow_url(url, every, stale, stop))
    }
}

impl TokenRules {
    pub fn from_env(env: &shop_platform::config::Env) -> Self {
        let d = Self::default();
        Self {
            issuer: env.get("JWT_ISSUER").map(str::to_owned).unwrap_or(d.issuer),
            audience: env
                .get("JWT_AUDIENCE")
                .map(str::to_owned)
                .unwrap_or(d.audience),
        }
    }
}
