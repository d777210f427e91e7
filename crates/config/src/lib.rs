//! Reading configuration from the environment: a snapshot of the variables
//! a binary reads, per-service names, typed parsing, and development
//! defaults that `SHOP_ENV=production` refuses. Every binary and library
//! that reads configuration uses it; it depends on nothing of the platform.

use anyhow::{Result, bail};
use secrecy::SecretString;
use std::{collections::HashMap, str::FromStr};

/// `SHOP_ENV`: `development` (default) or `production`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
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

    /// These variables with some set or replaced (tests restart a service
    /// with changed configuration this way). `SHOP_ENV` is not re-read.
    pub fn with_vars(&self, pairs: &[(&str, &str)]) -> Self {
        let mut changed = self.clone();
        for (k, v) in pairs {
            changed.vars.insert((*k).to_owned(), (*v).to_owned());
        }
        changed
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

/// `raw` parsed as `T`, or `default` when unset; an error names the variable.
pub fn parse_value<T>(name: &str, raw: Option<&str>, default: T) -> Result<T>
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_variable_wins_over_the_plain_one() {
        let e = Env::from_pairs([("PORT", "1"), ("ORDERS_PORT", "2")]).unwrap();
        assert_eq!(e.service_var("orders", "PORT"), Some("2"));
        assert_eq!(e.service_var("users", "PORT"), Some("1"));
        assert_eq!(e.clone().shared().service_var("users", "PORT"), None);
    }

    #[test]
    fn production_refuses_a_development_default() {
        let e = Env::from_pairs([("SHOP_ENV", "production")]).unwrap();
        assert!(e.is_production());
        assert!(e.dev_secret("ADMIN_PASSWORD", "dev").is_err());
        assert!(e.dev_default("USERS_SERVICE_URL", "http://x").is_err());
    }
}
