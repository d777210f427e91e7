//! Starts the local stand-ins the tests talk to — moto (SNS/SQS), maildev
//! (SMTP), the mock OpenID provider — and stops them again. One already
//! answering on its port is reused, not started twice.

use crate::tools;
use anyhow::{Context, Result, bail};
use std::{
    fs::File,
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub const MOTO_PORT: u16 = 4566;
pub const SMTP_PORT: u16 = 1025;
pub const MAILDEV_WEB_PORT: u16 = 8025;
pub const OIDC_PORT: u16 = 9400;

/// The started processes; dropping it stops them.
#[derive(Default)]
pub struct Standins {
    children: Vec<(&'static str, Child)>,
}

impl Drop for Standins {
    fn drop(&mut self) {
        for (name, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
            println!("xtask: stopped {name}");
        }
    }
}

/// True when something answers HTTP on `port` at `path` with a status < 500.
pub fn http_ok(port: u16, path: &str) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    if stream.read_exact(&mut head).is_err() {
        return false;
    }
    let text = String::from_utf8_lossy(&head);
    text.starts_with("HTTP/1.") && !text[9..].starts_with('5')
}

impl Standins {
    fn start(
        &mut self,
        name: &'static str,
        log_dir: &Path,
        command: &mut Command,
        port: u16,
        ready_path: &str,
    ) -> Result<()> {
        if http_ok(port, ready_path) {
            println!("      {name} already answers on :{port}, reusing it");
            return Ok(());
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            bail!(
                "port {port} is taken by something that is not {name}: stop it (`ss -ltnp 'sport = :{port}'` shows it), then run the command again"
            );
        }
        let log = File::create(log_dir.join(format!("{name}.log")))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.children.push((name, child));
        let started = Instant::now();
        while !http_ok(port, ready_path) {
            if started.elapsed() > Duration::from_secs(30) {
                bail!(
                    "{name} did not become ready on :{port} (see {}/{name}.log)",
                    log_dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        println!(
            "      {name} ready on :{port} in {:.1}s",
            started.elapsed().as_secs_f32()
        );
        Ok(())
    }

    /// Starts every stand-in; logs go to `log_dir`.
    pub fn start_all(log_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(log_dir)?;
        let mut s = Self::default();
        s.start(
            "moto",
            log_dir,
            Command::new(tools::venv_bin("moto_server")).args([
                "-H",
                "127.0.0.1",
                "-p",
                &MOTO_PORT.to_string(),
            ]),
            MOTO_PORT,
            "/moto-api/",
        )?;
        s.start(
            "maildev",
            log_dir,
            Command::new(tools::node_bin("maildev")).args([
                "-s",
                &SMTP_PORT.to_string(),
                "--ip",
                "127.0.0.1",
                "-w",
                &MAILDEV_WEB_PORT.to_string(),
                "--web-ip",
                "127.0.0.1",
            ]),
            MAILDEV_WEB_PORT,
            "/healthz",
        )?;
        s.start(
            "oidc-provider-mock",
            log_dir,
            Command::new(tools::venv_bin("oidc-provider-mock")).args([
                "-H",
                "127.0.0.1",
                "-p",
                &OIDC_PORT.to_string(),
            ]),
            OIDC_PORT,
            "/.well-known/openid-configuration",
        )?;
        Ok(s)
    }

    /// What the tests read to find the stand-ins.
    pub fn test_env() -> Vec<(&'static str, String)> {
        vec![
            (
                "TEST_AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{MOTO_PORT}"),
            ),
            ("TEST_SMTP_URL", format!("smtp://127.0.0.1:{SMTP_PORT}")),
            (
                "TEST_MAILDEV_URL",
                format!("http://127.0.0.1:{MAILDEV_WEB_PORT}"),
            ),
            ("TEST_OIDC_ISSUER", format!("http://127.0.0.1:{OIDC_PORT}")),
        ]
    }
}
