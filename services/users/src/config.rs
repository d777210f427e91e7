//! Users service configuration.

use crate::clients::google::GoogleSettings;
use anyhow::{Context, Result};
use secrecy::SecretString;
use shop_auth::{AuthSettings, TokenRules};
use shop_platform::config::{Env, ServiceSettings};

/// Development admin, printed by `cargo xtask up`; refused in production.
pub const DEV_ADMIN_EMAIL: &str = "admin@shop.local";
pub const DEV_ADMIN_PASSWORD: &str = "admin-dev-password";

#[derive(Debug, Clone)]
pub struct Config {
    pub service: ServiceSettings,
    pub rules: TokenRules,
    /// `ACCESS_TOKEN_TTL_SECS`, default one hour.
    pub token_ttl_secs: i64,
    /// `JWT_PRIVATE_KEY` (Ed25519 PKCS#8 PEM). Required in production; in
    /// development a key is generated on first start and kept in users_db.
    pub private_key_pem: Option<SecretString>,
    /// `JWT_PREVIOUS_PRIVATE_KEY`: after a rotation, the key that signed
    /// until now. Never signs; its public half stays in the JWKS so tokens
    /// it signed keep working until they expire.
    pub previous_key_pem: Option<SecretString>,
    /// `ADMIN_EMAIL` / `ADMIN_PASSWORD`: created or promoted at start-up.
    pub admin: Option<(String, SecretString)>,
    /// `PUBLIC_URL`: the web origin; `https://` makes the cookie `Secure`.
    pub public_url: String,
    pub allowed_origins: Vec<String>,
    /// `REVOCATION_POLL_MS`: how often this service's own verifier reads
    /// the ended sessions.
    pub revocation_poll: std::time::Duration,
    /// `REVOCATION_STALE_SECS`.
    pub revocation_stale: std::time::Duration,
    /// Sign-in with Google; `None` without `GOOGLE_CLIENT_ID`.
    pub google: Option<GoogleSettings>,
    pub limits: crate::store::throttle::Limits,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self> {
        let private_key_pem = match env.get("JWT_PRIVATE_KEY") {
            Some(pem) => Some(SecretString::from(pem.to_owned())),
            None if env.is_production() => {
                anyhow::bail!("JWT_PRIVATE_KEY must be set when SHOP_ENV=production")
            }
            None => None,
        };
        let admin = match (env.get("ADMIN_EMAIL"), env.get("ADMIN_PASSWORD")) {
            (Some(e), Some(p)) => Some((e.to_owned(), SecretString::from(p.to_owned()))),
            _ if env.is_production() => None,
            _ => Some((
                DEV_ADMIN_EMAIL.to_owned(),
                SecretString::from(DEV_ADMIN_PASSWORD.to_owned()),
            )),
        };
        let auth = AuthSettings::from_env(env)?;
        let public_url = env.dev_default("PUBLIC_URL", "http://localhost:8080")?;
        let google = match env
            .get("GOOGLE_CLIENT_ID")
            .filter(|id| !id.trim().is_empty())
        {
            None => None,
            Some(client_id) => Some(GoogleSettings {
                client_id: client_id.trim().to_owned(),
                client_secret: SecretString::from(
                    env.get("GOOGLE_CLIENT_SECRET")
                        .filter(|s| !s.is_empty())
                        .context("GOOGLE_CLIENT_SECRET must be set with GOOGLE_CLIENT_ID")?
                        .to_owned(),
                ),
                issuer_url: env
                    .get("GOOGLE_ISSUER_URL")
                    .filter(|s| !s.is_empty())
                    .unwrap_or("https://accounts.google.com")
                    .trim_end_matches('/')
                    .to_owned(),
                // The web app forwards /api/* to the gateway.
                redirect_url: env
                    .get("GOOGLE_REDIRECT_URL")
                    .filter(|s| !s.is_empty())
                    .map_or_else(
                        || {
                            format!(
                                "{}/api/auth/google/callback",
                                public_url.trim_end_matches('/')
                            )
                        },
                        str::to_owned,
                    ),
            }),
        };
        Ok(Self {
            service: ServiceSettings::from_env(env, crate::NAME, crate::DEFAULT_PORT)?,
            rules: TokenRules::from_env(env),
            token_ttl_secs: env.parse_or("ACCESS_TOKEN_TTL_SECS", 3600)?,
            private_key_pem,
            previous_key_pem: env
                .get("JWT_PREVIOUS_PRIVATE_KEY")
                .map(|pem| SecretString::from(pem.to_owned())),
            admin,
            public_url,
            allowed_origins: auth.allowed_origins,
            revocation_poll: auth.revocation_poll,
            revocation_stale: auth.revocation_stale,
            google,
            limits: {
                let d = crate::store::throttle::Limits::default();
                crate::store::throttle::Limits {
                    failures_per_account: env
                        .parse_or("LOGIN_FAILURES_PER_ACCOUNT", d.failures_per_account)?,
                    failures_per_address: env
                        .parse_or("LOGIN_FAILURES_PER_ADDRESS", d.failures_per_address)?,
                    registrations_per_address: env
                        .parse_or("REGISTRATIONS_PER_ADDRESS", d.registrations_per_address)?,
                }
            },
        })
    }
}
