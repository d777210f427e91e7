//! Users service configuration.

use anyhow::Result;
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
    /// `ADMIN_EMAIL` / `ADMIN_PASSWORD`: created or promoted at start-up.
    pub admin: Option<(String, SecretString)>,
    /// `PUBLIC_URL`: the web origin; `https://` makes the cookie `Secure`.
    pub public_url: String,
    pub allowed_origins: Vec<String>,
    /// `REVOCATION_POLL_MS`: how often this service's own verifier reads
    /// the ended sessions.
    pub revocation_poll: std::time::Duration,
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
        Ok(Self {
            service: ServiceSettings::from_env(env, crate::NAME, crate::DEFAULT_PORT)?,
            rules: TokenRules::from_env(env),
            token_ttl_secs: env.parse_or("ACCESS_TOKEN_TTL_SECS", 3600)?,
            private_key_pem,
            admin,
            public_url: env.dev_default("PUBLIC_URL", "http://localhost:8080")?,
            allowed_origins: auth.allowed_origins,
            revocation_poll: auth.revocation_poll,
        })
    }
}
