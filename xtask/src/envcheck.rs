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
    "crates/stack/src",
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

/// Names read plainly, and names read with a service prefix.
#[derive(Debug, Default, PartialEq)]
pub struct Reads {
    pub plain: BTreeSet<String>,
    pub prefixed: BTreeSet<String>,
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

/// Fails naming every variable out of step.
pub fn check(root: &Path) -> Result<()> {
    let mut files = Vec::new();
    for dir in CODE_DIRS {
        rust_files(&root.join(dir), &mut files)?;
    }
    let mut reads = Reads::default();
    for file in &files {
        reads_in(&fs::read_to_string(file)?, &mut reads);
    }
    let listed = documented(&fs::read_to_string(root.join(".env.example"))?);
    let (undocumented, unread) = compare(&reads, &listed);
    if !undocumented.is_empty() || !unread.is_empty() {
        bail!(
            "read by the code but not in .env.example: [{}]; in .env.example but read by no code: [{}]",
            undocumented.join(", "),
            unread.join(", ")
        );
    }
    println!(
        "xtask: {} variables read, all in .env.example and none extra",
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
        };
        let listed = documented(
            "SHOP_ENV=dev\n# PRODUCTS_PORT=1\n# ORDERS_AWS_ENDPOINT_URL=x\nOLD=1 # gone\n",
        );
        let (undocumented, unread) = compare(&reads, &listed);
        assert_eq!(undocumented, ["NEW_VAR"]);
        assert_eq!(unread, ["OLD"]);
    }
}
