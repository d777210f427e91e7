//! Drives headless Chromium through chromedriver against the real platform
//! started in-process on free ports. Each test gets its own browser profile.

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder};
use shop_stack::testing::TestStack;
use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The built web app (`cargo xtask web`), from `SHOP_WEB_DIST` or web/dist.
pub fn web_dist() -> PathBuf {
    std::env::var_os("SHOP_WEB_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/dist"))
}

/// Where screenshots go (`SHOP_TEST_ARTIFACTS`, default target/test-artifacts).
pub fn artifacts_dir() -> PathBuf {
    std::env::var_os("SHOP_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts")
        })
}

/// The platform with the built web app mounted on its web front.
pub async fn start_platform(extra: &[(&str, &str)]) -> Result<TestStack> {
    let dist = web_dist();
    if !dist.join("index.html").exists() {
        bail!(
            "the web app is not built at {}: run `cargo xtask web`",
            dist.display()
        );
    }
    let dist = dist.display().to_string();
    let mut vars: Vec<(&str, &str)> = vec![("WEB_DIST_DIR", dist.as_str())];
    vars.extend_from_slice(extra);
    Ok(TestStack::start_with(&vars).await)
}

/// A chromedriver process and a browser session; `close` ends both.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempdir::Profile,
}

mod tempdir {
    /// A fresh Chromium profile directory, removed on drop.
    pub struct Profile(pub std::path::PathBuf);

    impl Drop for Profile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Browser {
    pub async fn launch() -> Result<Self> {
        shop_platform::install_crypto_provider();
        let port = free_port()?;
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver (install the chromium-driver package)")?;
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok(resp) = reqwest::get(format!("{url}/status")).await
                && resp.status().is_success()
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("chromedriver did not start on :{port}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("shop-chromium-{port}"));
        std::fs::create_dir_all(&profile)?;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                // Without the networking flags Chromium floods the closed
                // network with connection attempts at start-up.
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client = ClientBuilder::rustls()
            .context("TLS set-up")?
            .capabilities(caps)
            .connect(&url)
            .await
            .context("opening a Chromium session")?;
        Ok(Self {
            client,
            driver,
            _profile: tempdir::Profile(profile),
        })
    }

    /// Saves a PNG of the current page under the artifacts directory.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    pub async fn close(mut self) -> Result<()> {
        let closed = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        closed.context("closing the browser session")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
