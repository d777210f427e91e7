//! The third-party images, run here as their stand-ins: LocalStack,
//! Prometheus, nginx, PostgreSQL roles; Grafana's provisioning checked.

use super::{addresses::plain_identifier, *};

impl Replay {
    /// The host file mounted at `container` in `name`.
    pub(super) fn mounted(&self, name: &str, container: &str) -> Result<PathBuf> {
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
    pub(super) fn moved(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for ((service, port), address) in &self.addresses {
            out = out.replace(&format!("{service}:{port}"), address);
        }
        out
    }

    /// Prometheus with the compose file's configuration, its scrape
    /// targets moved to where the services run here.
    pub(super) fn start_prometheus(&mut self, name: &str) -> Result<()> {
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
    pub(super) fn check_grafana(&self, name: &str) -> Result<()> {
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

    /// LocalStack as a host process: its file-system root is a work folder,
    /// where the compose volumes are linked at their container paths, and it
    /// listens on loopback only (the hypercorn server honours the address).
    pub(super) fn start_localstack(
        &mut self,
        name: &str,
        env: &BTreeMap<String, String>,
    ) -> Result<()> {
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
    pub(super) async fn run_init_scripts(&self, endpoint: &str, region: &str) -> Result<()> {
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
    pub(super) async fn prepare_postgres(&self, env: &BTreeMap<String, String>) -> Result<()> {
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

    pub(super) fn start_nginx(&mut self, name: &str) -> Result<()> {
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
}
