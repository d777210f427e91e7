//! The processes and containers a replay runs, and how they stop.

use super::*;

/// With `SHOP_COMPOSE_IMAGES=<tag>` the shop's services run as the
/// containers `cargo xtask images` built (`localhost/<binary>:<tag>`),
/// not as processes.
pub(super) fn container_tag() -> Option<String> {
    std::env::var("SHOP_COMPOSE_IMAGES")
        .ok()
        .filter(|t| !t.is_empty())
}

/// `podman run` of a service's image as compose would run it: its
/// environment, read-only, as the image's unprivileged user. The host's
/// network stands in for compose's (every address is already moved to
/// loopback); `podman run` passes SIGTERM on and exits with the service.
pub(super) fn container(
    container: &str,
    image: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
    mounts: &[String],
    tag: &str,
) -> Command {
    let mut cmd = Command::new("podman");
    cmd.args(["--runtime=runc", "--cgroup-manager=cgroupfs", "run", "--rm"])
        .arg(format!("--name={container}"))
        .args([
            "--network=host",
            "--read-only",
            "--ulimit=nofile=20000:20000",
            "--ulimit=nproc=1000:1000",
            "--stop-timeout=20",
        ]);
    for (key, value) in env {
        cmd.arg("--env").arg(format!("{key}={value}"));
    }
    for mount in mounts {
        cmd.arg(format!("--volume={mount}"));
    }
    cmd.arg(format!("localhost/{image}:{tag}")).args(args);
    cmd
}

/// SIGTERM, then SIGKILL if the process is still there after `limit`.
pub(super) async fn stop(child: &mut Child, limit: Duration) -> Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        bail!("had already exited with {status}");
    }
    let pid = child.id().context("no process id")?;
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .context("sending SIGTERM")?;
    match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => Ok(status?),
        Err(_) => {
            child.kill().await?;
            bail!("still running {}s after SIGTERM", limit.as_secs())
        }
    }
}
