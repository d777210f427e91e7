//! `cargo xtask up` runs the whole platform; `cargo xtask test` installs and
//! starts what the tests need, then runs every check.

mod envcheck;
mod standins;
mod tools;
mod web;

use anyhow::{Context, Result, bail};
use std::{
    net::{SocketAddr, TcpStream, ToSocketAddrs},
    path::PathBuf,
    process::{Command, ExitCode},
    time::{Duration, Instant},
};
use xshell::{Shell, cmd};

const USAGE: &str = "usage: cargo xtask <command>

  up     build and run the whole platform on embedded defaults (Ctrl-C stops it)
  test   install and start the test stand-ins, then run every check and test
  bench  the load benchmark: the release platform on throwaway databases, goose
         scenarios, nginx beside the gateway; the table goes to target/bench
         (arguments after `bench` go to shop-bench: --url, --seconds, --users, --only)
  web    build the web app into web/dist
  env    check that .env.example lists every variable the code reads, and no other
  standins  install and start the test stand-ins (moto, maildev, oidc-provider-mock)
         and keep them running, to run single tests by hand (Ctrl-C stops them)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = Shell::new().map_err(anyhow::Error::from).and_then(|sh| {
        sh.change_dir(project_root());
        match args.first().map(String::as_str) {
            Some("up") => up(&sh).map(|()| true),
            Some("test") => test(&sh),
            Some("bench") => bench(&sh, &args[1..]).map(|()| true),
            Some("env") => envcheck::check(&project_root()).map(|()| true),
            Some("standins") => standins(&sh).map(|()| true),
            Some("web") => web::ensure_toolchain(&sh)
                .and_then(|()| web::build(&sh))
                .map(|()| true),
            _ => {
                eprintln!("{USAGE}");
                Ok(false)
            }
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's folder).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the root")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"))
}

/// host:port of `POSTGRES_URL` (default the local server).
fn postgres_addr() -> String {
    let url = std::env::var("POSTGRES_URL").unwrap_or_else(|_| "postgres://127.0.0.1:5432".into());
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host_port = host_port
        .split(['/', '?'])
        .next()
        .unwrap_or("127.0.0.1:5432");
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    }
}

fn reachable(addr: &str) -> bool {
    addr.to_socket_addrs()
        .ok()
        .into_iter()
        .flatten()
        .any(|a: SocketAddr| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
}

/// Starts the machine's PostgreSQL cluster if it is installed but stopped.
fn ensure_postgres(sh: &Shell) -> Result<()> {
    let addr = postgres_addr();
    if reachable(&addr) {
        return Ok(());
    }
    if let Ok(entries) = std::fs::read_dir("/etc/postgresql") {
        for version in entries.flatten() {
            let v = version.file_name().to_string_lossy().into_owned();
            println!("xtask: starting PostgreSQL {v}");
            let _ = cmd!(sh, "pg_ctlcluster --skip-systemctl-redirect {v} main start").run();
        }
        for _ in 0..50 {
            if reachable(&addr) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    bail!(
        "PostgreSQL is not reachable at {addr}: start it (`pg_ctlcluster 15 main start`) or set POSTGRES_URL to a running server"
    )
}

fn up(sh: &Shell) -> Result<()> {
    let addr = postgres_addr();
    if !reachable(&addr) {
        bail!(
            "PostgreSQL is not reachable at {addr}: start it (`pg_ctlcluster 15 main start`) or set POSTGRES_URL to a running server"
        );
    }
    web::ensure_toolchain(sh)?;
    web::build(sh)?;
    cmd!(sh, "cargo build --release --package shop-stack --bin shop")
        .run()
        .context("building the platform")?;
    let bin = target_dir().join("release/shop");
    run_in_place(Command::new(bin).current_dir(project_root()))
}

/// `cargo xtask bench [shop-bench arguments]`: installs what the bench
/// needs (the stand-ins, nginx), builds the release binaries and the web app,
/// starts moto and maildev, and runs `shop-bench`.
fn bench(sh: &Shell, args: &[String]) -> Result<()> {
    ensure_postgres(sh)?;
    web::ensure_toolchain(sh)?;
    tools::ensure_test_tools(sh)?;
    web::build(sh)?;
    cmd!(
        sh,
        "cargo build --release --package shop-stack --package shop-bench --package shop-gateway --package shop-users --package shop-products --package shop-orders --package shop-notifications"
    )
    .run()
    .context("building the release binaries")?;
    let _standins = standins::Standins::start_all(&target_dir().join("xtask/logs"))?;
    let _guards: Vec<_> = standins::Standins::test_env()
        .into_iter()
        .map(|(k, v)| sh.push_env(k, v))
        .collect();
    let bench = target_dir().join("release/shop-bench");
    let out = target_dir().join("bench");
    cmd!(sh, "{bench} --out {out} {args...}")
        .run()
        .context("the benchmark failed")?;
    Ok(())
}

/// Replaces this process, so Ctrl-C reaches the platform directly and it
/// shuts down gracefully.
#[cfg(unix)]
fn run_in_place(command: &mut Command) -> Result<()> {
    use std::os::unix::process::CommandExt;
    Err(command.exec()).context("starting the platform")
}

#[cfg(not(unix))]
fn run_in_place(command: &mut Command) -> Result<()> {
    let status = command.status().context("starting the platform")?;
    anyhow::ensure!(status.success(), "the platform exited with {status}");
    Ok(())
}

/// Runs each check, keeps going after a failure, and reports them all.
struct Report {
    steps: Vec<(&'static str, Duration, Result<()>)>,
}

impl Report {
    fn run(&mut self, name: &'static str, f: impl FnOnce() -> Result<()>) {
        println!("\nxtask: ── {name} ──");
        let started = Instant::now();
        let result = f();
        if let Err(e) = &result {
            eprintln!("xtask: {name} FAILED: {e:#}");
        }
        self.steps.push((name, started.elapsed(), result));
    }

    fn print(&self) -> bool {
        println!("\nxtask: summary");
        for (name, took, result) in &self.steps {
            let verdict = if result.is_ok() { "ok" } else { "FAILED" };
            println!("  {verdict:<7} {name:<40} {:>6.1}s", took.as_secs_f32());
        }
        let failed = self.steps.iter().filter(|(_, _, r)| r.is_err()).count();
        if failed == 0 {
            println!("xtask: every step succeeded");
        } else {
            println!("xtask: {failed} step(s) failed");
        }
        failed == 0
    }
}

/// A test that panicked could not drop its throwaway databases; do it now.
fn drop_leftover_test_databases() {
    let psql = |sql: &str| {
        Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-Atqc",
                sql,
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let Some(list) = psql(r"SELECT datname FROM pg_database WHERE datname LIKE 'shop\_test\_%'")
    else {
        return;
    };
    let names: Vec<&str> = list
        .lines()
        .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    for name in &names {
        psql(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#));
    }
    if !names.is_empty() {
        println!("xtask: dropped {} leftover test database(s)", names.len());
    }
}

/// The stand-ins alone, until interrupted.
fn standins(sh: &Shell) -> Result<()> {
    tools::ensure_test_tools(sh)?;
    let _standins = standins::Standins::start_all(&target_dir().join("xtask/logs"))?;
    println!("xtask: stand-ins running; the tests find them at:");
    for (k, v) in standins::Standins::test_env() {
        println!("  {k}={v}");
    }
    loop {
        std::thread::park();
    }
}

fn test(sh: &Shell) -> Result<bool> {
    let started = Instant::now();
    ensure_postgres(sh)?;
    web::ensure_toolchain(sh)?;
    tools::ensure_test_tools(sh)?;
    let logs = target_dir().join("xtask/logs");
    let _standins = standins::Standins::start_all(&logs)?;
    println!("xtask: set-up took {:.0}s", started.elapsed().as_secs_f32());

    let mut env = standins::Standins::test_env();
    env.push((
        "SHOP_WEB_DIST",
        project_root().join("web/dist").display().to_string(),
    ));
    env.push((
        "SHOP_TEST_ARTIFACTS",
        target_dir().join("test-artifacts").display().to_string(),
    ));
    let _guards: Vec<_> = env.iter().map(|(k, v)| sh.push_env(k, v)).collect();

    drop_leftover_test_databases();
    let mut report = Report { steps: Vec::new() };
    report.run("cargo fmt --check", || {
        cmd!(sh, "cargo fmt --all -- --check").run()?;
        cmd!(
            sh,
            "cargo fmt --manifest-path web/Cargo.toml --all -- --check"
        )
        .run()?;
        Ok(())
    });
    report.run("configuration documented (.env.example)", || {
        envcheck::check(&project_root())
    });
    report.run("cargo clippy -D warnings", || {
        cmd!(sh, "cargo clippy --workspace --all-targets -- -D warnings").run()?;
        Ok(())
    });
    // The web crate's own rules and lints, checked natively: run from the
    // root so web/.cargo/config.toml (the wasm settings) is not read.
    report.run("web clippy and unit tests (native)", || {
        cmd!(
            sh,
            "cargo clippy --manifest-path web/Cargo.toml --all-targets -- -D warnings"
        )
        .run()?;
        cmd!(sh, "cargo test --manifest-path web/Cargo.toml").run()?;
        Ok(())
    });
    report.run("web build (wasm + css)", || web::build(sh));
    report.run("cargo test (unit and integration)", || {
        cmd!(sh, "cargo test --workspace").run()?;
        Ok(())
    });
    // The API against its own OpenAPI document (crates/tests/tests/contract.rs).
    report.run("API contract (schemathesis)", || {
        let _st = sh.push_env("SHOP_SCHEMATHESIS", tools::schemathesis_bin());
        cmd!(
            sh,
            "cargo test --package shop-tests --test contract -- --ignored --nocapture"
        )
        .run()?;
        Ok(())
    });
    report.run("browser tests (headless Chromium)", || {
        cmd!(
            sh,
            "cargo test --package shop-browser-tests -- --ignored --test-threads 1"
        )
        .run()?;
        Ok(())
    });
    // `docker compose up` replayed without Docker: the release binaries
    // with compose's environment, LocalStack with its init script, the web
    // image's nginx configuration (crates/compose-check).
    report.run("docker compose (config, native replay)", || {
        cmd!(sh, "docker-compose -f docker-compose.yml config -q").run()?;
        cmd!(
            sh,
            "cargo build --release --package shop-gateway --package shop-users --package shop-products --package shop-orders --package shop-notifications"
        )
        .run()?;
        let _path = sh.push_env("PATH", tools::standins_path()?);
        let _bins = sh.push_env("SHOP_COMPOSE_BIN_DIR", target_dir().join("release"));
        let _localstack = sh.push_env("SHOP_LOCALSTACK_PYTHON", tools::localstack_python());
        cmd!(
            sh,
            "cargo test --package shop-compose-check --test compose_up -- --ignored"
        )
        .run()?;
        Ok(())
    });
    let ok = report.print();
    println!(
        "xtask: test took {:.0}s in all",
        started.elapsed().as_secs_f32()
    );
    Ok(ok)
}
