//! The WebAssembly pipeline for web/: installs the toolchain it needs, and
//! builds web/dist (wasm-bindgen output shrunk by wasm-opt, Tailwind CSS,
//! index.html), skipping the build when none of its inputs changed.

use crate::steps::Logged;
use anyhow::{Context, Result, bail};
use std::{
    env, fs,
    path::{Path, PathBuf},
    time::SystemTime,
};
use xshell::{Shell, cmd};

/// Debian's rustc can build wasm32 from std's sources; lld-22 is the linker;
/// brotli precompresses the built files.
const APT_PACKAGES: [&str; 5] = ["rustc-web", "cargo-web", "rust-web-src", "lld-22", "brotli"];

/// Everything the build reads, relative to the project root. Directories are
/// walked. The pipeline itself shapes the output too.
const INPUTS: [&str; 11] = [
    "web/src",
    "web/Cargo.toml",
    "web/Cargo.lock",
    "web/.cargo/config.toml",
    "web/index.html",
    "web/boot.js",
    "web/style",
    "web/package.json",
    "web/package-lock.json",
    "crates/types",
    "xtask/src/web.rs",
];

const DIST: &str = "web/dist";
/// Built here first and moved into dist only when every step succeeded, so a
/// failed build never leaves a half-updated dist behind.
const STAGING: &str = "web/target/dist-next";
const STAMP: &str = ".fingerprint";
/// The storefront's first load is index.html and the four files after it;
/// console.html (served for /admin and /status) loads the console's bundle,
/// the same app with the admin console and the status page
/// (web/Cargo.toml, feature `console`).
const OUTPUTS: [&str; 23] = [
    "index.html",
    "boot.js",
    "shop-web.js",
    "shop-web_bg.wasm",
    "app.css",
    "console.html",
    "console.js",
    "shop-console.js",
    "shop-console_bg.wasm",
    "boot.js.br",
    "boot.js.gz",
    "shop-web.js.br",
    "shop-web.js.gz",
    "shop-web_bg.wasm.br",
    "shop-web_bg.wasm.gz",
    "app.css.br",
    "app.css.gz",
    "console.js.br",
    "console.js.gz",
    "shop-console.js.br",
    "shop-console.js.gz",
    "shop-console_bg.wasm.br",
    "shop-console_bg.wasm.gz",
];
/// Served precompressed: brotli where the browser takes it, else gzip.
const COMPRESSED: [&str; 7] = [
    "boot.js",
    "shop-web.js",
    "shop-web_bg.wasm",
    "app.css",
    "console.js",
    "shop-console.js",
    "shop-console_bg.wasm",
];
/// What the storefront's first page loads (the bench's "web first load").
const FIRST_LOAD: [&str; 5] = [
    "index.html",
    "boot.js",
    "shop-web.js",
    "shop-web_bg.wasm",
    "app.css",
];
const WASM: &str = "web/target/wasm32-unknown-unknown/release/shop-web.wasm";
/// The two bundles: (wasm-bindgen's output name, cargo features).
const BUNDLES: [(&str, &str); 2] = [("shop-web", ""), ("shop-console", "console")];

/// Installs whatever the web build lacks; quick when nothing is missing.
pub fn ensure_toolchain(sh: &Shell) -> Result<()> {
    crate::tools::apt_install(sh, &APT_PACKAGES)?;
    ensure_wasm_bindgen(sh)?;
    ensure_node_modules(sh)
}

/// Builds web/dist, or does nothing when its fingerprint is current.
pub fn build(sh: &Shell) -> Result<()> {
    let root = sh.current_dir();
    // First: the toolchain's own version is part of the fingerprint.
    crate::tools::apt_install(sh, &APT_PACKAGES)?;
    let fingerprint = fingerprint(&root)?;
    let dist = root.join(DIST);
    if is_current(&dist, &fingerprint) {
        println!("      {DIST} is up to date");
        return Ok(());
    }

    let staging = root.join(STAGING);
    if staging.exists() {
        fs::remove_dir_all(&staging).with_context(|| format!("clearing {STAGING}"))?;
    }
    fs::create_dir_all(&staging).with_context(|| format!("creating {STAGING}"))?;

    // The wasm compile does not need wasm-bindgen yet: on a new machine its
    // install (a cargo build of its own) runs beside the compile.
    ensure_node_modules(sh)?;
    let bindgen = {
        let root = root.clone();
        crate::steps::spawn(move || {
            let sh = Shell::new()?;
            sh.change_dir(root);
            ensure_wasm_bindgen(&sh)
        })
    };
    // One cargo target for both bundles: the second build reuses every
    // dependency and recompiles only the app. Each output is put aside
    // before the next build overwrites it.
    let compiled = BUNDLES.iter().try_for_each(|(name, features)| {
        compile_wasm(sh, features)?;
        fs::copy(root.join(WASM), staging.join(format!("{name}.raw.wasm")))
            .with_context(|| format!("keeping the {name} build"))?;
        Ok::<_, anyhow::Error>(())
    });
    let installed = bindgen
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the wasm-bindgen install panicked")));
    compiled?;
    installed?;
    for (name, _) in BUNDLES {
        bind_and_shrink(sh, &root, &staging, name)?;
    }
    build_css(sh, &staging)?;
    write_index(&root, &staging, &fingerprint)?;
    precompress(sh, &staging)?;

    fs::create_dir_all(&dist).with_context(|| format!("creating {DIST}"))?;
    // index.html last: it is the file that points at the others.
    for name in OUTPUTS.iter().rev() {
        fs::rename(staging.join(name), dist.join(name))
            .with_context(|| format!("moving {name} into {DIST}"))?;
    }
    fs::write(dist.join(STAMP), &fingerprint).context("writing the build fingerprint")?;
    report_sizes(&dist)
}

fn ensure_wasm_bindgen(sh: &Shell) -> Result<()> {
    let lock = sh.current_dir().join("web/Cargo.lock");
    let wanted = locked_version(&lock, "wasm-bindgen")?;
    let installed = find_wasm_bindgen().and_then(|bin| {
        cmd!(sh, "{bin} --version")
            .quiet()
            .ignore_stderr()
            .read()
            .ok()
    });
    // wasm-bindgen refuses to process a wasm made by another library version.
    if installed.as_deref() == Some(format!("wasm-bindgen {wanted}").as_str()) {
        return Ok(());
    }
    println!("      installing wasm-bindgen-cli {wanted} (cargo install, about 3 min on 2 cores)");
    crate::prereq::registry("crates.io", crate::tools::CRATES_IO)?;
    // No --locked: one of its locked dependencies is gone from the registry.
    // --force: cargo's own record may name a version whose binary is gone.
    cmd!(
        sh,
        "cargo install --force wasm-bindgen-cli --version ={wanted}"
    )
    .logged()
    .context("installing wasm-bindgen-cli")?;
    Ok(())
}

/// On PATH, or where `cargo install` puts it when PATH lacks that folder.
fn find_wasm_bindgen() -> Option<PathBuf> {
    crate::tools::which("wasm-bindgen").or_else(|| {
        env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
            .map(|home| home.join("bin/wasm-bindgen"))
            .filter(|bin| bin.is_file())
    })
}

fn locked_version(lock: &Path, package: &str) -> Result<String> {
    let text = fs::read_to_string(lock).with_context(|| format!("reading {}", lock.display()))?;
    let name_line = format!("name = \"{package}\"");
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line == name_line
            && let Some(version) = lines
                .next()
                .and_then(|l| l.strip_prefix("version = \""))
                .and_then(|l| l.strip_suffix('"'))
        {
            return Ok(version.to_owned());
        }
    }
    bail!("{package} is not in {}", lock.display())
}

fn ensure_node_modules(sh: &Shell) -> Result<()> {
    let web = sh.current_dir().join("web");
    // npm rewrites this file on every install, so it dates node_modules.
    let installed = modified(&web.join("node_modules/.package-lock.json"));
    let locked = modified(&web.join("package-lock.json"));
    let tools_present = ["wasm-opt", "tailwindcss"]
        .iter()
        .all(|tool| web.join("node_modules/.bin").join(tool).exists());
    if tools_present && installed.is_some() && installed >= locked {
        return Ok(());
    }
    println!("      installing binaryen and tailwindcss (npm ci)");
    crate::prereq::registry("the npm registry", crate::tools::NPM)?;
    let _web = sh.push_dir(&web);
    cmd!(sh, "npm ci --no-audit --no-fund --loglevel=error")
        .logged()
        .context("npm ci in web/")?;
    Ok(())
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn compile_wasm(sh: &Shell, features: &str) -> Result<()> {
    // Run from web/ so cargo reads web/.cargo/config.toml (wasm32 target,
    // build-std) and the root workspace never does.
    let _web = sh.push_dir("web");
    let path = format!("/usr/bin:{}", env::var("PATH").unwrap_or_default());
    cmd!(
        sh,
        "/usr/bin/cargo build --release --target-dir target --features={features}"
    )
    .env("PATH", path)
    // build-std is unstable; Debian's stable rustc accepts it this way.
    .env("RUSTC_BOOTSTRAP", "1")
    // Settings meant for native builds would override web/.cargo/config.toml.
    .env_remove("RUSTC")
    .env_remove("RUSTC_WRAPPER")
    .env_remove("RUSTC_WORKSPACE_WRAPPER")
    .env_remove("RUSTFLAGS")
    .env_remove("CARGO_ENCODED_RUSTFLAGS")
    .env_remove("CARGO_BUILD_TARGET")
    .env_remove("CARGO_BUILD_RUSTC")
    .env_remove("RUSTUP_TOOLCHAIN")
    .logged()
    .context("building web/ for wasm32")?;
    Ok(())
}

fn bind_and_shrink(sh: &Shell, root: &Path, staging: &Path, name: &str) -> Result<()> {
    let bindgen = find_wasm_bindgen().context("wasm-bindgen is not installed")?;
    let wasm = staging.join(format!("{name}.raw.wasm"));
    cmd!(
        sh,
        "{bindgen} --target web --no-typescript --out-name {name} --out-dir {staging} {wasm}"
    )
    .logged()
    .context("running wasm-bindgen")?;
    fs::remove_file(&wasm).with_context(|| format!("removing {}", wasm.display()))?;
    // binaryen from npm: Debian's older wasm-opt emits tables Chromium rejects.
    let wasm_opt = root.join("web/node_modules/.bin/wasm-opt");
    let bound = staging.join(format!("{name}_bg.wasm"));
    cmd!(
        sh,
        "{wasm_opt} -Oz --strip-debug --strip-producers {bound} -o {bound}"
    )
    .logged()
    .context("running wasm-opt")?;
    Ok(())
}

fn build_css(sh: &Shell, staging: &Path) -> Result<()> {
    let _web = sh.push_dir("web");
    let css = staging.join("app.css");
    // Tailwind chats on stderr even when it succeeds; show it only on failure.
    let out = cmd!(
        sh,
        "node_modules/.bin/tailwindcss --input style/app.css --output {css} --minify"
    )
    .quiet()
    .ignore_status()
    .output()
    .context("running tailwindcss")?;
    if !out.status.success() {
        bail!(
            "tailwindcss failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `name.br` (brotli, best) and `name.gz` (gzip -9) beside each file the
/// app loads, so the web front sends them as they are.
fn precompress(sh: &Shell, staging: &Path) -> Result<()> {
    for name in COMPRESSED {
        let file = staging.join(name);
        cmd!(sh, "brotli --best --force --keep {file}")
            .quiet()
            .logged()
            .with_context(|| format!("brotli {name}"))?;
        cmd!(sh, "gzip -9 --force --keep --no-name {file}")
            .quiet()
            .logged()
            .with_context(|| format!("gzip {name}"))?;
    }
    Ok(())
}

/// index.html and the boot script it loads, with each `?v=` stamped; and
/// console.html and console.js, the same two loading the console's bundle.
fn write_index(root: &Path, staging: &Path, fingerprint: &str) -> Result<()> {
    let version = &fingerprint[..12];
    let read = |name: &str| {
        fs::read_to_string(root.join("web").join(name))
            .map(|template| template.replace("__VERSION__", version))
            .with_context(|| format!("reading web/{name}"))
    };
    let (index, boot) = (read("index.html")?, read("boot.js")?);
    let console_index = index
        .replace("/boot.js?", "/console.js?")
        .replace("/shop-web", "/shop-console");
    let console_boot = boot.replace("/shop-web", "/shop-console");
    anyhow::ensure!(
        console_index != index && console_boot != boot,
        "web/index.html and web/boot.js must name /boot.js and /shop-web"
    );
    for (name, text) in [
        ("index.html", index),
        ("boot.js", boot),
        ("console.html", console_index),
        ("console.js", console_boot),
    ] {
        fs::write(staging.join(name), text).with_context(|| format!("writing {name}"))?;
    }
    Ok(())
}

fn is_current(dist: &Path, fingerprint: &str) -> bool {
    fs::read_to_string(dist.join(STAMP)).is_ok_and(|stamp| stamp == fingerprint)
        && OUTPUTS.iter().all(|name| dist.join(name).is_file())
}

/// A hash of every input's path and bytes. Contents, not times: a checkout or
/// a touch must not force the multi-minute build.
fn fingerprint(root: &Path) -> Result<String> {
    let mut files = Vec::new();
    for input in INPUTS {
        collect_files(root, &root.join(input), &mut files)?;
    }
    files.sort();
    let mut hash = Fnv64::new();
    for rel in &files {
        let bytes = fs::read(root.join(rel)).with_context(|| format!("reading {rel}"))?;
        hash.write(rel.as_bytes());
        hash.write(&(bytes.len() as u64).to_le_bytes());
        hash.write(&bytes);
    }
    // shop-types inherits [workspace.package] (its edition) from the root
    // manifest; the rest of that file changes often and never reaches web/.
    let root_manifest =
        fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    hash.write(toml_table(&root_manifest, "workspace.package").as_bytes());
    // The toolchain's version changes the output as much as the sources do.
    let rustc = fs::metadata("/usr/bin/rustc")
        .and_then(|m| m.modified())
        .ok();
    hash.write(format!("{rustc:?}").as_bytes());
    Ok(format!("{:016x}{:04x}", hash.finish(), files.len()))
}

/// The lines of one `[table]` of a TOML file, header excluded.
fn toml_table(text: &str, name: &str) -> String {
    let header = format!("[{name}]");
    text.lines()
        .skip_while(|line| line.trim() != header)
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('['))
        .collect::<Vec<_>>()
        .join("\n")
}

fn collect_files(root: &Path, path: &Path, out: &mut Vec<String>) -> Result<()> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if meta.is_dir() {
        for entry in fs::read_dir(path).with_context(|| format!("listing {}", path.display()))? {
            let entry = entry?;
            // Build output of a crate built on its own is not an input.
            if entry.file_name() == "target" {
                continue;
            }
            collect_files(root, &entry.path(), out)?;
        }
    } else {
        let rel = path.strip_prefix(root).unwrap_or(path);
        out.push(rel.to_string_lossy().replace('\\', "/"));
    }
    Ok(())
}

/// FNV-1a: unlike `DefaultHasher` it does not change with the Rust release
/// that builds this xtask, so an update of that toolchain keeps stamps valid.
struct Fnv64(u64);

impl Fnv64 {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn report_sizes(dist: &Path) -> Result<()> {
    let mut parts = Vec::new();
    for name in &OUTPUTS[1..5] {
        let bytes = fs::metadata(dist.join(name))
            .with_context(|| format!("reading {DIST}/{name}"))?
            .len();
        parts.push(format!(
            "{name} {}.{} KB",
            bytes / 1024,
            bytes % 1024 * 10 / 1024
        ));
    }
    println!("      built {DIST} ({})", parts.join(", "));
    let mut br = 0;
    for name in FIRST_LOAD {
        let compressed = dist.join(format!("{name}.br"));
        br += fs::metadata(&compressed)
            .or_else(|_| fs::metadata(dist.join(name)))?
            .len();
    }
    let console = fs::metadata(dist.join("shop-console_bg.wasm.br"))?.len();
    println!(
        "      the storefront's first load comes to {} KB with brotli; the console's wasm (in its place on /admin and /status) is {} KB",
        br / 1024,
        console / 1024
    );
    Ok(())
}
