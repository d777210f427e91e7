//! Lighthouse's audit of the storefront (its default mobile profile:
//! a mid-range phone on a slow 4G link, simulated), run with Debian's
//! Chromium against the bench's platform: the catalogue and one product page.
//! Lighthouse comes from `cargo xtask bench` (`SHOP_BENCH_LIGHTHOUSE`).

use anyhow::{Context, Result, bail};
use serde::Serialize;

/// The four categories, 0–100.
#[derive(Debug, Default, Serialize)]
pub struct Audit {
    pub page: String,
    pub performance: u32,
    pub accessibility: u32,
    pub best_practices: u32,
    pub seo: u32,
    pub lcp_ms: f64,
    pub cls: f64,
    pub tbt_ms: f64,
    /// The audits of the four categories that scored below 0.9, by id.
    pub failing: Vec<String>,
}

impl Audit {
    /// Every target of the storefront issue.
    pub fn meets_targets(&self) -> bool {
        self.performance >= 90
            && self.lcp_ms <= 2_500.0
            && self.cls <= 0.1
            && self.tbt_ms <= 200.0
            && self.accessibility >= 95
            && self.best_practices >= 95
            && self.seo >= 95
    }
}

/// Pictures the bench gives the catalogue's first page, as a shop's
/// products have (demo-images/, 640×480 WebP).
const PICTURES: [&[u8]; 3] = [
    include_bytes!("../../../services/products/demo-images/HM-LAMP-LED.webp"),
    include_bytes!("../../../services/products/demo-images/SP-BTL-750.webp"),
    include_bytes!("../../../services/products/demo-images/KT-FP-1L.webp"),
];

/// Audits `/` and the first product's page of the front at `web`, one after
/// the other, once the catalogue's first page has pictures; the reports are
/// kept in `out` as `lighthouse-*.json`.
pub async fn run(web: &str, options: &crate::Options) -> Result<Vec<Audit>> {
    let Some(lighthouse) = std::env::var_os("SHOP_BENCH_LIGHTHOUSE") else {
        bail!("SHOP_BENCH_LIGHTHOUSE is not set (`cargo xtask bench` installs Lighthouse)");
    };
    let out = options.out.as_path();
    let http = reqwest::Client::new();
    let api = format!("{web}/api");
    let admin =
        crate::seed::login(&http, &api, &options.admin_email, &options.admin_password).await?;
    let first: serde_json::Value = http
        .get(format!("{api}/products?limit=12"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let items = first["items"].as_array().cloned().unwrap_or_default();
    for (i, item) in items.iter().enumerate() {
        let Some(id) = item["id"].as_i64() else {
            continue;
        };
        http.put(format!("{api}/products/{id}/image"))
            .bearer_auth(&admin)
            .header("content-type", "image/webp")
            .body(PICTURES[i % PICTURES.len()])
            .send()
            .await?
            .error_for_status()
            .context("giving a product its picture")?;
    }
    let id = items
        .first()
        .and_then(|p| p["id"].as_i64())
        .context("the catalogue has a product")?;
    let mut audits = Vec::new();
    for (name, page) in [
        ("catalogue", "/".to_owned()),
        ("product", format!("/products/{id}")),
    ] {
        let report = out.join(format!("lighthouse-{name}.json"));
        let profile = tempfile_dir(name)?;
        let status = tokio::process::Command::new(&lighthouse)
            .arg(format!("{web}{page}"))
            .args([
                "--output=json",
                "--quiet",
                "--only-categories=performance,accessibility,best-practices,seo",
            ])
            .arg(format!("--output-path={}", report.display()))
            .arg(format!(
                "--chrome-flags=--headless=new --no-sandbox --disable-gpu --disable-quic \
                 --no-first-run --disable-background-networking --disable-component-update \
                 --disable-sync --disable-dev-shm-usage --user-data-dir={}",
                profile.display()
            ))
            .env("CHROME_PATH", "/usr/bin/chromium")
            .status()
            .await
            .context("running lighthouse")?;
        let _ = std::fs::remove_dir_all(&profile);
        if !status.success() {
            bail!("lighthouse on {page} failed: {status}");
        }
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report)?)?;
        audits.push(audit(page, &json)?);
    }
    Ok(audits)
}

fn tempfile_dir(name: &str) -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("shop-lighthouse-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The figures of one Lighthouse JSON report.
fn audit(page: String, report: &serde_json::Value) -> Result<Audit> {
    if let Some(error) = report["runtimeError"]["message"].as_str() {
        bail!("lighthouse on {page}: {error}");
    }
    let score = |category: &str| {
        report["categories"][category]["score"]
            .as_f64()
            .map(|s| (s * 100.0).round() as u32)
            .with_context(|| format!("no {category} score for {page}"))
    };
    let value = |id: &str| {
        report["audits"][id]["numericValue"]
            .as_f64()
            .with_context(|| format!("no {id} for {page}"))
    };
    let mut failing: Vec<String> = report["categories"]
        .as_object()
        .into_iter()
        .flat_map(|c| c.values())
        .flat_map(|c| c["auditRefs"].as_array().into_iter().flatten())
        .filter_map(|r| r["id"].as_str())
        .filter(|id| {
            report["audits"][*id]["score"]
                .as_f64()
                .is_some_and(|s| s < 0.9)
        })
        .map(str::to_owned)
        .collect();
    failing.sort();
    failing.dedup();
    Ok(Audit {
        performance: score("performance")?,
        accessibility: score("accessibility")?,
        best_practices: score("best-practices")?,
        seo: score("seo")?,
        lcp_ms: value("largest-contentful-paint")?,
        cls: value("cumulative-layout-shift")?,
        tbt_ms: value("total-blocking-time")?,
        failing,
        page,
    })
}
