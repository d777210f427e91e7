//! Typed configuration read from environment variables. Development defaults
//! are built in so `cargo xtask up` needs no setup; when `SHOP_ENV=production`
//! every value that has a development default must be given explicitly.

use anyhow::{Context, Result, bail};
use secrecy::SecretString;
use std::{collections::HashMap, net::IpAddr, str::FromStr, time::Duration};

/// `SHOP_ENV`: `development` (default) or `production`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

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

/// A snapshot of the variables a binary reads.
///
/// Service variables are looked up as `{SERVICE}_{NAME}` first (for example
/// `PRODUCTS_PORT`). A binary that runs one service alone also accepts the
/// plain name (`PORT`, `DATABASE_URL`); the all-in-one process does not, since
/// one `DATABASE_URL` cannot serve four databases.
#[derive(Debug, Clone)]
pub struct Env {
    vars: HashMap<String, String>,
    environment: Environment,
    standalone: bool,
}

impl Env {
    /// The process environment, for a binary that runs one service.
    pub fn from_process() -> Result<Self> {
        Self::from_pairs(std::env::vars())
    }

    /// Explicit variables (tests build configuration this way).
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars: HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let environment = match vars.get("SHOP_ENV").map(|s| s.to_ascii_lowercase()) {
            None => Environment::Development,
            Some(s) if s == "development" || s == "dev" => Environment::Development,
            Some(s) if s == "production" || s == "prod" => Environment::Production,
            Some(other) => bail!("SHOP_ENV must be `development` or `production`, not `{other}`"),
        };
        Ok(Self {
            vars,
            environment,
            standalone: true,
        })
    }

    /// The same variables for a process that runs several services at once:
    /// plain service variables (`PORT`, `DATABASE_URL`) are ignored.
    pub fn shared(mut self) -> Self {
        self.standalone = false;
        self
    }

    pub fn environment(&self) -> Environment {
        self.environment
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// A global variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// A service variable: `{SERVICE}_{NAME}`, then `{NAME}` when standalone.
    pub fn service_var(&self, service: &str, name: &str) -> Option<&str> {
        let prefixed = format!("{}_{}", service.to_ascii_uppercase(), name);
        self.get(&prefixed)
            .or_else(|| self.standalone.then(|| self.get(name)).flatten())
    }

    /// Parses a global variable, or takes `default` when it is unset.
    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        parse_value(name, self.get(name), default)
    }

    /// A value with a development default that production must override.
    pub fn dev_default(&self, name: &str, default: &str) -> Result<String> {
        resolve_dev_default(self.is_production(), name, self.get(name), default)
    }

    /// A secret with a development default that production must override.
    pub fn dev_secret(&self, name: &str, default: &str) -> Result<SecretString> {
        self.dev_default(name, default).map(SecretString::from)
    }
}

fn parse_value<T>(name: &str, raw: Option<&str>, default: T) -> Result<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}=`{raw}` is not valid: {e}")),
    }
}

fn resolve_dev_default(
    production: bool,
    name: &str,
    value: Option<&str>,
    default: &str,
) -> Result<String> {
    match value {
        Some(v) => Ok(v.to_owned()),
        None if production => {
            bail!(
                "{name} must be set when SHOP_ENV=production (the development default is refused)"
            )
        }
        None => Ok(default.to_owned()),
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
        })
    }
}

/// Logging: `LOG_FORMAT` and the `RUST_LOG` filter.
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

impl LogSettings {
    pub fn from_env(env: &Env) -> Result<Self> {
        Ok(Self {
            format: env.parse_or("LOG_FORMAT", LogFormat::Pretty)?,
            filter: env
                .get("RUST_LOG")
                .unwrap_or("info,sqlx=warn,tower_http=info")
                .to_owned(),
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
