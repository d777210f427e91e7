//! Users service: accounts, sign-in and token issuing. The only holder of the
//! private signing key; everyone else verifies with its JWKS.

//!
//! Inside, four layers, each calling only the ones below it:
//! [`api`] (HTTP) → [`app`] (use cases) → [`domain`] (pure rules) and
//! [`store`] (SQL) / [`clients`] (Google).

pub mod api;
pub mod app;
pub mod clients;
pub mod config;
pub mod domain;
pub mod error;
pub mod state;
pub mod store;

use anyhow::{Context, Result};
use axum::Router;
use secrecy::ExposeSecret;
use shop_auth::{Auth, JwkSet, SigningKey, Verifier};
use shop_platform::{Service, db, health};
use sqlx::migrate::Migrator;
use std::sync::Arc;
use utoipa::OpenApi;

pub use config::Config;
use domain::password;
pub use state::AppState;
use store::{keys, sessions, throttle, users as repo};

/// The service's schema, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!();

pub const NAME: &str = "users";
pub const DEFAULT_PORT: u16 = 8003;

/// The channel the `users` trigger announces changes on.
pub const CHANGES: &str = "users_changed";

/// The public endpoints; the revocation feed (`/internal/*`) is not among them.
#[derive(OpenApi)]
#[openapi(paths(
    api::account::register,
    api::account::login,
    api::account::logout,
    api::account::me,
    api::admin::list,
    api::admin::deactivate,
    api::admin::reactivate,
    api::google::providers,
    api::google::start,
    api::google::callback,
    api::jwks::jwks,
))]
pub struct ApiDoc;

/// Connects (creating the database if needed), migrates, loads the signing
/// key, ensures the admin account, and binds.
pub async fn build(config: Config) -> Result<Service> {
    let pool = db::connect_and_migrate(&config.service.database, &MIGRATOR).await?;
    let signer = keys::load_or_create(&pool, config.private_key_pem.as_ref()).await?;
    if let Some((email, pw)) = &config.admin {
        let email = domain::account::normalize_email(email)
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
            .map(clients::google::Google::new)
            .transpose()?
            .map(|g| Arc::new(g) as Arc<dyn clients::google::SignIn>),
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
        .merge(api::account::router())
        .merge(api::admin::router())
        .merge(api::google::router())
        .merge(api::internal::router())
        .merge(api::jwks::router())
        .with_state(state.clone())
        .merge(health::router(state.pool, NAME))
        .merge(shop_platform::openapi::router(ApiDoc::openapi()))
}
