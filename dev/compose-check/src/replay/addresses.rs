//! Where every service is reached here: each `name:port` of another
//! container becomes `127.0.0.1:<free port>`, and each database a throwaway one.

use super::*;

/// The PostgreSQL server the tests use: `DATABASE_URL`, on its `postgres` database.
pub(super) fn admin_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    match url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/postgres"),
        None => url,
    }
}

/// `host:port` of a PostgreSQL URL.
pub(super) fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = rest.split(['/', '?']).next().unwrap_or("127.0.0.1");
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:{POSTGRES_PORT}")
    }
}

pub(super) fn plain_identifier(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Replay {
    pub(super) fn assign_addresses(&mut self) -> Result<()> {
        // Held until every port is handed out, so no two are the same.
        let mut held = Vec::new();
        let mut free_port = || -> Result<u16> {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let port = listener.local_addr()?.port();
            held.push(listener);
            Ok(port)
        };
        let names: Vec<String> = self.compose.services.keys().cloned().collect();
        for name in names {
            let def = self.def(&name);
            let ports: Vec<(u16, String)> = match Kind::of(&name, def)? {
                Kind::Postgres => vec![(POSTGRES_PORT, host_port(&self.admin_url))],
                Kind::Broker => vec![(LOCALSTACK_PORT, format!("127.0.0.1:{}", free_port()?))],
                Kind::Mail => vec![
                    (MAILHOG_SMTP_PORT, format!("127.0.0.1:{}", free_port()?)),
                    (MAILHOG_WEB_PORT, format!("127.0.0.1:{}", free_port()?)),
                ],
                Kind::Metrics => vec![(PROMETHEUS_PORT, format!("127.0.0.1:{}", free_port()?))],
                Kind::Dashboards => vec![(GRAFANA_PORT, format!("127.0.0.1:{}", free_port()?))],
                Kind::Traces => vec![
                    (JAEGER_OTLP_PORT, format!("127.0.0.1:{}", free_port()?)),
                    (JAEGER_UI_PORT, format!("127.0.0.1:{}", free_port()?)),
                ],
                Kind::Shop => {
                    let port = def
                        .env()
                        .get("PORT")
                        .and_then(|p| p.parse().ok())
                        .with_context(|| format!("`{name}` sets no PORT"))?;
                    vec![(port, format!("127.0.0.1:{}", free_port()?))]
                }
                Kind::Web => {
                    let port = def
                        .target_ports()
                        .first()
                        .copied()
                        .with_context(|| format!("`{name}` publishes no port"))?;
                    vec![(port, format!("127.0.0.1:{}", free_port()?))]
                }
            };
            for (container_port, address) in ports {
                self.addresses
                    .insert((name.clone(), container_port), address);
            }
        }
        Ok(())
    }

    /// Other containers' `name:port` → their address here.
    pub(super) fn map_hosts(&self, value: &str) -> String {
        let mut value = value.to_owned();
        for ((service, port), address) in &self.addresses {
            if value == format!("{service}:{port}") {
                return address.clone();
            }
            for prefix in ["//", "@"] {
                value = value.replace(
                    &format!("{prefix}{service}:{port}"),
                    &format!("{prefix}{address}"),
                );
            }
        }
        value
    }

    /// A container's own `127.0.0.1:port` / `localhost:port` → here.
    pub(super) fn map_own_ports(&self, service: &str, value: &str) -> String {
        let mut value = self.map_hosts(value);
        for ((owner, port), address) in &self.addresses {
            if owner == service {
                for host in ["127.0.0.1", "localhost"] {
                    value = value.replace(&format!("{host}:{port}"), address);
                }
            }
        }
        value
    }

    pub(super) fn map_environments(&mut self, tag: &str) -> Result<()> {
        let names: Vec<String> = self.compose.services.keys().cloned().collect();
        for name in names {
            let mut env = BTreeMap::new();
            for (key, value) in self.def(&name).env() {
                let mut value = self.map_hosts(&value);
                if value.starts_with("postgres://") || value.starts_with("postgresql://") {
                    value = self.throwaway_database(&value, tag)?;
                }
                for other in self.compose.services.keys() {
                    if value.contains(&format!("//{other}:"))
                        || value.contains(&format!("@{other}:"))
                    {
                        bail!(
                            "`{name}`: {key}={value} names container `{other}` on a port it does not listen on"
                        );
                    }
                }
                env.insert(key, value);
            }
            if Kind::of(&name, self.def(&name))? == Kind::Shop {
                // A container is reached through its network interface: a
                // service bound to loopback there is unreachable.
                let host = env.get("HOST").map(String::as_str).unwrap_or_default();
                if !matches!(host, "0.0.0.0" | "::") {
                    bail!(
                        "`{name}` binds HOST=`{host}`: other containers cannot reach it (use 0.0.0.0)"
                    );
                }
                env.insert("HOST".into(), "127.0.0.1".into());
                let port = env["PORT"].parse::<u16>()?;
                let address = &self.addresses[&(name.clone(), port)];
                let native = address.rsplit_once(':').map_or("", |(_, p)| p).to_owned();
                env.insert("PORT".into(), native);
            }
            self.environments.insert(name, env);
        }
        Ok(())
    }

    /// The same URL with its database renamed `shop_test_compose_<tag>_<name>`.
    pub(super) fn throwaway_database(&mut self, url: &str, tag: &str) -> Result<String> {
        let (base, query) = url
            .split_once('?')
            .map_or((url, None), |(b, q)| (b, Some(q)));
        let (server, database) = base
            .rsplit_once('/')
            .filter(|(server, _)| server.contains("://") && !server.ends_with('/'))
            .with_context(|| format!("no database in `{url}`"))?;
        let renamed = format!("shop_test_compose_{tag}_{database}");
        if !plain_identifier(&renamed) {
            bail!("database name `{database}` is not a plain identifier");
        }
        self.databases.push(renamed.clone());
        Ok(match query {
            Some(q) => format!("{server}/{renamed}?{q}"),
            None => format!("{server}/{renamed}"),
        })
    }
}
