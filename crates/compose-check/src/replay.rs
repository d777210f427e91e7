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

/// The PostgreSQL server the tests use: `DATABASE_URL`, on its `postgres` database.
fn admin_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    match url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/postgres"),
        None => url,
    }
}

/// `host:port` of a PostgreSQL URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = rest.split(['/', '?']).next().unwrap_or("127.0.0.1");
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:{POSTGRES_PORT}")
    }
}

fn plain_identifier(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// With `SHOP_COMPOSE_IMAGES=<tag>` the shop's services run as the
/// containers `cargo xtask images` built (`localhost/<binary>:<tag>`),
/// not as processes.
fn container_tag() -> Option<String> {
    std::env::var("SHOP_COMPOSE_IMAGES")
        .ok()
        .filter(|t| !t.is_empty())
}

/// `podman run` of a service's image as compose would run it: its
/// environment, read-only, as the image's unprivileged user. The host's
/// network stands in for compose's (every address is already moved to
/// loopback); `podman run` passes SIGTERM on and exits with the service.
fn container(
    container: &str,
    image: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
    mounts: &[String],
    tag: &str,
) -> Command {
    let mut cmd = Command::new("podman");
    cmd.args(["--runtime=runc", "--cgroup-manager=cgroupfs", "run", "--rm"])
        .arg(format!("--name={container}"))
        .args([
            "--network=host",
            "--read-only",
            "--ulimit=nofile=20000:20000",
            "--ulimit=nproc=1000:1000",
            "--stop-timeout=20",
        ]);
    for (key, value) in env {
        cmd.arg("--env").arg(format!("{key}={value}"));
    }
    for mount in mounts {
        cmd.arg(format!("--volume={mount}"));
    }
    cmd.arg(format!("localhost/{image}:{tag}")).args(args);
    cmd
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

    fn assign_addresses(&mut self) -> Result<()> {
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
    fn map_hosts(&self, value: &str) -> String {
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
    fn map_own_ports(&self, service: &str, value: &str) -> String {
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

    fn map_environments(&mut self, tag: &str) -> Result<()> {
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
    fn throwaway_database(&mut self, url: &str, tag: &str) -> Result<String> {
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

    /// The host file mounted at `container` in `name`.
    fn mounted(&self, name: &str, container: &str) -> Result<PathBuf> {
        self.def(name)
            .volumes
            .iter()
            .find_map(|v| {
                let mut parts = v.split(':');
                let (host, at) = (parts.next()?, parts.next()?);
                (at == container).then(|| PathBuf::from(host))
            })
            .with_context(|| format!("`{name}` mounts nothing at {container}"))
    }

    /// `service:port` of the compose network → where it runs here.
    fn moved(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for ((service, port), address) in &self.addresses {
            out = out.replace(&format!("{service}:{port}"), address);
        }
        out
    }

    /// Prometheus with the compose file's configuration, its scrape
    /// targets moved to where the services run here.
    fn start_prometheus(&mut self, name: &str) -> Result<()> {
        let config = self.mounted(name, "/etc/prometheus/prometheus.yml")?;
        let text = std::fs::read_to_string(&config)
            .with_context(|| format!("reading {}", config.display()))?;
        let dir = self.work.join("prometheus");
        std::fs::create_dir_all(&dir)?;
        let moved = dir.join("prometheus.yml");
        std::fs::write(&moved, self.moved(&text))?;
        let address = self.addresses[&(name.to_owned(), PROMETHEUS_PORT)].clone();
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", moved.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .current_dir(&dir);
        self.spawn(name, Kind::Metrics, cmd)
    }

    /// Grafana is not run here; what it would load is checked: the
    /// datasource points at a compose service, and the dashboards parse.
    fn check_grafana(&self, name: &str) -> Result<()> {
        let provisioning = self.mounted(name, "/etc/grafana/provisioning")?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(provisioning.join("datasources"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yml"))
            .collect();
        files.sort();
        ensure!(!files.is_empty(), "grafana has no datasource");
        for file in files {
            let sources: serde_norway::Value =
                serde_norway::from_str(&std::fs::read_to_string(&file)?)?;
            let url = sources["datasources"][0]["url"]
                .as_str()
                .with_context(|| format!("{}: a datasource url", file.display()))?;
            let target = url.trim_start_matches("http://").trim_end_matches('/');
            let known = self
                .addresses
                .keys()
                .any(|(service, port)| format!("{service}:{port}") == target);
            ensure!(known, "grafana's datasource {url} is no compose service");
        }
        for panel_source in crate::dashboards(&self.mounted(name, "/var/lib/grafana/dashboards")?)?
        {
            ensure!(
                !panel_source.1.is_empty(),
                "{}: a dashboard without queries",
                panel_source.0
            );
        }
        Ok(())
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

    async fn wait_until_ok(&mut self, name: &str, url: &str) -> Result<()> {
        let words = vec![
            "CMD".to_owned(),
            "curl".into(),
            "-fsS".into(),
            "-o".into(),
            "/dev/null".into(),
            url.to_owned(),
        ];
        self.wait_for(name, &words).await
    }

    /// Runs the compose health check until it passes.
    async fn wait_healthy(&mut self, name: &str) -> Result<()> {
        let words = self
            .def(name)
            .healthcheck_words()
            .with_context(|| format!("`{name}` has no health check to wait on"))?;
        // `$$` is compose's escape for a literal `$`.
        let words: Vec<String> = words
            .iter()
            .map(|w| self.map_own_ports(name, &w.replace("$$", "$")))
            .collect();
        self.wait_for(name, &words).await
    }

    async fn wait_for(&mut self, name: &str, words: &[String]) -> Result<()> {
        let started = Instant::now();
        // A check runs inside its container, where `awslocal` reaches
        // LocalStack on localhost: here that is its mapped address.
        let check_env: Vec<(String, String)> = self
            .addresses
            .get(&(name.to_owned(), LOCALSTACK_PORT))
            .filter(|_| Kind::of(name, self.def(name)).ok() == Some(Kind::Broker))
            .map(|address| {
                vec![
                    ("AWS_ENDPOINT_URL".to_owned(), format!("http://{address}")),
                    ("AWS_ACCESS_KEY_ID".to_owned(), "test".to_owned()),
                    ("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
                    ("AWS_DEFAULT_REGION".to_owned(), "us-east-1".to_owned()),
                    ("DISABLE_DEPRECATION_NOTICE".to_owned(), "1".to_owned()),
                ]
            })
            .unwrap_or_default();
        loop {
            self.ensure_alive(name)?;
            if run_check(words, &check_env).await? {
                return Ok(());
            }
            if started.elapsed() > START_LIMIT {
                let log = self.log_dir().join(format!("{name}.log"));
                bail!(
                    "`{name}` not healthy after {}s (`{}`); its log ends:\n{}",
                    START_LIMIT.as_secs(),
                    words.join(" "),
                    tail(&log)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// LocalStack as a host process: its file-system root is a work folder,
    /// where the compose volumes are linked at their container paths, and it
    /// listens on loopback only (the hypercorn server honours the address).
    fn start_localstack(&mut self, name: &str, env: &BTreeMap<String, String>) -> Result<()> {
        let address = self.addresses[&(name.to_owned(), LOCALSTACK_PORT)].clone();
        let dir = self.work.join("localstack");
        let fs_root = dir.join("fs");
        for volume in &self.def(name).volumes {
            let mut parts = volume.split(':');
            let (Some(host), Some(container)) = (parts.next(), parts.next()) else {
                bail!("`{name}`: volume `{volume}` is not host:container");
            };
            let link = fs_root.join(container.trim_start_matches('/'));
            std::fs::create_dir_all(link.parent().context("volume path")?)?;
            std::os::unix::fs::symlink(host, &link)
                .with_context(|| format!("linking {host} at {}", link.display()))?;
        }
        let python = std::env::var_os("SHOP_LOCALSTACK_PYTHON")
            .map(PathBuf::from)
            .context("SHOP_LOCALSTACK_PYTHON names no LocalStack interpreter (`cargo xtask test` installs one)")?;
        let home = dir.join("home");
        std::fs::create_dir_all(&home)?;
        let mut cmd = Command::new(python);
        cmd.args(["-m", "localstack.runtime.main"])
            .envs(env)
            // What differs from the container: paths, the listen address,
            // and nothing of LocalStack's that reaches beyond this machine.
            .env("OVERRIDE_IN_DOCKER", "0")
            .env("FILESYSTEM_ROOT", &fs_root)
            .env("CONFIG_DIR", dir.join("config"))
            .env("HOME", &home)
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("GATEWAY_SERVER", "hypercorn")
            .env("GATEWAY_LISTEN", &address)
            .env("LOCALSTACK_HOST", &address)
            .env("DNS_ADDRESS", "0")
            .env("DISABLE_EVENTS", "1")
            .env("SKIP_SSL_CERT_DOWNLOAD", "1")
            // Inside the container `awslocal` finds LocalStack on localhost.
            .env("AWS_ENDPOINT_URL", format!("http://{address}"))
            .env("DISABLE_DEPRECATION_NOTICE", "1");
        self.spawn(name, Kind::Broker, cmd)
    }

    /// The init scripts again, against the running LocalStack.
    async fn run_init_scripts(&self, endpoint: &str, region: &str) -> Result<()> {
        let dir = self
            .work
            .join("localstack/fs")
            .join(INIT_SCRIPTS.trim_start_matches('/'));
        let mut scripts: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "sh"))
            .collect();
        scripts.sort();
        if scripts.is_empty() {
            bail!("no init scripts in {}", dir.display());
        }
        for script in scripts {
            let out = Command::new("bash")
                .arg(&script)
                .env("AWS_ENDPOINT_URL", format!("http://{endpoint}"))
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("AWS_DEFAULT_REGION", region)
                .env("DISABLE_DEPRECATION_NOTICE", "1")
                .output()
                .await
                .with_context(|| format!("running {}", script.display()))?;
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if !out.status.success() {
                bail!(
                    "{} failed when run again ({}):\n{text}",
                    script.display(),
                    out.status
                );
            }
            println!(
                "compose check: {} run again: {}",
                script.file_name().unwrap_or_default().to_string_lossy(),
                text.trim()
            );
        }
        Ok(())
    }

    /// The compose role exists (trust auth here, so only its name matters)
    /// and may create the databases the services ask for.
    async fn prepare_postgres(&self, env: &BTreeMap<String, String>) -> Result<()> {
        let user = env.get("POSTGRES_USER").map_or("postgres", String::as_str);
        let password = env.get("POSTGRES_PASSWORD").map_or("", String::as_str);
        if !plain_identifier(user) || !password.chars().all(|c| c.is_ascii_alphanumeric()) {
            bail!("the compose PostgreSQL user and password must be plain words");
        }
        let mut conn = PgConnection::connect(&self.admin_url)
            .await
            .with_context(|| format!("connecting to {}", self.admin_url))?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(user)
                .fetch_one(&mut conn)
                .await?;
        // Identifiers and role passwords cannot be bound; both were checked
        // to be plain words above.
        let statement = if exists {
            format!(r#"ALTER ROLE "{user}" LOGIN CREATEDB PASSWORD '{password}'"#)
        } else {
            format!(r#"CREATE ROLE "{user}" LOGIN CREATEDB PASSWORD '{password}'"#)
        };
        sqlx::query(&statement)
            .execute(&mut conn)
            .await
            .context("creating the compose database role")?;
        Ok(())
    }

    fn start_nginx(&mut self, name: &str) -> Result<()> {
        let dist = std::env::var_os("SHOP_WEB_DIST")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.root.join("web/dist"));
        if !dist.join("index.html").is_file() {
            bail!(
                "the web app is not built at {}: run `cargo xtask web`",
                dist.display()
            );
        }
        let dir = self.work.join("nginx");
        for sub in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let port = self.def(name).target_ports()[0];
        let listen = self.addresses[&(name.to_owned(), port)]
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .context("web address")?;
        let conf = std::fs::read_to_string(self.root.join("web/nginx.conf"))?;
        if let Some(tag) = container_tag() {
            // The image's own files and log links; only the site's listen
            // address and the gateway's address are moved.
            let site = nginx::render_site(&nginx::Site {
                conf: &self.map_hosts(&conf),
                container_port: port,
                listen_port: listen,
                root: Path::new("/usr/share/nginx/html"),
                log_dir: Path::new("/var/log/nginx"),
            })?;
            let site_path = dir.join("default.conf");
            std::fs::write(&site_path, site)?;
            let mount = format!("{}:/etc/nginx/conf.d/default.conf:ro", site_path.display());
            let cname = self.container_name(name);
            let cmd = container(&cname, "shop-web", &[], &BTreeMap::new(), &[mount], &tag);
            self.spawn(name, Kind::Web, cmd)?;
            self.running.last_mut().expect("just started").container = Some(cname);
            return Ok(());
        }
        let site = nginx::render_site(&nginx::Site {
            conf: &self.map_hosts(&conf),
            container_port: port,
            listen_port: listen,
            root: &dist,
            log_dir: &dir.join("logs"),
        })?;
        let site_path = dir.join("default.conf");
        std::fs::write(&site_path, site)?;
        let main = dir.join("nginx.conf");
        std::fs::write(&main, nginx::main_conf(&dir, &site_path))?;
        // Debian installs it in /usr/sbin, which a user's PATH may lack.
        let nginx = Path::new("/usr/sbin/nginx");
        let mut cmd = Command::new(if nginx.is_file() {
            nginx
        } else {
            Path::new("nginx")
        });
        cmd.arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&main)
            .arg("-e")
            .arg(dir.join("error.log"));
        self.spawn(name, Kind::Web, cmd)
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

/// Runs a compose health check command (`CMD ...` or `CMD-SHELL ...`);
/// true when it exits 0 within 5 seconds.
async fn run_check(words: &[String], env: &[(String, String)]) -> Result<bool> {
    let mut cmd = match words.first().map(String::as_str) {
        Some("CMD") if words.len() > 1 => {
            let mut c = Command::new(&words[1]);
            c.args(&words[2..]);
            c
        }
        Some("CMD-SHELL") if words.len() == 2 => {
            let mut c = Command::new("sh");
            c.arg("-c").arg(&words[1]);
            c
        }
        _ => bail!("unsupported health check `{}`", words.join(" ")),
    };
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("running `{}`", words.join(" ")))?;
    match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
        Ok(status) => Ok(status?.success()),
        Err(_) => Ok(false),
    }
}

/// SIGTERM, then SIGKILL if the process is still there after `limit`.
async fn stop(child: &mut Child, limit: Duration) -> Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        bail!("had already exited with {status}");
    }
    let pid = child.id().context("no process id")?;
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .context("sending SIGTERM")?;
    match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => Ok(status?),
        Err(_) => {
            child.kill().await?;
            bail!("still running {}s after SIGTERM", limit.as_secs())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_of_a_database_url_is_found() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432/postgres"),
            "127.0.0.1:5432"
        );
        assert_eq!(host_port("postgres://u:p@db/x?sslmode=disable"), "db:5432");
    }
}
