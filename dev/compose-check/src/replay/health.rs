//! Waiting for a service to be up: its URL, or compose's own health check.

use super::*;

impl Replay {
    pub(super) async fn wait_until_ok(&mut self, name: &str, url: &str) -> Result<()> {
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
    pub(super) async fn wait_healthy(&mut self, name: &str) -> Result<()> {
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

    pub(super) async fn wait_for(&mut self, name: &str, words: &[String]) -> Result<()> {
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
}

/// Runs a compose health check command (`CMD ...` or `CMD-SHELL ...`);
/// true when it exits 0 within 5 seconds.
pub(super) async fn run_check(words: &[String], env: &[(String, String)]) -> Result<bool> {
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
