//! `cargo xtask up` runs the whole platform; `cargo xtask test` installs and
//! starts what the tests need, then runs every check.

mod envcheck;
mod images;
mod prereq;
mod standins;
mod steps;
mod tools;
mod web;

use anyhow::{Context, Result};
use std::{
    path::PathBuf,
    process::{Command, ExitCode},
    time::{Duration, Instant},
};
use steps::{Logged, Plan};
use xshell::{Shell, cmd};

const USAGE: &str = "usage: cargo xtask [--verbose] <command>

Each command prints one line per step and keeps the tools' own output in
target/xtask/logs/<command>/<step>.log (its last lines are shown when a step
fails); --verbose shows all of it as it comes.

  up     build and run the whole platform on embedded defaults (Ctrl-C stops it)
  test   install and start the test stand-ins, then run every check and test
  bench  the load benchmark: the release platform on throwaway databases, goose
         scenarios, nginx beside the gateway; the table goes to target/bench
         (arguments after `bench` go to shop-bench: --url, --seconds, --users, --only)
  images build one container image per part with podman (release binaries,
         FROM scratch, non-root, read-only root): localhost/shop-<part>:latest;
         --debug: from the debug binaries, tagged :test (the compose check's)
  web    build the web app into web/dist
  env    check that .env.example lists every variable the code reads, and no other
  standins  install and start the test stand-ins (moto, maildev, oidc-provider-mock)
         and keep them running, to run single tests by hand (Ctrl-C stops them)";

/// Set by `cargo run` for the program it runs. Left in place they reach
/// every nested cargo, and build scripts that track them (ring's does)
/// would see other values than in a build started by hand: every switch
/// between the two would recompile most of the dependency tree.
fn is_cargo_run_var(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
        )
}

/// Runs this program again without `cargo run`'s variables (see above).
#[cfg(unix)]
fn without_cargo_run_vars() {
    use std::os::unix::process::CommandExt;
    let leaked: Vec<_> = std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_str().is_some_and(is_cargo_run_var))
        .collect();
    if leaked.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut again = Command::new(exe);
    again.args(std::env::args_os().skip(1));
    for key in leaked {
        again.env_remove(key);
    }
    let e = again.exec();
    eprintln!("xtask: cannot restart without cargo's variables: {e}");
}

#[cfg(not(unix))]
fn without_cargo_run_vars() {}

fn main() -> ExitCode {
    without_cargo_run_vars();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--verbose" || a == "-v") {
        args.remove(at);
        steps::set_verbose(true);
    }
    let result = Shell::new().map_err(anyhow::Error::from).and_then(|sh| {
        sh.change_dir(project_root());
        match args.first().map(String::as_str) {
            Some("up") => up(&sh).map(|()| true),
            Some("test") => test(&sh),
            Some("bench") => bench(&sh, &args[1..]).map(|()| true),
            Some("env") => envcheck::check(&project_root()).map(|()| true),
            Some("images") => {
                build_images(&sh, args.get(1).map(String::as_str) == Some("--debug")).map(|()| true)
            }
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

/// Every release binary comes from this one `cargo build`: one selection of
/// packages, so one set of features and one profile, and `up`, `bench`,
/// `images` and a multi-replica run share every artefact.
const RELEASE_BUILD: [&str; 13] = [
    "--release",
    "--package",
    "shop-stack",
    "--package",
    "shop-gateway",
    "--package",
    "shop-users",
    "--package",
    "shop-products",
    "--package",
    "shop-orders",
    "--package",
    "shop-notifications",
];

/// `cargo clippy -- -D warnings` hands clippy-driver its arguments so.
const CLIPPY_ARGS: &str = "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__";

/// The ports `cargo xtask up` listens on, by variable and default.
const UP_PORTS: [(&str, u16); 8] = [
    ("GATEWAY_PORT", 3000),
    ("PRODUCTS_PORT", 8001),
    ("ORDERS_PORT", 8002),
    ("USERS_PORT", 8003),
    ("NOTIFICATIONS_PORT", 8004),
    ("WEB_PORT", 8080),
    ("INBOX_PORT", 8025),
    ("INBOX_SMTP_PORT", 1025),
];

/// A first build of everything writes about this much (target/ and web/target).
const COLD_BUILD_GIB: u64 = 12;
const WARM_BUILD_GIB: u64 = 2;

fn need_gib(artefact: &std::path::Path) -> u64 {
    if artefact.exists() {
        WARM_BUILD_GIB
    } else {
        COLD_BUILD_GIB
    }
}

/// The first step of `bench` and `test`: PostgreSQL answers (the machine's
/// own cluster is started if it is stopped) and the disk has room for a
/// build of `artefact` (under the target folder).
fn postgres_and_disk(plan: &mut Plan, artefact: &str) -> Result<()> {
    plan.step(
        "prerequisites",
        "checking PostgreSQL and disk space",
        "",
        || {
            prereq::postgres(true)?;
            prereq::disk_space(&target_dir(), need_gib(&target_dir().join(artefact)))
        },
    )
}

fn release_build(sh: &Shell) -> Result<()> {
    cmd!(sh, "cargo build {RELEASE_BUILD...}")
        .logged()
        .context("building the release binaries")
}

/// The estimate for a step whose output is `artefact`.
fn estimate(artefact: &std::path::Path, cold: &str) -> String {
    if artefact.exists() {
        "seconds when nothing changed".into()
    } else {
        format!("{cold} on 2 cores the first time")
    }
}

/// The native release build and the web app side by side: either alone
/// leaves a core idle in its linking and single-crate stretches.
fn build_platform_and_web(sh: &Shell, plan: &mut Plan) -> Result<()> {
    let release = target_dir().join("release/shop");
    let native = plan.announce(
        "release-build",
        "building the platform (release)",
        &estimate(&release, "about 9 min"),
    )?;
    let web_step = plan.announce(
        "web-build",
        "building the web app (wasm + css), beside it",
        &estimate(&project_root().join("web/dist/index.html"), "about 7 min"),
    )?;
    let web = std::thread::spawn(move || {
        web_step.run(|| {
            let sh = Shell::new()?;
            sh.change_dir(project_root());
            web::build(&sh)
        })
    });
    let native = native.run(|| release_build(sh));
    let web = web
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the web build panicked")));
    native?;
    web
}

fn up(sh: &Shell) -> Result<()> {
    let mut plan = Plan::new(4, &target_dir().join("xtask/logs/up"))?;
    plan.step(
        "prerequisites",
        "checking PostgreSQL, ports and disk space",
        "",
        || {
            prereq::postgres(false)?;
            prereq::ports_free(&UP_PORTS)?;
            prereq::disk_space(&target_dir(), need_gib(&target_dir().join("release/shop")))
        },
    )?;
    build_platform_and_web(sh, &mut plan)?;
    plan.announce(
        "start",
        &format!(
            "starting the platform (built in {}); it prints its addresses once it listens",
            steps::format_duration(plan.elapsed())
        ),
        "",
    )?;
    let bin = target_dir().join("release/shop");
    // As the service images set it (Dockerfile): the allocator returns freed
    // pages at once, 51 → 37 MB idle here, no throughput lost (BENCHMARKS.md).
    run_in_place(
        Command::new(bin)
            .current_dir(project_root())
            .env("MIMALLOC_PURGE_DELAY", "0"),
    )
}

/// `cargo xtask bench [shop-bench arguments]`: installs what the bench
/// needs (the stand-ins, nginx, Lighthouse), builds the release binaries and the web app,
/// starts moto and maildev, and runs `shop-bench`.
fn bench(sh: &Shell, args: &[String]) -> Result<()> {
    let mut plan = Plan::new(6, &target_dir().join("xtask/logs/bench"))?;
    postgres_and_disk(&mut plan, "release/shop")?;
    let lighthouse = plan.step(
        "tools",
        "installing what the bench needs (Debian packages, stand-ins, Lighthouse)",
        "about 3 min on a new machine, a second otherwise",
        || {
            tools::ensure_test_tools(sh)?;
            tools::ensure_lighthouse(sh)
        },
    )?;
    build_platform_and_web(sh, &mut plan)?;
    plan.step(
        "bench-build",
        "building the load generator (release)",
        &estimate(&target_dir().join("release/shop-bench"), "about 2 min"),
        || {
            cmd!(sh, "cargo build --release --package shop-bench")
                .logged()
                .context("building shop-bench")
        },
    )?;
    let started = plan.announce(
        "standins",
        "starting moto and maildev, then the benchmark",
        "about 4 min",
    )?;
    started.run(|| {
        let _standins = standins::Standins::start_all(&target_dir().join("xtask/logs"))?;
        let _guards: Vec<_> = standins::Standins::test_env()
            .into_iter()
            .map(|(k, v)| sh.push_env(k, v))
            .collect();
        let _lighthouse = sh.push_env("SHOP_BENCH_LIGHTHOUSE", &lighthouse);
        let bench = target_dir().join("release/shop-bench");
        let out = target_dir().join("bench");
        // The table is the point: the bench's output is shown as it comes.
        steps::set_verbose(true);
        cmd!(sh, "{bench} --out {out} {args...}")
            .logged()
            .context("the benchmark failed")
    })
}

/// `cargo xtask images`: the release binaries and the web app, then one
/// image per part, tagged `latest`. With `--debug`: from the debug build
/// (what `cargo xtask test` runs the compose check on), tagged `test`.
fn build_images(sh: &Shell, debug: bool) -> Result<()> {
    let mut plan = Plan::new(5, &target_dir().join("xtask/logs/images"))?;
    plan.step("prerequisites", "checking disk space", "", || {
        prereq::disk_space(&target_dir(), need_gib(&target_dir().join("release/shop")))
    })?;
    plan.step(
        "podman",
        "installing podman, buildah, runc and nginx",
        "about a minute on a new machine",
        || images::ensure_podman(sh),
    )?;
    let (bin_dir, tag) = if debug {
        plan.step(
            "debug-build",
            "building the binaries (debug)",
            &estimate(&target_dir().join("debug/shop-gateway"), "about 6 min"),
            || {
                cmd!(sh, "cargo build --workspace --bins")
                    .logged()
                    .context("building the debug binaries")
            },
        )?;
        plan.step("web-build", "building the web app (wasm + css)", "", || {
            web::build(sh)
        })?;
        (target_dir().join("debug"), "test")
    } else {
        build_platform_and_web(sh, &mut plan)?;
        (target_dir().join("release"), "latest")
    };
    plan.step(
        "images",
        "building the images (gateway, users, products, orders, notifications, web)",
        "under a minute",
        || images::build(sh, &bin_dir, tag),
    )
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
    plan: Plan,
    steps: Vec<(String, Duration, Result<()>)>,
}

impl Report {
    fn run(&mut self, slug: &str, name: &str, estimate: &str, f: impl FnOnce() -> Result<()>) {
        let started = Instant::now();
        let result = self.plan.step(slug, name, estimate, f);
        self.steps
            .push((name.to_owned(), started.elapsed(), result));
    }

    fn record(&mut self, name: &str, took: Duration, result: Result<()>) {
        self.steps.push((name.to_owned(), took, result));
    }

    fn print(&self) -> bool {
        println!("\nxtask: summary");
        for (name, took, result) in &self.steps {
            let verdict = if result.is_ok() { "ok" } else { "FAILED" };
            println!("  {verdict:<7} {name:<44} {:>7.1}s", took.as_secs_f32());
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

/// The test targets in a folder of integration tests (`tests/*.rs`), as
/// `--test name` arguments.
fn test_targets(dir: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in
        std::fs::read_dir(project_root().join(dir)).with_context(|| format!("listing {dir}"))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs")
            && let Some(stem) = path.file_stem()
        {
            names.push(stem.to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names
        .into_iter()
        .flat_map(|n| ["--test".to_owned(), n])
        .collect())
}

fn test(sh: &Shell) -> Result<bool> {
    let started = Instant::now();
    let logs = target_dir().join("xtask/logs");
    let mut report = Report {
        plan: Plan::new(13, &logs.join("test"))?,
        steps: Vec::new(),
    };
    postgres_and_disk(&mut report.plan, "debug")?;
    report.plan.step(
        "tools",
        "installing what the tests need (Debian packages, moto, maildev, the OpenID mock, schemathesis, LocalStack)",
        "about 4 min on a new machine, a second otherwise",
        || {
            tools::ensure_test_tools(sh)?;
            images::ensure_podman(sh)
        },
    )?;
    let _standins = report.plan.step(
        "standins",
        "starting the stand-ins (moto, maildev, oidc-provider-mock)",
        "",
        || standins::Standins::start_all(&logs),
    )?;

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
    // The web app is needed only by the browser tests and the compose
    // replay: it builds beside the native steps, which leave a core idle
    // while they link and while the tests wait on the database.
    let web_step = report.plan.announce(
        "web-build",
        "building the web app (wasm + css), beside the next steps",
        &estimate(&project_root().join("web/dist/index.html"), "about 8 min"),
    )?;
    let web = std::thread::spawn(move || {
        let started = Instant::now();
        let built = web_step.run(|| {
            let sh = Shell::new()?;
            sh.change_dir(project_root());
            web::build(&sh)
        });
        (built, started.elapsed())
    });
    report.run("fmt", "cargo fmt --check", "", || {
        cmd!(sh, "cargo fmt --all -- --check").logged()?;
        cmd!(
            sh,
            "cargo fmt --manifest-path web/Cargo.toml --all -- --check"
        )
        .logged()?;
        Ok(())
    });
    report.run("env", "configuration documented (.env.example)", "", || {
        envcheck::check(&project_root())
    });
    report.run(
        "kubernetes",
        "Kubernetes manifests (kustomize render, strict validation)",
        "",
        || {
            for overlay in ["dev", "production"] {
                let dir = project_root()
                    .join("deploy/kubernetes/overlays")
                    .join(overlay);
                let rendered = cmd!(sh, "kubectl kustomize {dir}")
                    .quiet()
                    .read()
                    .with_context(|| format!("rendering the {overlay} overlay"))?;
                let file = logs.join(format!("kubernetes-{overlay}.yaml"));
                std::fs::write(&file, rendered)?;
                let validate = tools::kubernetes_validate_bin();
                cmd!(
                    sh,
                    "{validate} --strict --kubernetes-version 1.32 --quiet {file}"
                )
                .logged()
                .with_context(|| format!("validating the {overlay} overlay"))?;
            }
            Ok(())
        },
    );
    // Lints and tests from one build: every cargo call below runs the
    // workspace's own crates through clippy-driver, as `cargo clippy` does
    // for a check (the same wrapper variable and arguments), but builds
    // them too. So the clippy step's build is the test build, and no step
    // compiles the workspace twice. The web app's wasm build runs with a
    // shell of its own and removes the wrapper.
    let clippy_driver = tools::which("clippy-driver")
        .context("clippy-driver is missing: `rustup component add clippy`")?;
    let _wrapper = sh.push_env("RUSTC_WORKSPACE_WRAPPER", &clippy_driver);
    let _lints = sh.push_env("CLIPPY_ARGS", CLIPPY_ARGS);
    report.run(
        "clippy",
        "cargo clippy -D warnings, building every target for the tests",
        "about 7 min the first time",
        || {
            cmd!(sh, "cargo test --workspace --no-run").logged()?;
            Ok(())
        },
    );
    // The web crate's own rules and lints, checked natively: run from the
    // root so web/.cargo/config.toml (the wasm settings) is not read, in a
    // target folder of its own so it never waits for the wasm build's lock.
    let web_native = target_dir().join("web-native");
    report.run(
        "web-clippy",
        "web clippy and unit tests (native)",
        "about 3 min the first time",
        || {
            cmd!(
                sh,
                "cargo test --manifest-path web/Cargo.toml --target-dir {web_native} --all-features"
            )
            .logged()?;
            Ok(())
        },
    );
    report.run(
        "cargo-test",
        "cargo test (unit and integration)",
        "about 6 min",
        || {
            cmd!(sh, "cargo test --workspace").logged()?;
            Ok(())
        },
    );
    // Every later cargo call selects the whole workspace, as the step above
    // did, so it reuses that build instead of unifying features anew.
    // The API against its own OpenAPI document (dev/tests/tests/contract.rs).
    report.run(
        "contract",
        "API contract (schemathesis)",
        "about 5 min",
        || {
            let _st = sh.push_env("SHOP_SCHEMATHESIS", tools::schemathesis_bin());
            cmd!(
                sh,
                "cargo test --workspace --test contract -- --ignored --nocapture"
            )
            .logged()?;
            Ok(())
        },
    );
    let (web, web_took) = web.join().unwrap_or_else(|_| {
        (
            Err(anyhow::anyhow!("the web build panicked")),
            Duration::ZERO,
        )
    });
    let web_ok = web.is_ok();
    report.record("web build (wasm + css), beside the above", web_took, web);
    report.run(
        "browser",
        "browser tests (headless Chromium)",
        "about 4 min",
        || {
            anyhow::ensure!(web_ok, "the web app did not build");
            let targets = test_targets("dev/browser-tests/tests")?;
            cmd!(
                sh,
                "cargo test --workspace {targets...} -- --ignored --test-threads 1"
            )
            .logged()?;
            Ok(())
        },
    );
    // `docker compose up` replayed without Docker: the services as
    // containers of the images built from the binaries the test step
    // built, with compose's environment; LocalStack with its init script;
    // the web image's nginx configuration (dev/compose-check).
    report.run(
        "compose",
        "docker compose (config, replay with the services as containers)",
        "about 4 min",
        || {
            anyhow::ensure!(web_ok, "the web app did not build");
            cmd!(sh, "docker-compose -f docker-compose.yml config -q").logged()?;
            images::build(sh, &target_dir().join("debug"), "test")?;
            images::remove_leftover_containers(sh)?;
            let _path = sh.push_env("PATH", tools::standins_path()?);
            let _images = sh.push_env("SHOP_COMPOSE_IMAGES", "test");
            let _localstack = sh.push_env("SHOP_LOCALSTACK_PYTHON", tools::localstack_python());
            cmd!(sh, "cargo test --workspace --test compose_up -- --ignored").logged()?;
            Ok(())
        },
    );
    let ok = report.print();
    println!(
        "xtask: test took {} in all; each step's output is in {}",
        steps::format_duration(started.elapsed()),
        logs.join("test").display()
    );
    Ok(ok)
}
