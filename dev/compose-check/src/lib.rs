//! `docker compose up` without Docker: reads `docker-compose.yml` as
//! `docker-compose config` resolves it, and starts what each container would
//! run as a native process — the release binaries with the environment
//! compose gives them, the stand-ins for the third-party images, and nginx
//! with the web image's configuration — in the order compose starts them.
//!
//! Container host names become `127.0.0.1` and every port a free one; see
//! [`replay`] for the whole mapping.

pub mod file;
pub mod nginx;
pub mod replay;

pub use file::ComposeFile;
pub use replay::Replay;

/// Every Grafana dashboard in `dir`: its file name and the PromQL of each
/// panel's queries.
pub fn dashboards(dir: &std::path::Path) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    use anyhow::Context;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let exprs = json["panels"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t["expr"].as_str().map(str::to_owned))
            .collect();
        out.push((path.display().to_string(), exprs));
    }
    Ok(out)
}

/// The series names a PromQL expression reads (`http_requests_total` in
/// `sum(rate(http_requests_total[1m]))`): words with an underscore that are
/// neither a function nor a label.
pub fn series_in(expr: &str) -> Vec<String> {
    const FUNCTIONS: [&str; 2] = ["histogram_quantile", "label_replace"];
    let mut names = Vec::new();
    let mut inside_braces = false;
    let mut word = String::new();
    let flush = |word: &mut String, names: &mut Vec<String>, inside: bool| {
        if !inside && word.contains('_') && !FUNCTIONS.contains(&word.as_str()) {
            names.push(std::mem::take(word));
        }
        word.clear();
    };
    for c in expr.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut names, inside_braces);
        match c {
            '{' => inside_braces = true,
            '}' => inside_braces = false,
            _ => {}
        }
    }
    flush(&mut word, &mut names, inside_braces);
    names.retain(|n| !n.chars().next().is_some_and(|c| c.is_ascii_digit()));
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    #[test]
    fn series_are_read_out_of_promql() {
        assert_eq!(
            super::series_in(
                r#"histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket{status=~"5.."}[1m])))"#
            ),
            ["http_request_duration_seconds_bucket"]
        );
        assert_eq!(
            super::series_in(r#"db_pool_connections{state="used"}"#),
            ["db_pool_connections"]
        );
    }
}
