//! The checks that run before any long step, each failing with one sentence
//! that says what to do: PostgreSQL, free ports, disk space, and the
//! registries an install is about to need.

use anyhow::{Result, bail};
use std::{
    net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs},
    path::Path,
    process::Command,
    time::Duration,
};

/// host:port of `POSTGRES_URL` (default the local server).
pub fn postgres_addr() -> String {
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

pub fn reachable(addr: &str, timeout: Duration) -> bool {
    addr.to_socket_addrs()
        .ok()
        .into_iter()
        .flatten()
        .any(|a: SocketAddr| TcpStream::connect_timeout(&a, timeout).is_ok())
}

fn postgres_missing(addr: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "PostgreSQL is not reachable at {addr}: start it (`pg_ctlcluster 15 main start`) or set POSTGRES_URL to a running server"
    )
}

/// PostgreSQL answers on `POSTGRES_URL`; with `start`, the machine's own
/// cluster is started first if it is installed but stopped.
pub fn postgres(start: bool) -> Result<()> {
    let addr = postgres_addr();
    if reachable(&addr, Duration::from_secs(1)) {
        return Ok(());
    }
    if !start {
        return Err(postgres_missing(&addr));
    }
    if let Ok(entries) = std::fs::read_dir("/etc/postgresql") {
        for version in entries.flatten() {
            let v = version.file_name().to_string_lossy().into_owned();
            println!("      starting PostgreSQL {v}");
            let _ = Command::new("pg_ctlcluster")
                .args(["--skip-systemctl-redirect", &v, "main", "start"])
                .status();
        }
        for _ in 0..50 {
            if reachable(&addr, Duration::from_secs(1)) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Err(postgres_missing(&addr))
}

/// Every `(variable, default)` port is free on the bind address (`HOST`).
pub fn ports_free(ports: &[(&str, u16)]) -> Result<()> {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    for (var, default) in ports {
        let port = match std::env::var(var) {
            Ok(v) => match v.parse::<u16>() {
                Ok(p) => p,
                Err(_) => bail!("{var}={v} is not a port number: set it to one from 1 to 65535"),
            },
            Err(_) => *default,
        };
        if port == 0 {
            continue;
        }
        if TcpListener::bind((host.as_str(), port)).is_err() {
            bail!(
                "port {port} on {host} is already taken (another `cargo xtask up`?): stop what listens there (`ss -ltnp 'sport = :{port}'` shows it) or set {var} to a free port"
            );
        }
    }
    Ok(())
}

/// At least `need_gib` free where the build writes.
pub fn disk_space(dir: &Path, need_gib: u64) -> Result<()> {
    // The nearest folder that exists: a fresh clone has no target/ yet.
    let mut probe = dir;
    while !probe.exists() {
        match probe.parent() {
            Some(parent) => probe = parent,
            None => return Ok(()),
        }
    }
    let Ok(out) = Command::new("df").arg("-Pk").arg(probe).output() else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let free_kib = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse::<u64>().ok());
    if let Some(free_kib) = free_kib {
        let free_gib = free_kib / (1024 * 1024);
        if free_gib < need_gib {
            bail!(
                "only {free_gib} GiB free on the disk of {}: this build needs about {need_gib} GiB; free some space or point CARGO_TARGET_DIR at a larger disk",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Settings that send the installers elsewhere than the registry's own
/// address: then a direct connection proves nothing, and the check is left
/// to the installer.
const REDIRECTS: [&str; 8] = [
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "PIP_INDEX_URL",
    "npm_config_registry",
];

/// A registry that an install is about to use answers on its port.
pub fn registry(name: &str, addr: &str) -> Result<()> {
    if REDIRECTS.iter().any(|v| std::env::var_os(v).is_some())
        || reachable(addr, Duration::from_secs(5))
    {
        return Ok(());
    }
    bail!(
        "cannot reach {name} ({addr}), and something must be installed from it: check the network or a proxy setting, then run the command again"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_named_with_its_variable() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = ports_free(&[("SHOP_TEST_UNSET_PORT_VAR", port)]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&format!("port {port}")), "{text}");
        assert!(text.contains("SHOP_TEST_UNSET_PORT_VAR"), "{text}");
        drop(taken);
        ports_free(&[("SHOP_TEST_UNSET_PORT_VAR", port)]).unwrap();
    }

    #[test]
    fn too_little_disk_says_how_much_is_needed() {
        let err = disk_space(Path::new("/tmp/does/not/exist/yet"), 1 << 40).unwrap_err();
        assert!(err.to_string().contains("needs about"), "{err}");
        disk_space(Path::new("/tmp"), 0).unwrap();
    }

    #[test]
    fn an_unreachable_registry_is_one_sentence() {
        // Port 9 on loopback: nothing listens there.
        let err = registry("a test registry", "127.0.0.1:9").unwrap_err();
        assert!(
            err.to_string().starts_with("cannot reach a test registry"),
            "{err}"
        );
    }
}
