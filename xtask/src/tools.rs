//! Installs what the platform and its tests need, idempotently: a second call
//! checks and returns in well under a second. Machine-wide tools (apt
//! packages, the stand-ins' virtualenv and npm folder) live outside the clone
//! so every fresh clone on the same machine reuses them.

use crate::steps::Logged;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use xshell::{Shell, cmd};

/// Pinned stand-in versions (see TOOLCHAIN.md for why these).
const MOTO: &str = "moto[server]==5.2.5";
// 0.4 needs Python 3.12; the machine's python3 is 3.11.
const OIDC_MOCK: &str = "oidc-provider-mock==0.3.4";
const MAILDEV: &str = "maildev@2.2.1";
/// The bench's page audit (run against Debian's Chromium).
const LIGHTHOUSE: &str = "lighthouse@12.8.2";
/// The AWS CLI and its LocalStack wrapper, which the compose init script
/// calls. A virtualenv of their own: the CLI pins an exact botocore, which
/// must not fight moto's.
const AWS_CLI: [&str; 2] = ["awscli==1.46.3", "awscli-local==0.23.0"];
/// The contract step's fuzzer.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
/// Validates rendered Kubernetes manifests offline (its schemas are bundled).
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";

/// Apt packages the tests need besides the web toolchain: the browser, and
/// what the compose check replays (compose itself, nginx for the web image,
/// Prometheus, curl and wget for the health checks).
const TEST_PACKAGES: [&str; 7] = [
    "chromium",
    "chromium-driver",
    "docker-compose",
    "nginx-light",
    "curl",
    "wget",
    "prometheus",
];

/// The registries' addresses, for the check before an install.
pub const PYPI: &str = "pypi.org:443";
pub const NPM: &str = "registry.npmjs.org:443";
pub const CRATES_IO: &str = "index.crates.io:443";

/// host:80 of the first mirror in apt's sources (deb.debian.org if none).
fn apt_mirror() -> String {
    let mut text = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        for entry in dir.flatten() {
            let path = entry.path();
            if path
                .extension()
                .is_some_and(|e| e == "sources" || e == "list")
            {
                text += &std::fs::read_to_string(&path).unwrap_or_default();
            }
        }
    }
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|l| {
            let (_, rest) = l.split_once("http://")?;
            let host = rest.split(['/', ' ']).next()?;
            Some(if host.contains(':') {
                host.to_owned()
            } else {
                format!("{host}:80")
            })
        })
        .unwrap_or_else(|| "deb.debian.org:80".into())
}

/// `~/.cache/shop`: where the stand-ins are installed.
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("shop")
}

pub fn venv_bin(name: &str) -> PathBuf {
    cache_dir().join("venv/bin").join(name)
}

fn aws_cli_venv() -> PathBuf {
    cache_dir().join("awscli")
}

/// `PATH` with the stand-ins' folders first: moto_server, maildev, awslocal.
pub fn standins_path() -> Result<std::ffi::OsString> {
    let mut dirs = vec![
        cache_dir().join("venv/bin"),
        cache_dir().join("node/node_modules/.bin"),
        aws_cli_venv().join("bin"),
    ];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    Ok(std::env::join_paths(dirs)?)
}

pub fn node_bin(name: &str) -> PathBuf {
    cache_dir().join("node/node_modules/.bin").join(name)
}

/// The packages of `packages` that are not installed: one dpkg-query for all
/// (it fails for unknown names but still lists the known ones).
fn missing_packages<'a>(sh: &Shell, packages: &[&'a str]) -> Vec<&'a str> {
    let format = "${Package} ${db:Status-Status}\n";
    let listed = cmd!(sh, "dpkg-query -W -f {format} {packages...}")
        .quiet()
        .ignore_status()
        .ignore_stderr()
        .read()
        .unwrap_or_default();
    packages
        .iter()
        .copied()
        .filter(|pkg| !listed.lines().any(|l| l == format!("{pkg} installed")))
        .collect()
}

/// Installs the Debian packages that are missing (one `apt-get update` first).
pub fn apt_install(sh: &Shell, packages: &[&str]) -> Result<()> {
    let missing = missing_packages(sh, packages);
    if missing.is_empty() {
        return Ok(());
    }
    println!("      installing Debian packages: {}", missing.join(" "));
    crate::prereq::registry("Debian's package mirror", &apt_mirror())?;
    let _env = sh.push_env("DEBIAN_FRONTEND", "noninteractive");
    cmd!(sh, "apt-get update -qq")
        .logged()
        .context("apt-get update (needs root)")?;
    cmd!(
        sh,
        "apt-get install -y -qq --no-install-recommends {missing...}"
    )
    .logged()
    .context("apt-get install")?;
    Ok(())
}

/// moto (SNS/SQS) and the mock OpenID provider, in a virtualenv.
fn ensure_python_standins(sh: &Shell) -> Result<()> {
    let stamp = cache_dir().join("venv/.shop-pins");
    let pins = format!("{MOTO}\n{OIDC_MOCK}\n");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(pins.as_str())
        && venv_bin("moto_server").exists()
        && venv_bin("oidc-provider-mock").exists()
    {
        return Ok(());
    }
    println!("      installing {MOTO} and {OIDC_MOCK}");
    crate::prereq::registry("PyPI", PYPI)?;
    let venv = cache_dir().join("venv");
    if !venv_bin("pip").exists() {
        cmd!(sh, "python3 -m venv {venv}")
            .logged()
            .context("creating the virtualenv")?;
    }
    let pip = venv_bin("pip");
    cmd!(
        sh,
        "{pip} install -q --disable-pip-version-check {MOTO} {OIDC_MOCK}"
    )
    .logged()
    .context("pip install")?;
    std::fs::write(&stamp, pins)?;
    Ok(())
}

/// The AWS CLI with `awslocal`, in a virtualenv of its own.
fn ensure_aws_cli(sh: &Shell) -> Result<()> {
    ensure_pinned_venv(sh, &aws_cli_venv(), &AWS_CLI, "awslocal")
}

/// kubernetes-validate, for the manifests step, in a virtualenv of its own.
fn ensure_kubernetes_validate(sh: &Shell) -> Result<()> {
    ensure_pinned_venv(
        sh,
        &cache_dir().join("kubevalidate"),
        &[KUBERNETES_VALIDATE],
        "kubernetes-validate",
    )
}

pub fn kubernetes_validate_bin() -> PathBuf {
    cache_dir().join("kubevalidate/bin/kubernetes-validate")
}

/// kubectl renders the manifests (kustomize is built in). The machines
/// come with 1.32; Debian's kubernetes-client (1.20) is the fallback.
fn ensure_kubectl(sh: &Shell) -> Result<()> {
    if which("kubectl").is_none() {
        apt_install(sh, &["kubernetes-client"])?;
    }
    let version = cmd!(sh, "kubectl version --client")
        .quiet()
        .ignore_stderr()
        .read()
        .unwrap_or_default();
    // "Client Version: v1.32.4": kustomize's `labels` and inline patches
    // need kubectl 1.27 or newer (Debian's kubernetes-client is 1.20).
    let minor = version
        .split("v1.")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    match minor {
        Some(m) if m >= 27 => Ok(()),
        _ => bail!(
            "kubectl 1.27 or newer is needed to render deploy/kubernetes (found `{}`): install it from the Kubernetes release page",
            version.lines().next().unwrap_or("none")
        ),
    }
}

/// schemathesis, for the contract step, in a virtualenv of its own.
fn ensure_schemathesis(sh: &Shell) -> Result<()> {
    ensure_pinned_venv(sh, &schemathesis_venv(), &[SCHEMATHESIS], "st")
}

fn schemathesis_venv() -> PathBuf {
    cache_dir().join("schemathesis")
}

/// The `st` command the contract step runs.
pub fn schemathesis_bin() -> PathBuf {
    schemathesis_venv().join("bin/st")
}

/// A virtualenv at `venv` holding exactly `pins`; `bin` proves it installed.
fn ensure_pinned_venv(sh: &Shell, venv: &std::path::Path, pins: &[&str], bin: &str) -> Result<()> {
    let stamp = venv.join(".shop-pins");
    let wanted = pins.join("\n");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
        && venv.join("bin").join(bin).exists()
    {
        return Ok(());
    }
    println!("      installing {}", pins.join(" "));
    crate::prereq::registry("PyPI", PYPI)?;
    if !venv.join("bin/pip").exists() {
        cmd!(sh, "python3 -m venv {venv}")
            .logged()
            .with_context(|| format!("creating the virtualenv {}", venv.display()))?;
    }
    let pip = venv.join("bin/pip");
    cmd!(sh, "{pip} install -q --disable-pip-version-check {pins...}")
        .logged()
        .with_context(|| format!("pip install {}", pins.join(" ")))?;
    std::fs::write(&stamp, wanted)?;
    Ok(())
}

/// The interpreter of the LocalStack virtualenv (the compose check runs
/// LocalStack natively with it).
pub fn localstack_python() -> PathBuf {
    cache_dir().join("localstack/bin/python")
}

/// LocalStack 3.8 with every dependency pinned, in a virtualenv of its own.
fn ensure_localstack(sh: &Shell) -> Result<()> {
    let requirements = crate::project_root().join("xtask/localstack-requirements.txt");
    let pins = std::fs::read_to_string(&requirements).context("reading the LocalStack pins")?;
    let venv = cache_dir().join("localstack");
    let stamp = venv.join(".shop-pins");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(pins.as_str())
        && localstack_python().exists()
    {
        return Ok(());
    }
    println!("      installing LocalStack (about a minute)");
    crate::prereq::registry("PyPI", PYPI)?;
    if !venv.join("bin/pip").exists() {
        cmd!(sh, "python3 -m venv {venv}")
            .logged()
            .context("creating the LocalStack virtualenv")?;
    }
    let pip = venv.join("bin/pip");
    cmd!(
        sh,
        "{pip} install -q --disable-pip-version-check -r {requirements}"
    )
    .logged()
    .context("pip install localstack")?;
    std::fs::write(&stamp, pins)?;
    Ok(())
}

/// maildev (SMTP catcher) from npm.
fn ensure_node_standins(sh: &Shell) -> Result<()> {
    if node_bin("maildev").exists() {
        return Ok(());
    }
    println!("      installing {MAILDEV}");
    crate::prereq::registry("the npm registry", NPM)?;
    let prefix = cache_dir().join("node");
    cmd!(
        sh,
        "npm install --prefix {prefix} --no-fund --no-audit --loglevel=error {MAILDEV}"
    )
    .logged()
    .context("npm install maildev")?;
    Ok(())
}

/// Lighthouse from npm, for the bench only (its own folder, so the test
/// tools' check never waits on it). Returns its command.
pub fn ensure_lighthouse(sh: &Shell) -> Result<PathBuf> {
    let prefix = cache_dir().join("lighthouse");
    let bin = prefix.join("node_modules/.bin/lighthouse");
    let stamp = prefix.join("installed");
    if bin.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == LIGHTHOUSE) {
        return Ok(bin);
    }
    println!("      installing {LIGHTHOUSE}");
    crate::prereq::registry("the npm registry", NPM)?;
    std::fs::create_dir_all(&prefix)?;
    cmd!(
        sh,
        "npm install --prefix {prefix} --no-fund --no-audit --loglevel=error {LIGHTHOUSE}"
    )
    .logged()
    .context("npm install lighthouse")?;
    std::fs::write(&stamp, LIGHTHOUSE)?;
    Ok(bin)
}

/// Everything `cargo xtask test` needs besides the web toolchain.
pub fn ensure_test_tools(sh: &Shell) -> Result<()> {
    std::fs::create_dir_all(cache_dir())?;
    // Any nginx will do; installing nginx-light over another flavour would
    // replace it.
    let packages: Vec<&str> = TEST_PACKAGES
        .into_iter()
        .filter(|p| *p != "nginx-light" || !has_nginx())
        .collect();
    apt_install(sh, &packages)?;
    ensure_python_standins(sh)?;
    ensure_aws_cli(sh)?;
    ensure_schemathesis(sh)?;
    ensure_kubernetes_validate(sh)?;
    ensure_kubectl(sh)?;
    ensure_localstack(sh)?;
    ensure_node_standins(sh)?;
    if !has_nginx() {
        bail!("nginx is still missing after installation");
    }
    for tool in [
        "chromium",
        "chromedriver",
        "docker-compose",
        "curl",
        "wget",
        "prometheus",
    ] {
        if which(tool).is_none() {
            bail!("{tool} is still missing after installation");
        }
    }
    Ok(())
}

fn has_nginx() -> bool {
    which("nginx").is_some() || std::path::Path::new("/usr/sbin/nginx").is_file()
}

pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    })
}
