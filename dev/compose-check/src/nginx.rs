//! The web image natively: `web/nginx.conf` is the image's
//! `conf.d/default.conf`, included in a main configuration shaped like the
//! image's own, with paths and ports moved to a work folder and free ports.

use anyhow::{Result, bail};
use std::path::Path;

/// Where the web image's site configuration points, and where it points here.
#[derive(Debug)]
pub struct Site<'a> {
    /// `web/nginx.conf` as committed.
    pub conf: &'a str,
    /// The port compose publishes and health-checks: the site must listen
    /// on it in the container.
    pub container_port: u16,
    pub listen_port: u16,
    /// The built app (the image copies it to `/usr/share/nginx/html`).
    pub root: &'a Path,
    /// Replaces `/var/log/nginx`.
    pub log_dir: &'a Path,
}

/// The site configuration with its image paths and listen address replaced.
/// Each replaced directive must appear exactly once, so a change to
/// `web/nginx.conf` that this replay does not understand fails loudly.
pub fn render_site(site: &Site<'_>) -> Result<String> {
    let mut listens = 0;
    let mut roots = 0;
    let mut out = String::with_capacity(site.conf.len());
    for line in site.conf.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if let Some(rest) = trimmed.strip_prefix("listen ") {
            listens += 1;
            let port = rest
                .trim_end_matches(';')
                .split_whitespace()
                .next()
                .unwrap_or("");
            let port = port.rsplit(':').next().unwrap_or(port);
            if port != site.container_port.to_string() {
                bail!(
                    "web/nginx.conf listens on `{port}`, but compose publishes and checks port {}",
                    site.container_port
                );
            }
            out.push_str(&format!("{indent}listen 127.0.0.1:{};", site.listen_port));
        } else if trimmed.starts_with("root ") {
            roots += 1;
            out.push_str(&format!("{indent}root {};", site.root.display()));
        } else {
            out.push_str(&line.replace("/var/log/nginx", &site.log_dir.display().to_string()));
        }
        out.push('\n');
    }
    if listens != 1 || roots != 1 {
        bail!(
            "web/nginx.conf has {listens} `listen` and {roots} `root` directives; the compose check replays exactly one of each"
        );
    }
    Ok(out)
}

/// A main configuration like the nginx image's: one worker, MIME types, the
/// site included in `http {}`; every writable path inside `work`.
pub fn main_conf(work: &Path, site_conf: &Path) -> String {
    let w = work.display();
    format!(
        "worker_processes 1;
# One process, so stopping it leaves no worker holding the port.
master_process off;
daemon off;
pid {w}/nginx.pid;
error_log {w}/error.log notice;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path {w}/client_body;
    proxy_temp_path {w}/proxy;
    fastcgi_temp_path {w}/fastcgi;
    uwsgi_temp_path {w}/uwsgi;
    scgi_temp_path {w}/scgi;
    include {};
}}
",
        site_conf.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_root_and_log_paths_are_moved() {
        let conf = "server {\n    listen 8080;\n    root /usr/share/nginx/html;\n    access_log /var/log/nginx/access.log shop;\n}\n";
        let site = render_site(&Site {
            conf,
            container_port: 8080,
            listen_port: 4321,
            root: Path::new("/app/dist"),
            log_dir: Path::new("/tmp/logs"),
        })
        .unwrap();
        assert!(site.contains("    listen 127.0.0.1:4321;"));
        assert!(site.contains("    root /app/dist;"));
        assert!(site.contains("access_log /tmp/logs/access.log shop;"));
    }

    #[test]
    fn a_second_server_block_is_refused() {
        let conf = "listen 80;\nroot /a;\nlisten 80;\n";
        let err = render_site(&Site {
            conf,
            container_port: 80,
            listen_port: 1,
            root: Path::new("/"),
            log_dir: Path::new("/"),
        });
        assert!(err.is_err());
    }

    #[test]
    fn a_listen_port_compose_does_not_publish_is_refused() {
        let err = render_site(&Site {
            conf: "listen 80;\nroot /a;\n",
            container_port: 8080,
            listen_port: 1,
            root: Path::new("/"),
            log_dir: Path::new("/"),
        });
        assert!(err.is_err());
    }
}
