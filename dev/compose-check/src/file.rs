//! The compose file as `docker-compose config` prints it: anchors merged,
//! `${VAR:-default}` interpolated, short forms normalised.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    process::Command,
};

#[derive(Debug, Deserialize)]
pub struct ComposeFile {
    pub services: BTreeMap<String, ServiceDef>,
}

#[derive(Debug, Deserialize)]
pub struct ServiceDef {
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub command: Option<StringOrList>,
    #[serde(default)]
    pub environment: BTreeMap<String, Option<serde_norway::Value>>,
    #[serde(default)]
    pub depends_on: DependsOn,
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default)]
    pub ports: Vec<serde_norway::Value>,
    /// Short form `host:container[:mode]`, host paths made absolute.
    #[serde(default)]
    pub volumes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum StringOrList {
    String(String),
    List(Vec<String>),
}

impl StringOrList {
    /// The words of a command; a string is split on whitespace, as compose
    /// does for a plain `command:` string without quotes.
    pub fn words(&self) -> Vec<String> {
        match self {
            Self::String(s) => s.split_whitespace().map(str::to_owned).collect(),
            Self::List(l) => l.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum DependsOn {
    #[default]
    None,
    List(Vec<String>),
    Map(BTreeMap<String, Dependency>),
}

#[derive(Debug, Deserialize)]
pub struct Dependency {
    #[serde(default)]
    pub condition: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Healthcheck {
    #[serde(default)]
    pub test: Option<StringOrList>,
}

impl ServiceDef {
    /// The environment as strings (`KEY:` alone is an empty value).
    pub fn env(&self) -> BTreeMap<String, String> {
        self.environment
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    None | Some(serde_norway::Value::Null) => String::new(),
                    // `docker-compose config` writes a literal `$` as `$$`.
                    Some(serde_norway::Value::String(s)) => s.replace("$$", "$"),
                    Some(serde_norway::Value::Bool(b)) => b.to_string(),
                    Some(serde_norway::Value::Number(n)) => n.to_string(),
                    Some(other) => serde_norway::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                (k.clone(), value)
            })
            .collect()
    }

    /// The services this one waits for, with the condition it waits on.
    pub fn dependencies(&self) -> Vec<(String, String)> {
        match &self.depends_on {
            DependsOn::None => Vec::new(),
            DependsOn::List(names) => names
                .iter()
                .map(|n| (n.clone(), "service_started".to_owned()))
                .collect(),
            DependsOn::Map(map) => map
                .iter()
                .map(|(n, d)| {
                    let condition = d.condition.as_deref().unwrap_or("service_started");
                    (n.clone(), condition.to_owned())
                })
                .collect(),
        }
    }

    /// `(published host port, container port)` of each entry, from the
    /// short form (`"127.0.0.1:80:8080/tcp"`, `8080`) or the long one.
    fn port_pairs(&self) -> Vec<(Option<u16>, Option<u16>)> {
        use serde_norway::Value;
        let number = |v: &Value| match v {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        self.ports
            .iter()
            .map(|p| match p {
                Value::String(s) => {
                    let spec = s.split('/').next().unwrap_or(s);
                    let mut parts = spec.rsplitn(3, ':');
                    let target = parts.next().and_then(|t| t.parse().ok());
                    // A target alone publishes nothing fixed.
                    let published = parts.next().and_then(|p| p.parse().ok());
                    (published, target)
                }
                Value::Number(_) => (None, number(p)),
                Value::Mapping(m) => (
                    m.get("published").and_then(number),
                    m.get("target").and_then(number),
                ),
                _ => (None, None),
            })
            .collect()
    }

    /// Published host ports.
    pub fn published_ports(&self) -> Vec<u16> {
        self.port_pairs()
            .into_iter()
            .filter_map(|(p, _)| p)
            .collect()
    }

    /// Container ports.
    pub fn target_ports(&self) -> Vec<u16> {
        self.port_pairs()
            .into_iter()
            .filter_map(|(_, t)| t)
            .collect()
    }

    pub fn healthcheck_words(&self) -> Option<Vec<String>> {
        self.healthcheck
            .as_ref()?
            .test
            .as_ref()
            .map(StringOrList::words)
    }
}

/// Ports the project's own machines already serve: a container publishing
/// one of them cannot start there.
pub const HOST_PORTS_IN_USE: [(u16, &str); 1] = [(5432, "PostgreSQL")];

impl ComposeFile {
    /// Runs `docker-compose config` on the file and reads its output.
    pub fn load(project_root: &Path) -> Result<Self> {
        let out = Command::new("docker-compose")
            .args(["-f", "docker-compose.yml", "config"])
            .current_dir(project_root)
            .output()
            .context("running `docker-compose config` (install the docker-compose package)")?;
        if !out.status.success() {
            bail!(
                "`docker-compose config` refused the file: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Self::parse(&String::from_utf8_lossy(&out.stdout))
    }

    pub fn parse(yaml: &str) -> Result<Self> {
        serde_norway::from_str(yaml).context("reading the resolved compose file")
    }

    /// Services in an order compose could start them: each after everything
    /// it depends on.
    pub fn start_order(&self) -> Result<Vec<String>> {
        let mut done: Vec<String> = Vec::new();
        let mut placed = BTreeSet::new();
        while done.len() < self.services.len() {
            let ready: Vec<&String> = self
                .services
                .iter()
                .filter(|(name, def)| {
                    !placed.contains(*name)
                        && def
                            .dependencies()
                            .iter()
                            .all(|(dep, _)| placed.contains(dep))
                })
                .map(|(name, _)| name)
                .collect();
            if ready.is_empty() {
                bail!("depends_on has a cycle or names an unknown service");
            }
            for name in ready {
                placed.insert(name.clone());
                done.push(name.clone());
            }
        }
        Ok(done)
    }

    /// What would stop `docker compose up` on one of this project's machines
    /// before any container runs: a published port the machine already
    /// serves, and a `pg_isready` check that only tries the Unix socket.
    pub fn host_conflicts(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, def) in &self.services {
            for port in def.published_ports() {
                if let Some((_, what)) = HOST_PORTS_IN_USE.iter().find(|(p, _)| *p == port) {
                    problems.push(format!(
                        "`{name}` publishes host port {port}, where the machine's own {what} listens"
                    ));
                }
            }
            if let Some(words) = def.healthcheck_words() {
                let line = words.join(" ");
                if line.contains("pg_isready") && !line.contains("-h ") {
                    problems.push(format!(
                        "`{name}`'s health check runs pg_isready on the Unix socket, which the \
                         image opens before TCP while it initialises: pass `-h 127.0.0.1`"
                    ));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
services:
  db:
    image: postgres:15
    ports:
    - 127.0.0.1:5432:5432/tcp
    healthcheck:
      test:
      - CMD-SHELL
      - pg_isready -U shop
  api:
    image: shop-services:latest
    command:
    - shop-gateway
    environment:
      PORT: '3000'
      FLAG: true
      EMPTY: null
    depends_on:
      db:
        condition: service_healthy
    ports:
    - published: 3000
      target: 3000
"#;

    #[test]
    fn services_start_after_what_they_depend_on() {
        let file = ComposeFile::parse(SAMPLE).unwrap();
        assert_eq!(file.start_order().unwrap(), ["db", "api"]);
    }

    #[test]
    fn environment_values_read_as_strings() {
        let file = ComposeFile::parse(SAMPLE).unwrap();
        let env = file.services["api"].env();
        assert_eq!(env["PORT"], "3000");
        assert_eq!(env["FLAG"], "true");
        assert_eq!(env["EMPTY"], "");
    }

    #[test]
    fn a_taken_host_port_and_a_socket_only_pg_isready_are_reported() {
        let file = ComposeFile::parse(SAMPLE).unwrap();
        assert_eq!(file.services["api"].published_ports(), [3000]);
        assert_eq!(file.services["db"].target_ports(), [5432]);
        let problems = file.host_conflicts();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("5432"));
        assert!(problems[1].contains("pg_isready"));
    }

    #[test]
    fn a_cycle_is_refused() {
        let file =
            ComposeFile::parse("services:\n  a:\n    depends_on: [b]\n  b:\n    depends_on: [a]\n")
                .unwrap();
        assert!(file.start_order().is_err());
    }
}
