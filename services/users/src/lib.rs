//! Users service: accounts, sign-in and token issuing. The only holder of the
//! private signing key; everyone else verifies with its JWKS.

pub mod config;
pub mod domain;
pub mod error;
pub mod google;
pub mod keys;
pub mod password;
pub mod repo;
pub mod routes;
pub mod sessions;
pub mod throttle;

use anyhow::{Context, Result};
use axum::{Router, extract::FromRef};
use secrecy::ExposeSecret;
use shop_auth::{Auth, JwkSet, SigningKey, TokenRules, Verifier};
use shop_platform::{Service, db, health};
use sqlx::{PgPool, migrate::Migrator};
use std::sync::Arc;
use utoipa::OpenApi;

pub use config::Config;

/// The service's schema, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!();

pub const NAME: &str = "users";
pub const DEFAULT_PORT: u16 = 8003;

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
    pub google: Option<Arc<google::Google>>,
    /// Failed sign-ins and registrations allowed.
    pub limits: throttle::Limits,
    /// `/users/me` answers as served, dropped on every change to the account.
    #[from_ref(skip)]
    pub accounts: shop_platform::cache::Announced,
}

/// The channel the `users` trigger announces changes on.
pub const CHANGES: &str = "users_changed";

/// The public endpoints; the revocation feed (`/internal/*`) is not among them.
#[derive(OpenApi)]
#[openapi(paths(
    routes::account::register,
    routes::account::login,
    routes::account::logout,
    routes::account::me,
    routes::admin::list,
    routes::admin::deactivate,
    routes::admin::reactivate,
    routes::google::providers,
    routes::google::start,
    routes::google::callback,
    routes::jwks::jwks,
))]
pub struct ApiDoc;

/// Connects (creating the database if needed), migrates, loads the signing
/// key, ensures the admin account, and binds.
pub async fn build(config: Config) -> Result<Service> {
    let pool = db::connect_and_migrate(&config.service.database, &MIGRATOR).await?;
    let signer = keys::load_or_create(&pool, config.private_key_pem.as_ref()).await?;
    if let Some((email, pw)) = &config.admin {
        let email = domain::normalize_email(email)
            .ok_or_else(|| anyhow::anyhow!("ADMIN_EMAIL `{email}` is not a valid email"))?;
        let hash = password::hash(pw.expose_secret().to_owned()).await?;
        let id = repo::upsert_admin(&pool, &email, &hash).await?;
        tracing::info!(user_id = id, email, "admin account ready");
    }
    // Published: the signing key, and after a rotation the previous one.
    let mut published = vec![signer.public_jwk()];
    if let Some(pem) = &config.previous_key_pem {
        let previous =
            SigningKey::from_pem(pem.expose_secret()).context("JWT_PREVIOUS_PRIVATE_KEY")?;
        if previous.kid() != signer.kid() {
            published.push(previous.public_jwk());
        }
    }
    let jwks = JwkSet { keys: published };
    let verifier = Verifier::with_keys(&jwks, &config.rules);
    let state = AppState {
        pool,
        signer: Arc::new(signer),
        jwks: Arc::new(jwks),
        rules: config.rules.clone(),
        token_ttl_secs: config.token_ttl_secs,
        secure_cookies: config.public_url.starts_with("https://"),
        auth: Auth::new(verifier, config.allowed_origins.clone()),
        public_url: config.public_url.trim_end_matches('/').into(),
        google: config
            .google
            .clone()
            .map(google::Google::new)
            .transpose()?
            .map(Arc::new),
        limits: config.limits,
        // A user's own data: only their browser may keep it.
        accounts: shop_platform::cache::Announced::new("private, no-cache", 10_000),
    };
    let accounts = state.accounts.clone();
    // This service reads the ended sessions from its own table: the first
    // read comes before it serves, so it never answers "not ready".
    state
        .auth
        .verifier
        .revocations()
        .apply(&sessions::feed(&state.pool, None).await?);
    let pool = state.pool.clone();
    let metrics_pool = state.pool.clone();
    let (feed, revocations) = (
        state.pool.clone(),
        state.auth.verifier.revocations().clone(),
    );
    let accounts_pool = state.pool.clone();
    Ok(Service::bind(&config.service, router(state))
        .await?
        .with_pool_metrics(metrics_pool)
        .with_task("account cache", move |token| {
            accounts.follow(accounts_pool, CHANGES, token)
        })
        // This service's own verifier reads the feed straight from its table.
        .with_task("revocations", move |stop| {
            revocations.follow(
                config.revocation_poll,
                config.revocation_stale,
                stop,
                move |after| {
                    let pool = feed.clone();
                    async move { Ok(sessions::feed(&pool, after).await?) }
                },
            )
        })
        .with_task("prune", move |token| async move {
            loop {
                match throttle::prune(&pool).await {
                    Ok(n) if n > 0 => tracing::info!(rows = n, "pruned old failed sign-ins"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = ?e, "pruning failed sign-ins failed"),
                }
                match repo::prune_states(&pool).await {
                    Ok(n) if n > 0 => tracing::info!(rows = n, "pruned used sign-in states"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = ?e, "pruning sign-in states failed"),
                }
                match sessions::prune(&pool).await {
                    Ok(n) if n > 0 => tracing::info!(rows = n, "pruned expired sessions"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = ?e, "pruning sessions failed"),
                }
                tokio::select! {
                    () = token.cancelled() => return Ok(()),
                    () = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
                }
            }
        }))
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::account::router())
        .merge(routes::admin::router())
        .merge(routes::google::router())
        .merge(routes::internal::router())
        .merge(routes::jwks::router())
        .with_state(state.clone())
        .merge(health::router(state.pool, NAME))
        .merge(shop_platform::openapi::router(ApiDoc::openapi()))
}
