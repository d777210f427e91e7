//! The table the bench prints, each figure beside its target, and the JSON
//! it writes.

use crate::{Options, latency::Notify, load::LoadResult, platform::WebLoad, seed::Oversell};

use anyhow::Result;
use serde::Serialize;
use std::{
    collections::BTreeMap,
    fmt::Write,
    path::{Path, PathBuf},
};

const MB: f64 = 1024.0 * 1024.0;

#[derive(Debug, Serialize)]
pub struct Report {
    pub started_at: String,
    pub target: String,
    pub seconds: u64,
    pub users: usize,
    pub cores: usize,
    pub rust_log: String,
    pub load: Vec<LoadResult>,
    pub oversell: Option<Oversell>,
    pub notify: Option<Notify>,
    pub memory_before: Option<u64>,
    pub memory_after: Option<u64>,
    pub services_idle: BTreeMap<String, u64>,
    pub web: Option<WebLoad>,
    pub lighthouse: Vec<crate::lighthouse::Audit>,
    /// What the traced run's platform exported to the OTLP sink.
    pub traced_exports: Option<crate::traced::Exports>,
    pub skipped: BTreeMap<String, String>,
}

/// (scenario, least requests a second, most p99 in ms).
const TARGETS: [(&str, f64, Option<f64>); 5] = [
    ("product_by_id", 12_000.0, Some(10.0)),
    ("catalogue_page", 8_000.0, None),
    ("users_me", 10_000.0, None),
    ("checkout_spread", 1_000.0, Some(100.0)),
    ("checkout_hot", 600.0, Some(100.0)),
];

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

impl Report {
    pub fn new(options: &Options) -> Self {
        Self {
            started_at: chrono::Utc::now().to_rfc3339(),
            target: options
                .url
                .clone()
                .unwrap_or_else(|| "throwaway release platform (shop)".into()),
            seconds: options.seconds,
            users: options.users,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            rust_log: std::env::var("RUST_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn (default)".into()),
            load: Vec::new(),
            oversell: None,
            notify: None,
            memory_before: None,
            memory_after: None,
            services_idle: BTreeMap::new(),
            web: None,
            lighthouse: Vec::new(),
            traced_exports: None,
            skipped: BTreeMap::new(),
        }
    }

    pub fn skipped(&mut self, name: &str, why: &str) {
        self.skipped.insert(name.to_owned(), why.to_owned());
    }

    fn rate(&self, name: &str) -> Option<f64> {
        self.load
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.per_second)
    }

    /// The results as Markdown: the load table, then every target.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{} goose users, {} s each, {} cores, RUST_LOG={}\n",
            self.users, self.seconds, self.cores, self.rust_log
        );
        let _ = writeln!(
            t,
            "| scenario | req/s | p50 ms | p99 ms | max ms | errors |"
        );
        let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|");
        for l in &self.load {
            let _ = writeln!(
                t,
                "| {} | {:.0} | {:.2} | {:.2} | {:.1} | {} |",
                l.name, l.per_second, l.p50_ms, l.p99_ms, l.max_ms, l.errors
            );
        }
        let _ = writeln!(t, "\n| target | measured | verdict |");
        let _ = writeln!(t, "|---|---|---|");
        for (name, least, p99) in TARGETS {
            let Some(l) = self.load.iter().find(|l| l.name == name) else {
                continue;
            };
            let ok = l.per_second >= least && p99.is_none_or(|p| l.p99_ms <= p) && l.errors == 0;
            let want = match p99 {
                Some(p) => format!("≥ {least:.0} req/s, p99 ≤ {p} ms, no errors"),
                None => format!("≥ {least:.0} req/s, no errors"),
            };
            let _ = writeln!(
                t,
                "| {name}: {want} | {:.0} req/s, p99 {:.2} ms, {} errors | {} |",
                l.per_second,
                l.p99_ms,
                l.errors,
                verdict(ok)
            );
        }
        if let Some(gateway) = self.rate("product_by_id") {
            if let Some(nginx) = self.rate("product_by_id_nginx") {
                let r = gateway / nginx;
                let _ = writeln!(
                    t,
                    "| gateway ≥ 1.0× nginx (product by id) | {r:.2}× | {} |",
                    verdict(r >= 1.0)
                );
            }
            if let Some(direct) = self.rate("product_by_id_direct") {
                let r = gateway / direct;
                let _ = writeln!(
                    t,
                    "| gateway ≥ 0.8× the service direct | {r:.2}× | {} |",
                    verdict(r >= 0.8)
                );
            }
        }
        for name in crate::traced::SCENARIOS {
            let (Some(plain), Some(traced)) =
                (self.rate(name), self.rate(&format!("{name}_traced")))
            else {
                continue;
            };
            let cost = 1.0 - traced / plain;
            let exported = self.traced_exports.as_ref().map_or(0, |e| e.requests);
            let _ = writeln!(
                t,
                "| tracing every request costs ≤ 10 % ({name}) | {:.0} → {:.0} req/s, {:+.1} % cost; {} OTLP exports | {} |",
                plain,
                traced,
                cost * 100.0,
                exported,
                verdict(cost <= 0.10 && exported > 0)
            );
        }
        if let Some(o) = &self.oversell {
            let ok = o.oversold == 0
                && o.lost == 0
                && o.confirmed as i64 == o.stock
                && o.stock_after == 0;
            let _ = writeln!(
                t,
                "| 0 oversold: {} orders for the last {} units | {} confirmed, {} refused (409), {} errors, stock after {} | {} |",
                o.attempts,
                o.stock,
                o.confirmed,
                o.refused,
                o.errors,
                o.stock_after,
                verdict(ok)
            );
        }
        if let Some(n) = &self.notify {
            let _ = writeln!(
                t,
                "| order → email p95 ≤ 2 s at {}/s | p50 {:.1} ms, p95 {:.1} ms, max {:.0} ms ({} of {}) | {} |",
                n.orders_per_second,
                n.email.p50_ms,
                n.email.p95_ms,
                n.email.max_ms,
                n.email.count,
                n.placed,
                verdict(n.email.p95_ms <= 2000.0 && n.email.missing == 0)
            );
            let _ = writeln!(
                t,
                "| order → push p95 ≤ 1 s at {}/s | p50 {:.1} ms, p95 {:.1} ms, max {:.0} ms ({} of {}) | {} |",
                n.orders_per_second,
                n.push.p50_ms,
                n.push.p95_ms,
                n.push.max_ms,
                n.push.count,
                n.placed,
                verdict(n.push.p95_ms <= 1000.0 && n.push.missing == 0)
            );
            let _ = writeln!(
                t,
                "| capacity: highest steady rate with order → push p95 ≤ 1 s (200, 100, 50, 25/s tried) | {} | {} |",
                n.capacity.map_or_else(
                    || "below 25 orders/s".to_owned(),
                    |c| format!("{c} orders/s")
                ),
                verdict(n.capacity.is_some_and(|c| c >= 200))
            );
        }
        if let (Some(before), Some(after)) = (self.memory_before, self.memory_after) {
            let _ = writeln!(
                t,
                "| one-process platform ≤ 40 MB after the bench | {:.1} MB before, {:.1} MB after | {} |",
                before as f64 / MB,
                after as f64 / MB,
                verdict(after as f64 <= 40.0 * MB)
            );
        }
        for (service, bytes) in &self.services_idle {
            let _ = writeln!(
                t,
                "| {service} alone ≤ 12 MB idle | {:.1} MB | {} |",
                *bytes as f64 / MB,
                verdict(*bytes as f64 <= 12.0 * MB)
            );
        }
        if let Some(web) = &self.web {
            let _ = writeln!(
                t,
                "| web first load ≤ 300 KB compressed | {:.0} KB in {} files | {} |",
                web.total_bytes as f64 / 1024.0,
                web.files.len(),
                verdict(web.total_bytes <= 300 * 1024)
            );
        }
        for a in &self.lighthouse {
            let _ = writeln!(
                t,
                "| Lighthouse {}: performance ≥ 90, LCP ≤ 2.5 s, CLS ≤ 0.1, TBT ≤ 200 ms, the rest ≥ 95 | \
                 performance {}, LCP {:.1} s, CLS {:.3}, TBT {:.0} ms; accessibility {}, best practices {}, SEO {} | {} |",
                a.page,
                a.performance,
                a.lcp_ms / 1000.0,
                a.cls,
                a.tbt_ms,
                a.accessibility,
                a.best_practices,
                a.seo,
                verdict(a.meets_targets())
            );
        }
        for (name, why) in &self.skipped {
            let _ = writeln!(t, "| {name} | skipped: {why} | |");
        }
        t
    }

    /// `<out>/<time>.json` and `<out>/latest.json`.
    pub fn write(&self, out: &Path) -> Result<PathBuf> {
        let json = serde_json::to_string_pretty(self)?;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let path = out.join(format!("{stamp}.json"));
        std::fs::write(&path, &json)?;
        std::fs::write(out.join("latest.json"), &json)?;
        std::fs::write(out.join("latest.md"), self.table())?;
        Ok(path)
    }
}
