//! What every handler and task shares.

use crate::{clients::google::SignIn, store::throttle};
use axum::extract::FromRef;
use shop_auth::{Auth, JwkSet, SigningKey, TokenRules};
use sqlx::PgPool;
use std::sync::Arc;

/// Shared by every handler.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub signer: Arc<SigningKey>,
    /// What `/.well-known/jwks.json` publishes: the signing key's public
    /// half, and after a rotation the previous key's.
    pub jwks: Arc<JwkSet>,
    pub rules: TokenRules,
    pub token_ttl_secs: i64,
    pub secure_cookies: bool,
    /// Verifies this service's own tokens with its own public key: no HTTP.
    pub auth: Auth,
    /// The web app's origin (`PUBLIC_URL`), where sign-in redirects end.
    pub public_url: Arc<str>,
    /// Sign-in with Google, when configured.
    pub google: Option<Arc<dyn SignIn>>,
    /// Failed sign-ins and registrations allowed.
    pub limits: throttle::Limits,
    /// `/users/me` answers as served, dropped on every change to the account.
    #[from_ref(skip)]
    pub accounts: shop_platform::cache::Announced,
}
