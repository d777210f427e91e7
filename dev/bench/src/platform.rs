//! The platform under load: the release `shop` binary on throwaway
//! databases and free ports, nginx in front of its products service, and
//! each service binary alone for its idle memory. Or a running platform
//! (`--url`), which is only read.

use crate::Options;
use anyhow::{Context, Result, bail};
use std::{
    collections::BTreeMap,
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};
use tokio::process::{Child, Command};

/// The throwaway platform's administrator, created at start-up.
pub const ADMIN_EMAIL: &str = "admin@bench.shop";
pub const ADMIN_PASSWORD: &str = "bench-admin-password";
const SERVICES: [&str; 4] = ["users", "products", "orders", "notifications"];

/// Where a scenario sends its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Gateway,
    /// Straight to the products service.
    Direct,
    /// nginx in front of the products service.
    Nginx,
}

pub struct Platform {
    pub gateway: String,
    products: Option<String>,
    nginx: Option<String>,
    web: Option<String>,
    inbox: Option<String>,
    shop: Option<Child>,
    nginx_process: Option<Child>,
    databases: Vec<String>,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// `postgres://host:port` without a database.
fn postgres_server() -> String {
    env_or("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
        .trim_end_matches('/')
        .to_owned()
}

pub fn moto_url() -> String {
    env_or("TEST_AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
}

fn smtp_url() -> String {
    env_or("TEST_SMTP_URL", "smtp://127.0.0.1:1025")
}

/// Where order events and mail go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Events {
    /// As `cargo xtask up`: the in-process bus, mail over SMTP to the
    /// platform's own inbox.
    Embedded,
    /// SNS and SQS on moto; mail over SMTP to the platform's inbox, whose
    /// API says when each message arrived, to the nanosecond (maildev's
    /// `time` is the email's `Date` header, whole seconds).
    Moto,
}

/// A release binary built next to this one.
fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(name);
    if !path.is_file() {
        bail!(
            "{} is missing: build it with `cargo build --release -p shop-stack` (cargo xtask bench does)",
            path.display()
        );
    }
    Ok(path)
}

/// Resident memory of a process, in bytes.
pub fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

async fn wait_healthy(url: &str, limit: Duration) -> Result<()> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(resp) = client.get(format!("{url}/health")).send().await
            && resp.status().is_success()
        {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            if body["status"] != "degraded" && body["status"] != "unhealthy" {
                return Ok(());
            }
        }
        if started.elapsed() > limit {
            bail!("{url} did not become healthy within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts `command` with its output in `<out>/<name>.log`, killed if dropped.
fn spawn_logged(command: &mut Command, out: &Path, name: &str) -> Result<Child> {
    let file = std::fs::File::create(out.join(format!("{name}.log")))?;
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {name} (see {}/{name}.log)", out.display()))
}

/// The throwaway databases named in `env`.
fn databases(env: &BTreeMap<String, String>) -> Vec<String> {
    env.iter()
        .filter(|(k, _)| k.ends_with("_DATABASE_URL"))
        .map(|(_, v)| v.clone())
        .collect()
}

async fn drop_databases(urls: &[String]) {
    let server = postgres_server();
    for url in urls {
        let Some(name) = url.rsplit('/').next() else {
            continue;
        };
        let _ = Command::new("psql")
            .arg(format!("{server}/postgres"))
            .args(["-q", "-c"])
            .arg(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
}

/// The variables every part of a throwaway platform shares.
fn common_env(tag: &str) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = [
        ("SHOP_ENV", "development".to_owned()),
        ("HOST", "127.0.0.1".to_owned()),
        ("RUST_LOG", env_or("RUST_LOG", "info,sqlx=warn")),
        ("ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("SEED_DEMO_CATALOGUE", "false".to_owned()),
        // As the service images and `cargo xtask up` set it.
        ("MIMALLOC_PURGE_DELAY", "0".to_owned()),
        ("REGISTRATIONS_PER_ADDRESS", "100000".to_owned()),
        ("LOGIN_FAILURES_PER_ADDRESS", "100000".to_owned()),
        ("AWS_ACCESS_KEY_ID", "bench".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "bench".to_owned()),
        ("ORDER_EVENTS_TOPIC", format!("bench-order-events-{tag}")),
        ("NOTIFICATION_QUEUE", format!("bench-notifications-{tag}")),
        ("NOTIFICATION_DLQ", format!("bench-notifications-dlq-{tag}")),
        ("WEB_DIST_DIR", "web/dist".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for svc in SERVICES {
        env.insert(
            format!("{}_DATABASE_URL", svc.to_uppercase()),
            format!("{}/shop_bench_{tag}_{svc}", postgres_server()),
        );
    }
    env
}

impl Platform {
    pub fn external(url: &str) -> Self {
        Self {
            gateway: url.to_owned(),
            products: None,
            nginx: None,
            web: None,
            inbox: None,
            shop: None,
            nginx_process: None,
            databases: Vec::new(),
        }
    }

    /// Starts `shop` (release) and nginx; waits until both answer.
    /// With `otlp`, every request is sampled and its spans exported there.
    pub async fn start(options: &Options, events: Events, otlp: Option<&str>) -> Result<Self> {
        let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        let mut env = common_env(&tag);
        if events == Events::Moto {
            env.insert("AWS_ENDPOINT_URL".into(), moto_url());
        }
        if let Some(url) = otlp {
            env.insert("OTEL_EXPORTER_OTLP_ENDPOINT".into(), url.to_owned());
            env.insert("OTEL_TRACES_SAMPLER".into(), "always_on".into());
        }
        let mut ports = BTreeMap::new();
        for part in [
            "GATEWAY",
            "WEB",
            "USERS",
            "PRODUCTS",
            "ORDERS",
            "NOTIFICATIONS",
            "INBOX",
            "INBOX_SMTP",
        ] {
            let port = free_port()?;
            ports.insert(part, port);
            env.insert(format!("{part}_PORT"), port.to_string());
        }
        let url = |part: &str| format!("http://127.0.0.1:{}", ports[part]);
        let databases = databases(&env);
        let shop = spawn_logged(
            Command::new(sibling("shop")?).envs(&env),
            &options.out,
            "platform",
        )?;
        let mut platform = Self {
            gateway: url("GATEWAY"),
            products: Some(url("PRODUCTS")),
            nginx: None,
            web: Some(url("WEB")),
            inbox: Some(url("INBOX")),
            shop: Some(shop),
            nginx_process: None,
            databases,
        };
        if let Err(e) = wait_healthy(&platform.gateway, Duration::from_secs(120)).await {
            platform.stop().await;
            return Err(e.context(format!(
                "the platform did not start (see {}/platform.log)",
                options.out.display()
            )));
        }
        let nginx_port = free_port()?;
        match start_nginx(&options.out, nginx_port, ports["PRODUCTS"]).await {
            Ok(child) => {
                platform.nginx_process = Some(child);
                platform.nginx = Some(format!("http://127.0.0.1:{nginx_port}"));
            }
            Err(e) => eprintln!("shop-bench: nginx not started, its row is skipped: {e:#}"),
        }
        Ok(platform)
    }

    pub fn base_for(&self, via: Via) -> Option<String> {
        match via {
            Via::Gateway => Some(self.gateway.clone()),
            Via::Direct => self.products.clone(),
            Via::Nginx => self.nginx.clone(),
        }
    }

    pub fn inbox_url(&self) -> Option<String> {
        self.inbox.clone()
    }

    pub fn web_url(&self) -> Option<&str> {
        self.web.as_deref()
    }

    pub fn resident_memory(&self) -> Option<u64> {
        self.shop.as_ref()?.id().and_then(rss)
    }

    /// Stops nginx and the platform (SIGTERM: a graceful shutdown) and drops
    /// the throwaway databases.
    pub async fn stop(mut self) {
        for child in [self.nginx_process.take(), self.shop.take()]
            .into_iter()
            .flatten()
        {
            terminate(child).await;
        }
        drop_databases(&self.databases).await;
    }
}

async fn terminate(mut child: Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

fn nginx_binary() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/nginx");
    if sbin.is_file() {
        sbin
    } else {
        PathBuf::from("nginx")
    }
}

/// nginx as a reverse proxy does the gateway's job for one service: pooled
/// keep-alive upstream connections, one access line per request (buffered),
/// a worker per core.
async fn start_nginx(out: &Path, port: u16, products_port: u16) -> Result<Child> {
    let dir = std::path::absolute(out.join("nginx"))?;
    std::fs::create_dir_all(&dir)?;
    let d = dir.display();
    let conf = format!(
        "worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {d}/access.log combined buffer=64k flush=1s;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream products {{ server 127.0.0.1:{products_port}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://products;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf)?;
    let child = spawn_logged(
        Command::new(nginx_binary())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&path)
            .args(["-g", "daemon off;"]),
        out,
        "nginx",
    )?;
    wait_healthy(&format!("http://127.0.0.1:{port}"), Duration::from_secs(10)).await?;
    Ok(child)
}

/// Each service binary started alone on its own database, measured once it
/// answers and has settled.
pub async fn services_idle(options: &Options) -> Result<BTreeMap<String, u64>> {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut env = common_env(&tag);
    env.insert("AWS_ENDPOINT_URL".into(), moto_url());
    env.insert("SMTP_URL".into(), smtp_url());
    let databases = databases(&env);
    let mut urls = BTreeMap::new();
    for part in ["users", "products", "orders", "notifications", "gateway"] {
        let port = free_port()?;
        env.insert(format!("{}_PORT", part.to_uppercase()), port.to_string());
        urls.insert(part, format!("http://127.0.0.1:{port}"));
    }
    let users = &urls["users"];
    env.insert("JWKS_URL".into(), format!("{users}/.well-known/jwks.json"));
    env.insert(
        "REVOCATIONS_URL".into(),
        format!("{users}/internal/revocations"),
    );
    for (svc, url) in &urls {
        env.insert(format!("{}_SERVICE_URL", svc.to_uppercase()), url.clone());
    }
    let mut children = Vec::new();
    let mut measured = BTreeMap::new();
    let outcome: Result<()> = async {
        // The users service first: the others follow its keys.
        for part in ["users", "products", "orders", "notifications", "gateway"] {
            let child = spawn_logged(
                Command::new(sibling(&format!("shop-{part}"))?).envs(&env),
                &options.out,
                &format!("alone-{part}"),
            )?;
            children.push((part, child));
            wait_healthy(&urls[part], Duration::from_secs(60))
                .await
                .with_context(|| format!("shop-{part} alone (see {part}.log)"))?;
        }
        // Idle: start-up work (migrations, JWKS, queue set-up) is over.
        tokio::time::sleep(Duration::from_secs(3)).await;
        for (part, child) in &children {
            if let Some(bytes) = child.id().and_then(rss) {
                measured.insert((*part).to_owned(), bytes);
            }
        }
        Ok(())
    }
    .await;
    for (_, child) in children.into_iter().rev() {
        terminate(child).await;
    }
    drop_databases(&databases).await;
    outcome.map(|()| measured)
}

/// What a browser downloads on its first visit to the web app: the page,
/// then every script, module, style sheet and wasm file it names (and the
/// files those name), as they cross the wire with `br, gzip` accepted.
pub async fn web_first_load(web: &str) -> Result<WebLoad> {
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .build()?;
    let mut load = WebLoad::default();
    let mut queue = vec!["/".to_owned()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(path) = queue.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let resp = client
            .get(format!("{web}{path}"))
            .header("accept-encoding", "br, gzip")
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("{path}: {}", resp.status());
        }
        let encoding = resp
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity")
            .to_owned();
        let cache = resp
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = resp.bytes().await?;
        load.files.push(WebFile {
            path: path.clone(),
            bytes: body.len() as u64,
            encoding,
            cache_control: cache,
        });
        load.total_bytes += body.len() as u64;
        if path == "/" || path.split('?').next().is_some_and(|f| f.ends_with(".js")) {
            // Read again as plain text to find what it loads.
            let plain = client
                .get(format!("{web}{path}"))
                .send()
                .await?
                .text()
                .await?;
            queue.extend(referenced_assets(&plain));
        }
    }
    Ok(load)
}

/// `/x.js`, `/x.wasm`, `/x.css` named in a page or a script.
fn referenced_assets(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for piece in text.split(['"', '\'', '(', ')', ' ']) {
        let piece = piece.trim_start_matches("./");
        let file = piece.split('?').next().unwrap_or(piece);
        // Only what the page and boot script name with their version: the
        // bundle's own fallback names are never fetched by the browser.
        if piece.contains("?v=")
            && [".js", ".wasm", ".css"]
                .iter()
                .any(|ext| file.ends_with(ext))
            && !piece.contains("//")
            && !piece.contains(['<', '>', '{', '}', '$'])
            && piece.len() < 200
        {
            let path = if piece.starts_with('/') {
                piece.to_owned()
            } else {
                format!("/{piece}")
            };
            found.push(path);
        }
    }
    found
}

#[derive(Debug, Default, serde::Serialize)]
pub struct WebLoad {
    pub total_bytes: u64,
    pub files: Vec<WebFile>,
}

#[derive(Debug, serde::Serialize)]
pub struct WebFile {
    pub path: String,
    pub bytes: u64,
    pub encoding: String,
    pub cache_control: String,
}
