//! Typed configuration read from environment variables. Development defaults
//! are built in so `cargo xtask up` needs no setup; when `SHOP_ENV=production`
//! every value that has a development default must be given explicitly.

use anyhow::{Context, Result, bail};
use secrecy::SecretString;
use std::{net::IpAddr, str::FromStr, time::Duration};

pub use shop_config::{Env, Environment, parse_value};

/// `LOG_FORMAT`: `pretty` (default) or `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl FromStr for LogFormat {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "pretty" | "text" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            other => bail!("LOG_FORMAT must be `pretty` or `json`, not `{other}`"),
        }
    }
}

/// Development default for the PostgreSQL server (`POSTGRES_URL`).
pub const DEV_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432";

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// Full URL including the database name; the database is created if missing.
    pub url: SecretString,
    pub max_connections: u32,
}

/// What every service needs: where to listen and which database it owns.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Short name: `users`, `products`, `orders`, `notifications`.
    pub name: &'static str,
    pub host: IpAddr,
    pub port: u16,
    pub database: DatabaseSettings,
    pub request_timeout: Duration,
    pub environment: Environment,
    /// How long finished rows are kept (see `crate::retention`).
    #[cfg(feature = "database")]
    pub retention: crate::retention::RetentionSettings,
}

impl ServiceSettings {
    /// Reads `{SERVICE}_HOST`, `{SERVICE}_PORT`, `{SERVICE}_DATABASE_URL` (with
    /// plain fallbacks when standalone), `POSTGRES_URL`, `DB_MAX_CONNECTIONS`
    /// and `REQUEST_TIMEOUT_SECS`.
    pub fn from_env(env: &Env, name: &'static str, default_port: u16) -> Result<Self> {
        let host = parse_value(
            &format!("{}_HOST", name.to_ascii_uppercase()),
            env.service_var(name, "HOST").or_else(|| env.get("HOST")),
            IpAddr::from([127, 0, 0, 1]),
        )?;
        let port = parse_value("PORT", env.service_var(name, "PORT"), default_port)?;
        let url = match env.service_var(name, "DATABASE_URL") {
            Some(url) => url.to_owned(),
            None => {
                let server = env
                    .dev_default("POSTGRES_URL", DEV_POSTGRES_URL)
                    .with_context(|| {
                        format!("{}_DATABASE_URL or POSTGRES_URL", name.to_ascii_uppercase())
                    })?;
                format!("{}/{name}_db", server.trim_end_matches('/'))
            }
        };
        Ok(Self {
            name,
            host,
            port,
            database: DatabaseSettings {
                url: SecretString::from(url),
                max_connections: env.parse_or("DB_MAX_CONNECTIONS", 10)?,
            },
            request_timeout: Duration::from_secs(env.parse_or("REQUEST_TIMEOUT_SECS", 30)?),
            environment: env.environment(),
            #[cfg(feature = "database")]
            retention: crate::retention::RetentionSettings::from_env(env)?,
        })
    }
}

/// Logging: `LOG_FORMAT` and the `RUST_LOG` filter; traces: the `OTEL_*`
/// variables (see `crate::traces`).
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
    /// `None`: no spans are exported.
    pub traces: Option<crate::traces::TraceSettings>,
}

impl LogSettings {
    pub fn from_env(env: &Env) -> Result<Self> {
        Ok(Self {
            format: env.parse_or("LOG_FORMAT", LogFormat::Pretty)?,
            filter: env
                .get("RUST_LOG")
                .unwrap_or("info,sqlx=warn,tower_http=info")
                .to_owned(),
            traces: crate::traces::TraceSettings::from_env(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn service_defaults_point_at_local_postgres() {
        let s = ServiceSettings::from_env(&env(&[]), "products", 8001).unwrap();
        assert_eq!(s.port, 8001);
        assert_eq!(
            s.database.url.expose_secret(),
            "postgres://postgres@127.0.0.1:5432/products_db"
        );
    }

    #[test]
    fn prefixed_variable_wins_over_plain() {
        let e = env(&[("PORT", "9000"), ("ORDERS_PORT", "9100")]);
        let s = ServiceSettings::from_env(&e, "orders", 8002).unwrap();
        assert_eq!(s.port, 9100);
    }

    #[test]
    fn shared_process_ignores_plain_database_url() {
        let e = env(&[("DATABASE_URL", "postgres://x/one_db")]).shared();
        let s = ServiceSettings::from_env(&e, "users", 8003).unwrap();
        assert!(s.database.url.expose_secret().ends_with("/users_db"));
    }

    #[test]
    fn production_refuses_development_defaults() {
        let e = env(&[("SHOP_ENV", "production")]);
        let err = ServiceSettings::from_env(&e, "users", 8003).unwrap_err();
        assert!(format!("{err:#}").contains("POSTGRES_URL"), "{err:#}");
        assert!(e.dev_secret("ADMIN_PASSWORD", "dev").is_err());
    }

    #[test]
    fn production_accepts_explicit_values() {
        let e = env(&[
            ("SHOP_ENV", "production"),
            ("DATABASE_URL", "postgres://db/users_db"),
        ]);
        let s = ServiceSettings::from_env(&e, "users", 8003).unwrap();
        assert_eq!(s.database.url.expose_secret(), "postgres://db/users_db");
    }

    #[test]
    fn invalid_number_names_the_variable() {
        let e = env(&[("DB_MAX_CONNECTIONS", "lots")]);
        let err = ServiceSettings::from_env(&e, "users", 8003).unwrap_err();
        assert!(err.to_string().contains("DB_MAX_CONNECTIONS"), "{err}");
    }
}
