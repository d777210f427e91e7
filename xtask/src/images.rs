//! `cargo xtask images`: one OCI image per part, built here with podman from
//! the binaries this machine built — no registry image is needed or pulled.
//!
//! Each service image is `FROM scratch`: the binary, the shared libraries
//! `ldd` names, CA certificates, and `/etc/passwd` with the unprivileged
//! user 10001 it runs as. Its health check is the binary's own
//! `<binary> health` (it asks the process's `/health/ready`), so the image
//! needs no shell. The web image is Debian's nginx the same way, with the
//! built app and `web/nginx.conf`. Every image runs on a read-only root
//! file system: what a part writes goes to `/tmp`, which the runtime mounts.

use crate::steps::Logged;
use anyhow::{Context, Result, bail};
use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};
use xshell::{Shell, cmd};

/// Debian's container tools: crun stops on this kernel's cgroups, runc works.
const PACKAGES: [&str; 3] = ["podman", "buildah", "runc"];

/// Every podman call: runc and plain cgroups (see TOOLCHAIN.md).
pub const PODMAN_FLAGS: [&str; 2] = ["--runtime=runc", "--cgroup-manager=cgroupfs"];

/// `(image, binary, port)` of the gateway and the four services.
pub const SERVICES: [(&str, &str, u16); 5] = [
    ("shop-gateway", "shop-gateway", 3000),
    ("shop-users", "shop-users", 8003),
    ("shop-products", "shop-products", 8001),
    ("shop-orders", "shop-orders", 8002),
    ("shop-notifications", "shop-notifications", 8004),
];
pub const WEB_IMAGE: &str = "shop-web";
const USER: &str = "10001:10001";

/// podman, and the nginx the web image is made of.
pub fn ensure_podman(sh: &Shell) -> Result<()> {
    crate::tools::apt_install(sh, &PACKAGES)?;
    if !Path::new("/usr/sbin/nginx").is_file() {
        crate::tools::apt_install(sh, &["nginx-light"])?;
    }
    if crate::tools::which("podman").is_none() {
        bail!("podman is still missing after installation");
    }
    Ok(())
}

/// Removes the compose check's containers that a killed run left behind.
pub fn remove_leftover_containers(sh: &Shell) -> Result<()> {
    let filter = "name=^shop-compose-";
    let ids = cmd!(
        sh,
        "podman {PODMAN_FLAGS...} ps --all --quiet --filter {filter}"
    )
    .quiet()
    .read()
    .context("listing containers")?;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    let count = ids.len();
    if count > 0 {
        cmd!(sh, "podman {PODMAN_FLAGS...} rm --force --time=2 {ids...}")
            .quiet()
            .ignore_stdout()
            .run()
            .context("removing leftover containers")?;
        println!("      removed {count} leftover container(s)");
    }
    Ok(())
}

/// `localhost/<image>:<tag>`.
pub fn reference(image: &str, tag: &str) -> String {
    format!("localhost/{image}:{tag}")
}

/// Builds the six images from the binaries in `bin_dir` and the web app
/// in `web/dist`, tagged `tag`; prints their sizes.
pub fn build(sh: &Shell, bin_dir: &Path, tag: &str) -> Result<()> {
    let root = crate::project_root();
    let work = crate::target_dir().join("images");
    for (image, binary, port) in SERVICES {
        let context = fresh_dir(&work.join(image))?;
        let rootfs = context.join("rootfs");
        let program = bin_dir.join(binary);
        if !program.is_file() {
            bail!(
                "{} is missing: build it first (cargo xtask images builds the release binaries)",
                program.display()
            );
        }
        // Symbols stay in target/; the image gets the smallest binary.
        let inside = rootfs.join("usr/local/bin").join(binary);
        fs::create_dir_all(inside.parent().expect("a folder"))?;
        cmd!(sh, "strip --strip-all -o {inside} {program}")
            .quiet()
            .run()
            .with_context(|| format!("stripping {}", program.display()))?;
        base_files(sh, &rootfs, &program)?;
        let containerfile = format!(
            "FROM scratch\n\
             COPY rootfs/ /\n\
             USER {USER}\n\
             ENV HOST=0.0.0.0 LOG_FORMAT=json PATH=/usr/local/bin MIMALLOC_PURGE_DELAY=0\n\
             EXPOSE {port}\n\
             HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=6 \
             CMD [\"/usr/local/bin/{binary}\", \"health\"]\n\
             ENTRYPOINT [\"/usr/local/bin/{binary}\"]\n"
        );
        podman_build(sh, &context, &containerfile, &reference(image, tag))?;
    }

    let dist = root.join("web/dist");
    if !dist.join("index.html").is_file() {
        bail!("web/dist is not built: run `cargo xtask web` first");
    }
    let context = fresh_dir(&work.join(WEB_IMAGE))?;
    let rootfs = context.join("rootfs");
    let nginx = PathBuf::from("/usr/sbin/nginx");
    if !nginx.is_file() {
        bail!("/usr/sbin/nginx is missing after installing nginx-light");
    }
    install(&nginx, &rootfs.join("usr/sbin/nginx"))?;
    base_files(sh, &rootfs, &nginx)?;
    install(
        Path::new("/etc/nginx/mime.types"),
        &rootfs.join("etc/nginx/mime.types"),
    )?;
    write(&rootfs.join("etc/nginx/nginx.conf"), NGINX_MAIN)?;
    install(
        &root.join("web/nginx.conf"),
        &rootfs.join("etc/nginx/conf.d/default.conf"),
    )?;
    copy_tree(&dist, &rootfs.join("usr/share/nginx/html"))?;
    // As in the nginx images: the site's log files are the container's output.
    let logs = rootfs.join("var/log/nginx");
    fs::create_dir_all(&logs)?;
    std::os::unix::fs::symlink("/dev/stdout", logs.join("access.log"))?;
    std::os::unix::fs::symlink("/dev/stderr", logs.join("error.log"))?;
    let containerfile = format!(
        "FROM scratch\n\
         COPY rootfs/ /\n\
         USER {USER}\n\
         EXPOSE 8080\n\
         ENTRYPOINT [\"/usr/sbin/nginx\", \"-g\", \"daemon off;\"]\n"
    );
    podman_build(sh, &context, &containerfile, &reference(WEB_IMAGE, tag))?;

    for image in SERVICES.iter().map(|s| s.0).chain([WEB_IMAGE]) {
        let reference = reference(image, tag);
        let format = "{{.Size}}";
        let bytes = cmd!(sh, "podman image inspect --format {format} {reference}")
            .quiet()
            .read()
            .unwrap_or_default();
        let mb = bytes.trim().parse::<u64>().unwrap_or(0) as f64 / 1e6;
        println!("      {reference}: {mb:.1} MB");
    }
    Ok(())
}

/// nginx as an unprivileged process on a read-only root: everything it
/// writes in /tmp, logs to the container's output. `daemon off` is the
/// entrypoint's, so a configuration mounted over this one keeps it.
const NGINX_MAIN: &str = "\
worker_processes 2;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    sendfile on;
    include /etc/nginx/conf.d/*.conf;
}
";

fn podman_build(sh: &Shell, context: &Path, containerfile: &str, reference: &str) -> Result<()> {
    let file = context.join("Containerfile");
    write(&file, containerfile)?;
    // Docker's format: OCI image configuration has no HEALTHCHECK.
    cmd!(
        sh,
        "podman {PODMAN_FLAGS...} build --format docker --pull=never --tag {reference} --file {file} {context}"
    )
    .logged()
    .with_context(|| format!("building {reference}"))
}

/// The files every image needs beside its program: the libraries `ldd`
/// lists for it, the user it runs as, name resolution and CA certificates,
/// an empty /tmp for the runtime to mount.
fn base_files(sh: &Shell, rootfs: &Path, program: &Path) -> Result<()> {
    let listing = cmd!(sh, "ldd {program}")
        .quiet()
        .read()
        .with_context(|| format!("ldd {}", program.display()))?;
    for library in libraries(&listing) {
        let inside = rootfs.join(library.trim_start_matches('/'));
        install(Path::new(&library), &inside)?;
    }
    write(
        &rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\nshop:x:10001:10001:shop:/tmp:/sbin/nologin\n",
    )?;
    write(&rootfs.join("etc/group"), "root:x:0:\nshop:x:10001:\n")?;
    write(&rootfs.join("etc/nsswitch.conf"), "hosts: files dns\n")?;
    let certs = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if certs.is_file() {
        install(certs, &rootfs.join("etc/ssl/certs/ca-certificates.crt"))?;
    }
    // World-writable and sticky, as /tmp is everywhere: on a read-only root
    // the runtime mounts a tmpfs here, and Kubernetes an emptyDir.
    let tmp = rootfs.join("tmp");
    fs::create_dir_all(&tmp)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))?;
    Ok(())
}

/// The absolute paths in `ldd`'s output (the vDSO has none).
pub fn libraries(ldd: &str) -> Vec<String> {
    ldd.lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| path.to_owned())
        })
        .collect()
}

fn fresh_dir(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.to_path_buf())
}

/// Copies a file's content (symbolic links followed), keeping its mode.
fn install(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(from, to)
        .map(|_| ())
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            install(&entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_paths_are_read_and_the_vdso_is_skipped() {
        let listing = "\tlinux-vdso.so.1 (0x00007eff3db1f000)\n\
            \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007eff3daee000)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007eff3b01e000)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007eff3db21000)\n";
        assert_eq!(
            libraries(listing),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
    }
}
