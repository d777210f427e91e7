//! Every environment variable the platform's code reads is listed in
//! `.env.example`, and every variable listed there is read by the code.

use anyhow::{Result, bail};
use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

/// Runtime code only: test harnesses read variables of their own.
const CODE_DIRS: [&str; 7] = [
    "gateway/src",
    "services",
    "crates/platform/src",
    "crates/config/src",
    "crates/auth/src",
    "crates/events/src",
    "dev/stack/src",
];
/// Calls that read a variable; the name is a string literal inside them.
const READERS: [&str; 7] = [
    ".get(",
    "dev_default(",
    "dev_secret(",
    "parse_or(",
    "service_var(",
    "env::var(",
    "env::var_os(",
];
/// The process's own environment, not configuration.
const NOT_CONFIG: [&str; 3] = ["PATH", "HOME", "XDG_CACHE_HOME"];
/// Prefixes of per-service variables (`PRODUCTS_PORT` for `PORT`).
const SERVICES: [&str; 6] = [
    "USERS",
    "PRODUCTS",
    "ORDERS",
    "NOTIFICATIONS",
    "GATEWAY",
    "WEB",
];

/// Names read plainly, and names read with a service prefix; `required`
/// are those with a development default, which production refuses unset.
#[derive(Debug, Default, PartialEq)]
pub struct Reads {
    pub plain: BTreeSet<String>,
    pub prefixed: BTreeSet<String>,
    pub required: BTreeSet<String>,
}

fn is_var_name(s: &str) -> bool {
    s.len() > 2
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The variables read in one source text.
pub fn reads_in(source: &str, reads: &mut Reads) {
    for reader in READERS {
        for (at, _) in source.match_indices(reader) {
            let call = &source[at + reader.len()..];
            let call = &call[..call.find(')').unwrap_or(call.len()).min(300)];
            for literal in call.split('"').skip(1).step_by(2) {
                if is_var_name(literal) {
                    if reader == "service_var(" {
                        reads.prefixed.insert(literal.to_owned());
                    }
                    if reader == "dev_default(" || reader == "dev_secret(" {
                        reads.required.insert(literal.to_owned());
                    }
                    reads.plain.insert(literal.to_owned());
                } else if let Some(name) = literal.strip_prefix("{}_")
                    && is_var_name(name)
                {
                    reads.prefixed.insert(name.to_owned());
                }
            }
        }
    }
}

/// Names assigned in `.env.example`, commented-out examples included.
pub fn documented(example: &str) -> BTreeSet<String> {
    example
        .lines()
        .filter_map(|line| {
            let line = line.trim_start_matches('#').trim_start();
            let (name, _) = line.split_once('=')?;
            is_var_name(name).then(|| name.to_owned())
        })
        .collect()
}

/// What is read but not documented, and documented but not read.
pub fn compare(reads: &Reads, documented: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    let prefixed_forms =
        |name: &str| -> Vec<String> { SERVICES.iter().map(|s| format!("{s}_{name}")).collect() };
    let undocumented = reads
        .plain
        .iter()
        .filter(|n| !NOT_CONFIG.contains(&n.as_str()))
        .filter(|n| {
            let as_prefixed = reads.prefixed.contains(*n)
                && prefixed_forms(n).iter().any(|p| documented.contains(p));
            !(documented.contains(*n) || as_prefixed)
        })
        .chain(reads.prefixed.iter().filter(|n| {
            !documented.contains(*n) && !prefixed_forms(n).iter().any(|p| documented.contains(p))
        }))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let unread = documented
        .iter()
        .filter(|d| {
            !reads.plain.contains(*d)
                && !SERVICES.iter().any(|s| {
                    d.strip_prefix(s)
                        .and_then(|rest| rest.strip_prefix('_'))
                        .is_some_and(|rest| reads.prefixed.contains(rest))
                })
        })
        .cloned()
        .collect();
    (undocumented, unread)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            // A service's own tests folder is test code.
            if name != "tests" && name != "migrations" {
                rust_files(&path, out)?;
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

fn code_reads(root: &Path) -> Result<Reads> {
    let mut files = Vec::new();
    for dir in CODE_DIRS {
        rust_files(&root.join(dir), &mut files)?;
    }
    let mut reads = Reads::default();
    for file in &files {
        reads_in(&fs::read_to_string(file)?, &mut reads);
    }
    Ok(reads)
}

/// The Kubernetes manifests the production overlay is made of.
const PRODUCTION_MANIFESTS: [&str; 2] = [
    "deploy/kubernetes/base",
    "deploy/kubernetes/overlays/production",
];

/// Variables with a development default that a production deployment sets
/// under another name, or that only the one-process development platform
/// reads.
const NOT_DEPLOYED: [(&str, &str); 3] = [
    (
        "POSTGRES_URL",
        "each service gets its own DATABASE_URL from a Secret",
    ),
    (
        "WEB_DIST_DIR",
        "the one-process platform's web front; the cluster runs nginx",
    ),
    ("INBOX_HOST", "the one-process platform's mail inbox"),
];

/// Names set in manifests: `NAME=` lines of the ConfigMaps' `.env` files
/// and `- name: NAME` entries of containers' `env:`.
pub fn manifest_vars(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with('#') {
                return None;
            }
            let name = match line.strip_prefix("- name:") {
                Some(rest) => rest.trim(),
                None => line.split_once('=')?.0,
            };
            is_var_name(name).then(|| name.to_owned())
        })
        .collect()
}

/// Every variable the production manifests set is read by the code, and
/// every variable production refuses to default is set there.
fn check_manifests(root: &Path, reads: &Reads) -> Result<usize> {
    let mut set = BTreeSet::new();
    for dir in PRODUCTION_MANIFESTS {
        for entry in fs::read_dir(root.join(dir))? {
            let path = entry?.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if matches!(ext, "yaml" | "yml" | "env") {
                set.extend(manifest_vars(&fs::read_to_string(&path)?));
            }
        }
    }
    let (_, unread) = compare(reads, &set);
    let unset: Vec<&String> = reads
        .required
        .iter()
        .filter(|name| !set.contains(*name) && !NOT_DEPLOYED.iter().any(|(n, _)| n == *name))
        .collect();
    if !unread.is_empty() || !unset.is_empty() {
        bail!(
            "set in the production manifests but read by no code: [{}]; with a development default (refused in production) but not set there: [{}]",
            unread.join(", "),
            unset
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(set.len())
}

/// Fails naming every variable out of step.
pub fn check(root: &Path) -> Result<()> {
    let reads = code_reads(root)?;
    let listed = documented(&fs::read_to_string(root.join(".env.example"))?);
    let (undocumented, unread) = compare(&reads, &listed);
    if !undocumented.is_empty() || !unread.is_empty() {
        bail!(
            "read by the code but not in .env.example: [{}]; in .env.example but read by no code: [{}]",
            undocumented.join(", "),
            unread.join(", ")
        );
    }
    let deployed = check_manifests(root, &reads)?;
    println!(
        "      {} variables read, all in .env.example and none extra; the production manifests set {deployed}, each read by the code",
        reads.plain.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_found_in_calls_split_over_lines() {
        let mut reads = Reads::default();
        reads_in(
            r#"env.dev_secret(
                "INTERNAL_API_TOKEN",
                DEFAULT,
            )?; env.service_var("web", "PORT"); env.get(&format!("{}_AWS_ENDPOINT_URL", s));
            headers.get("x-request-id");"#,
            &mut reads,
        );
        assert_eq!(
            reads.plain.iter().collect::<Vec<_>>(),
            ["INTERNAL_API_TOKEN", "PORT"]
        );
        assert_eq!(
            reads.prefixed.iter().collect::<Vec<_>>(),
            ["AWS_ENDPOINT_URL", "PORT"]
        );
    }

    #[test]
    fn both_directions_are_reported() {
        let reads = Reads {
            plain: ["SHOP_ENV", "NEW_VAR", "PORT"].map(String::from).into(),
            prefixed: ["PORT", "AWS_ENDPOINT_URL"].map(String::from).into(),
            ..Reads::default()
        };
        let listed = documented(
            "SHOP_ENV=dev\n# PRODUCTS_PORT=1\n# ORDERS_AWS_ENDPOINT_URL=x\nOLD=1 # gone\n",
        );
        let (undocumented, unread) = compare(&reads, &listed);
        assert_eq!(undocumented, ["NEW_VAR"]);
        assert_eq!(unread, ["OLD"]);
    }
}
