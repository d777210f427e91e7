//! Starts the compose services as native processes in the order compose
//! would, each once the ones before it are healthy, and stops them again.
//!
//! | image | runs here as |
//! |---|---|
//! | `shop-services` | the release binary `command:` names, from `SHOP_COMPOSE_BIN_DIR` (default `target/release`); with `SHOP_COMPOSE_IMAGES=<tag>`, the container image of that binary (`cargo xtask images`), run with podman on the host's network, read-only |
//! | `shop-web` | Debian's nginx with `web/nginx.conf`, serving `web/dist` (`SHOP_WEB_DIST`) |
//! | `postgres` | the machine's PostgreSQL (the server of `DATABASE_URL`); the compose role is created if missing and each database gets a throwaway `shop_test_compose_` name |
//! | `localstack/localstack` | LocalStack 3.8 from PyPI (`SHOP_LOCALSTACK_PYTHON`, the interpreter of its virtualenv) on a free loopback port, its mounted folders linked under its own file-system root; once it is healthy its init scripts run a second time, to prove them idempotent |
//! | `mailhog/mailhog` | maildev |
//! | `prom/prometheus` | Debian's Prometheus with the mounted configuration, its targets moved to where the services run here |
//! | `grafana/grafana` | not run: its mounted provisioning is checked (every datasource names a compose service, every dashboard parses and queries only series the platform exports; see the compose test) |
//! | `jaegertracing/all-in-one` | not run by the replay: its OTLP port is given an address, where the compose test runs its own OTLP receiver (`shop_testkit::otlp`) |
//!
//! Every `name:port` of another container in an environment value becomes
//! `127.0.0.1:<free port>`, a service's `PORT` its free port and `HOST`
//! `127.0.0.1`; nothing else of the environment changes. Health checks are
//! the compose file's own commands, with the container's ports moved.

use crate::{ComposeFile, file::ServiceDef, nginx};
use anyhow::{Context, Result, bail, ensure};
use sqlx::{Connection, PgConnection};
use std::{
    collections::BTreeMap,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::{Duration, Instant},
};
use tokio::process::{Child, Command};

const LOCALSTACK_PORT: u16 = 4566;
const POSTGRES_PORT: u16 = 5432;
const MAILHOG_SMTP_PORT: u16 = 1025;
const MAILHOG_WEB_PORT: u16 = 8025;
pub const PROMETHEUS_PORT: u16 = 9090;
const GRAFANA_PORT: u16 = 3000;
/// Jaeger's OTLP/HTTP receiver and its UI.
pub const JAEGER_OTLP_PORT: u16 = 4318;
const JAEGER_UI_PORT: u16 = 16686;
/// Where LocalStack looks for the scripts it runs once it is ready.
const INIT_SCRIPTS: &str = "/etc/localstack/init/ready.d";
/// Start-up budget of one service: a first start creates its database and
/// runs its migrations.
const START_LIMIT: Duration = Duration::from_secs(90);
/// How long a service may take to stop gracefully; then it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(20);
const STANDIN_STOP_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Shop,
    Web,
    Postgres,
    Broker,
    Mail,
    Metrics,
    Dashboards,
    Traces,
}

impl Kind {
    fn of(name: &str, def: &ServiceDef) -> Result<Self> {
        let image = def.image.as_deref().unwrap_or_default();
        Ok(match image {
            i if i.starts_with("shop-services") => Self::Shop,
            i if i.starts_with("shop-web") => Self::Web,
            i if i.starts_with("postgres:") => Self::Postgres,
            i if i.starts_with("localstack/localstack") => Self::Broker,
            i if i.starts_with("mailhog/mailhog") => Self::Mail,
            i if i.starts_with("prom/prometheus") => Self::Metrics,
            i if i.starts_with("grafana/grafana") => Self::Dashboards,
            i if i.starts_with("jaegertracing/all-in-one") => Self::Traces,
            other => bail!("the compose check does not know how to run `{name}` (image `{other}`)"),
        })
    }
}

#[derive(Debug)]
struct Running {
    name: String,
    kind: Kind,
    child: Child,
    log: PathBuf,
    /// The podman container the child runs, when it runs one: killing the
    /// `podman run` client would leave it running.
    container: Option<String>,
}

/// The compose services running here; [`Replay::down`] stops them.
#[derive(Debug)]
pub struct Replay {
    root: PathBuf,
    work: PathBuf,
    compose: ComposeFile,
    /// `(service, container port)` → `host:port` here.
    addresses: BTreeMap<(String, u16), String>,
    /// Each service's environment after the mapping.
    environments: BTreeMap<String, BTreeMap<String, String>>,
    running: Vec<Running>,
    /// Superuser URL of the PostgreSQL server, for roles and clean-up.
    admin_url: String,
    databases: Vec<String>,
    /// This run's tag: in database and container names.
    tag: String,
}

/// Removes the containers of services still running: a replay that failed
/// part-way, or a test that panicked, never leaves one behind.
impl Drop for Replay {
    fn drop(&mut self) {
        for running in &self.running {
            if let Some(container) = &running.container {
                remove_container(container);
            }
        }
    }
}

fn remove_container(name: &str) {
    let _ = std::process::Command::new("podman")
        .args([
            "--runtime=runc",
            "--cgroup-manager=cgroupfs",
            "rm",
            "--force",
            "--time=2",
            name,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The last lines of a log, for an error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

impl Replay {
    /// Reads the compose file and starts every service in compose's order.
    /// On an error, whatever was started is stopped when the value drops.
    pub async fn up(root: &Path) -> Result<Self> {
        let compose = ComposeFile::load(root)?;
        let problems = compose.host_conflicts();
        if !problems.is_empty() {
            bail!(
                "docker compose up would fail on this machine:\n  {}",
                problems.join("\n  ")
            );
        }
        let tag = format!("{:08x}", std::process::id() ^ 0x5a5a_5a5a);
        let work = root.join("target/compose-check").join(&tag);
        // A folder left by an earlier run with the same tag holds links.
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(work.join("logs"))?;
        let mut replay = Self {
            root: root.to_path_buf(),
            work,
            compose,
            addresses: BTreeMap::new(),
            environments: BTreeMap::new(),
            running: Vec::new(),
            admin_url: admin_url(),
            databases: Vec::new(),
            tag: tag.clone(),
        };
        replay.assign_addresses()?;
        replay.map_environments(&tag)?;
        for name in replay.compose.start_order()? {
            let started = Instant::now();
            replay.start(&name).await?;
            println!(
                "compose check: {name} healthy after {:.1}s",
                started.elapsed().as_secs_f32()
            );
        }
        Ok(replay)
    }

    /// `http://127.0.0.1:<port>` of a container port.
    pub fn url(&self, service: &str, container_port: u16) -> Option<String> {
        self.addresses
            .get(&(service.to_owned(), container_port))
            .map(|a| format!("http://{a}"))
    }

    /// A service's environment as it was started.
    pub fn env(&self, service: &str) -> Option<&BTreeMap<String, String>> {
        self.environments.get(service)
    }

    /// The podman container of a compose service (with `SHOP_COMPOSE_IMAGES`).
    pub fn container_name(&self, service: &str) -> String {
        format!("shop-compose-{}-{service}", self.tag)
    }

    pub fn log_dir(&self) -> PathBuf {
        self.work.join("logs")
    }

    fn def(&self, name: &str) -> &ServiceDef {
        &self.compose.services[name]
    }

    async fn start(&mut self, name: &str) -> Result<()> {
        let def = self.def(name);
        let kind = Kind::of(name, def)?;
        let env = self.environments[name].clone();
        match kind {
            Kind::Postgres => self.prepare_postgres(&env).await,
            Kind::Broker => {
                self.start_localstack(name, &env)?;
                self.wait_healthy(name).await?;
                // LocalStack ran the init scripts once on its own; a second
                // run is what every restart of the container does.
                let address = self.addresses[&(name.to_owned(), LOCALSTACK_PORT)].clone();
                let region = env
                    .get("AWS_DEFAULT_REGION")
                    .cloned()
                    .unwrap_or_else(|| "us-east-1".into());
                self.run_init_scripts(&address, &region).await
            }
            Kind::Mail => {
                let smtp = self.addresses[&(name.to_owned(), MAILHOG_SMTP_PORT)].clone();
                let web = self.addresses[&(name.to_owned(), MAILHOG_WEB_PORT)].clone();
                let port = |a: &str| a.rsplit_once(':').map_or("", |(_, p)| p).to_owned();
                let mut cmd = Command::new("maildev");
                cmd.args(["-s", &port(&smtp), "--ip", "127.0.0.1"]).args([
                    "-w",
                    &port(&web),
                    "--web-ip",
                    "127.0.0.1",
                ]);
                self.spawn(name, kind, cmd)?;
                self.wait_until_ok(name, &format!("http://{web}/healthz"))
                    .await
            }
            Kind::Shop => {
                let words = def
                    .command
                    .as_ref()
                    .map(|c| c.words())
                    .filter(|w| !w.is_empty())
                    .with_context(|| format!("`{name}` has no command"))?;
                if let Some(tag) = container_tag() {
                    let cname = self.container_name(name);
                    let cmd = container(&cname, &words[0], &words[1..], &env, &[], &tag);
                    self.spawn(name, kind, cmd)?;
                    self.running.last_mut().expect("just started").container = Some(cname);
                    return self.wait_healthy(name).await;
                }
                let bin_dir = std::env::var_os("SHOP_COMPOSE_BIN_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| self.root.join("target/release"));
                let program = bin_dir.join(&words[0]);
                if !program.is_file() {
                    bail!(
                        "{} is missing: build it with `cargo build --release -p {}`",
                        program.display(),
                        words[0]
                    );
                }
                let home = self.work.join("home").join(name);
                std::fs::create_dir_all(&home)?;
                let mut cmd = Command::new(program);
                cmd.args(&words[1..])
                    .env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .env("HOME", &home)
                    .envs(&env)
                    .current_dir(&home);
                self.spawn(name, kind, cmd)?;
                self.wait_healthy(name).await
            }
            Kind::Web => {
                self.start_nginx(name)?;
                self.wait_healthy(name).await
            }
            Kind::Metrics => {
                self.start_prometheus(name)?;
                self.wait_healthy(name).await
            }
            Kind::Dashboards => self.check_grafana(name),
            // The services export to this address whether anything takes
            // the spans or not; the compose test listens there.
            Kind::Traces => Ok(()),
        }
    }

    fn spawn(&mut self, name: &str, kind: Kind, mut cmd: Command) -> Result<()> {
        let log = self.log_dir().join(format!("{name}.log"));
        let file = std::fs::File::create(&log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting `{name}`"))?;
        self.running.push(Running {
            name: name.to_owned(),
            kind,
            child,
            log,
            container: None,
        });
        Ok(())
    }

    /// Fails at once when the process has already exited.
    fn ensure_alive(&mut self, name: &str) -> Result<()> {
        let running = self
            .running
            .iter_mut()
            .find(|r| r.name == name)
            .with_context(|| format!("`{name}` was never started"))?;
        if let Some(status) = running.child.try_wait()? {
            bail!(
                "`{name}` exited with {status} while starting; its log ({}) ends:\n{}",
                running.log.display(),
                tail(&running.log)
            );
        }
        Ok(())
    }

    /// Stops everything in the reverse order (SIGTERM, as `docker compose
    /// down` does) and drops the throwaway databases. Fails when a service
    /// did not stop cleanly and in time.
    pub async fn down(mut self) -> Result<()> {
        let mut problems = Vec::new();
        while let Some(mut running) = self.running.pop() {
            let ours = running.kind == Kind::Shop;
            // Docker's own grace period for the third-party containers:
            // LocalStack, for one, finishes a pending long poll first.
            let limit = if ours { STOP_LIMIT } else { STANDIN_STOP_LIMIT };
            let stopped = stop(&mut running.child, limit).await;
            // Whatever became of the client, its container goes too.
            if let Some(container) = running.container.take() {
                remove_container(&container);
            }
            match stopped {
                Ok(status) if ours && !status.success() => {
                    problems.push(format!(
                        "`{}` exited with {status} on SIGTERM",
                        running.name
                    ));
                }
                Err(e) if ours => problems.push(format!("`{}`: {e:#}", running.name)),
                _ => {}
            }
        }
        if let Err(e) = self.drop_databases().await {
            problems.push(format!("dropping the throwaway databases: {e:#}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("{}", problems.join("; "))
        }
    }

    async fn drop_databases(&self) -> Result<()> {
        let mut conn = PgConnection::connect(&self.admin_url).await?;
        for name in &self.databases {
            // A plain identifier, checked when the name was made.
            sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                .execute(&mut conn)
                .await?;
        }
        Ok(())
    }
}

mod addresses;
mod health;
mod process;
mod standins;

use addresses::admin_url;
use process::{container, container_tag, stop};

#[cfg(test)]
mod tests {
    use super::addresses::host_port;

    #[test]
    fn the_server_of_a_database_url_is_found() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432/postgres"),
            "127.0.0.1:5432"
        );
        assert_eq!(host_port("postgres://u:p@db/x?sslmode=disable"), "db:5432");
    }
}
