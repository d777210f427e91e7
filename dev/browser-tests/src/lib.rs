//! Drives headless Chromium through chromedriver against the real platform
//! started in-process on free ports. Each test gets its own browser profile.

pub mod storefront;

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use shop_testkit::TestStack;
use std::{
    future::Future,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// How long a page gets to show what a test waits for. Generous: the
/// machines running the tests are small and shared.
pub const PATIENCE: Duration = Duration::from_secs(20);

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
    let dist = built_dist()?;
    let mut vars: Vec<(&str, &str)> = vec![("WEB_DIST_DIR", dist.as_str())];
    vars.extend_from_slice(extra);
    Ok(TestStack::start_with(&vars).await)
}

/// The platform on the real stand-ins (SNS/SQS on moto, SMTP to maildev)
/// with the built web app mounted on its web front.
pub async fn start_platform_on_infra(extra: &[(&str, &str)]) -> Result<TestStack> {
    let dist = built_dist()?;
    let mut vars: Vec<(&str, &str)> = vec![("WEB_DIST_DIR", dist.as_str())];
    vars.extend_from_slice(extra);
    Ok(TestStack::start_on_infra(&vars).await)
}

/// Ends a test: on failure saves what each browser shows as
/// `<name>-failure-<n>.png`, then closes the browsers and stops the
/// platform, and returns the test's outcome.
pub async fn conclude(
    name: &str,
    outcome: Result<()>,
    browsers: Vec<Browser>,
    platform: TestStack,
) -> Result<()> {
    let mut outcome = outcome;
    for browser in &browsers {
        // The app shows this banner after a panic: a crash fails the test
        // even when the steps it checked had already passed.
        if outcome.is_ok()
            && browser
                .count(r#"[data-testid="app-crashed"]"#)
                .await
                .unwrap_or(0)
                > 0
        {
            outcome = Err(anyhow::anyhow!(
                "the web app crashed (see the browser console)"
            ));
        }
    }
    for (n, browser) in browsers.into_iter().enumerate() {
        if outcome.is_err() {
            match browser.screenshot(&format!("{name}-failure-{n}")).await {
                Ok(path) => eprintln!("screenshot of the failure: {}", path.display()),
                Err(e) => eprintln!("no screenshot of the failure: {e:#}"),
            }
        }
        if let Err(e) = browser.close().await {
            eprintln!("closing the browser: {e:#}");
        }
    }
    platform.finish().await;
    outcome
}

fn built_dist() -> Result<String> {
    let dist = web_dist();
    if !dist.join("index.html").exists() {
        bail!(
            "the web app is not built at {}: run `cargo xtask web`",
            dist.display()
        );
    }
    Ok(dist.display().to_string())
}

/// A chromedriver process and a browser session; `close` ends both.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempdir::Profile,
}

mod tempdir {
    use std::{
        path::{Path, PathBuf},
        process::Command,
        time::{Duration, Instant},
    };

    /// A fresh Chromium profile directory. On drop, the Chromium processes
    /// still using it are ended and the directory is removed.
    pub struct Profile(pub PathBuf);

    impl Drop for Profile {
        fn drop(&mut self) {
            end_browser(&self.0);
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Chromium outlives chromedriver when the driver is killed (a test that
    /// panicked) or while it is still shutting down: give it a moment, then
    /// end what is left. Only processes started with this test's own
    /// profile directory are touched.
    fn end_browser(profile: &Path) {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let pids = processes_using(profile);
            if pids.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                for pid in pids {
                    let _ = Command::new("kill")
                        .arg("-KILL")
                        .arg(pid.to_string())
                        .status();
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn processes_using(profile: &Path) -> Vec<u32> {
        let marker = format!("--user-data-dir={}", profile.display());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|cmd| cmd.split(|&b| b == 0).any(|arg| arg == marker.as_bytes()))
            })
            .collect()
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
        // Keep the console, so tests can look for CSP violations and errors.
        caps.insert(
            "goog:loggingPrefs".into(),
            serde_json::json!({"browser": "ALL"}),
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

    /// The console messages logged since the last call (ChromeDriver's log
    /// endpoint): `(level, message)`.
    pub async fn console(&self) -> Result<Vec<(String, String)>> {
        let entries = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .context("reading the browser console")?;
        Ok(entries
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or("").to_owned(),
                            e["message"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
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

    /// Saves the current page at a phone's width (375 × 812), then restores
    /// the desktop size.
    pub async fn phone_screenshot(&self, name: &str) -> Result<PathBuf> {
        self.client.set_window_size(375, 812).await?;
        // Let the layout settle at the new width.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let path = self.screenshot(name).await;
        self.client.set_window_size(1280, 900).await?;
        path
    }

    pub async fn open(&self, url: &str) -> Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    /// The first element matching `css`, once it exists.
    pub async fn wait_for(&self, css: &str) -> Result<Element> {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("waiting for `{css}`"))
    }

    /// Polls `check` until it yields a value; fails naming `what` after
    /// [`PATIENCE`]. Errors from `check` count as "not yet", since elements
    /// are replaced while the app re-renders.
    pub async fn wait_until<T, F, Fut>(&self, what: &str, mut check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let started = Instant::now();
        let mut last_error = None;
        loop {
            match check().await {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => {}
                Err(e) => last_error = Some(e),
            }
            if started.elapsed() > PATIENCE {
                match last_error {
                    Some(e) => bail!("timed out waiting until {what} (last error: {e:#})"),
                    None => bail!("timed out waiting until {what}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the text of `css` contains `needle`; returns the text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> Result<String> {
        self.wait_until(&format!("`{css}` shows \"{needle}\""), || async {
            let text = self.client.find(Locator::Css(css)).await?.text().await?;
            Ok(text.contains(needle).then_some(text))
        })
        .await
    }

    pub async fn text(&self, css: &str) -> Result<String> {
        Ok(self.wait_for(css).await?.text().await?)
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        self.wait_for(css)
            .await?
            .click()
            .await
            .with_context(|| format!("clicking `{css}`"))
    }

    /// Replaces the value of the input `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let input = self.wait_for(css).await?;
        input.clear().await?;
        input
            .send_keys(text)
            .await
            .with_context(|| format!("typing into `{css}`"))
    }

    pub async fn count(&self, css: &str) -> Result<usize> {
        Ok(self.client.find_all(Locator::Css(css)).await?.len())
    }

    /// Runs `script` in the page and returns what it returns.
    pub async fn eval(&self, script: &str) -> Result<serde_json::Value> {
        self.client
            .execute(script, Vec::new())
            .await
            .with_context(|| format!("running `{script}`"))
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

/// ChromeDriver's `POST /session/{id}/se/log` for the browser console.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or("")))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (reqwest::Method, Option<String>) {
        (
            reqwest::Method::POST,
            Some(r#"{"type":"browser"}"#.to_owned()),
        )
    }
}
