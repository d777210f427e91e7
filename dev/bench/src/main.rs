//! `shop-bench`: the load benchmark behind `cargo xtask bench`.
//!
//! Without `--url` it starts the release build of the one-process platform
//! (`shop`, next to this binary) on throwaway databases, on embedded
//! defaults as `cargo xtask up` runs it, with nginx in front of its products
//! service; then a second one with its events on moto for the order →
//! email / push latency, and a third that exports every span to an OTLP
//! sink for the cost of tracing. With `--url` it targets a running gateway. It seeds users and stock,
//! drives each scenario with goose, measures order → email and order → push
//! latency, resident memory, and prints one table. Results go to
//! `target/bench/<time>.json` and `target/bench/latest.json`.

mod latency;
mod lighthouse;
mod load;
mod platform;
mod report;
mod seed;
mod traced;

use anyhow::{Context, Result, bail};
use std::{path::PathBuf, time::Duration};

const USAGE: &str =
    "usage: shop-bench [--url GATEWAY_URL] [--seconds N] [--users N] [--only a,b] [--out DIR]

  --url      a running platform's gateway (default: start one on throwaway databases)
  --seconds  length of each load scenario (default 15)
  --users    concurrent goose users per scenario (default 64)
  --only     run only these scenarios (names as in the table)
  --out      where the JSON results go (default target/bench)
  --admin-email, --admin-password  an admin of the platform at --url";

#[derive(Debug, Clone)]
pub struct Options {
    pub url: Option<String>,
    pub seconds: u64,
    pub users: usize,
    pub only: Option<Vec<String>>,
    pub out: PathBuf,
    pub admin_email: String,
    pub admin_password: String,
}

impl Options {
    fn parse() -> Result<Self> {
        let mut o = Self {
            url: None,
            seconds: 15,
            users: 64,
            only: None,
            out: PathBuf::from("target/bench"),
            admin_email: platform::ADMIN_EMAIL.to_owned(),
            admin_password: platform::ADMIN_PASSWORD.to_owned(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--url" => o.url = Some(value()?.trim_end_matches('/').to_owned()),
                "--seconds" => o.seconds = value()?.parse().context("--seconds")?,
                "--users" => o.users = value()?.parse().context("--users")?,
                "--only" => o.only = Some(value()?.split(',').map(str::to_owned).collect()),
                "--out" => o.out = PathBuf::from(value()?),
                "--admin-email" => o.admin_email = value()?,
                "--admin-password" => o.admin_password = value()?,
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument `{other}`\n{USAGE}"),
            }
        }
        if o.seconds == 0 || o.users == 0 {
            bail!("--seconds and --users must be above zero");
        }
        Ok(o)
    }

    pub fn wants(&self, scenario: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|s| s == scenario))
    }

    pub fn run_time(&self) -> Duration {
        Duration::from_secs(self.seconds)
    }
}

fn main() -> std::process::ExitCode {
    let options = match Options::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("shop-bench: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(options)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shop-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<()> {
    std::fs::create_dir_all(&options.out)?;
    let mut report = report::Report::new(&options);
    let platform = match &options.url {
        Some(url) => platform::Platform::external(url),
        None => platform::Platform::start(&options, platform::Events::Embedded, None).await?,
    };
    report.memory_before = platform.resident_memory();
    let outcome = scenarios(&options, &platform, &mut report).await;
    report.memory_after = platform.resident_memory();
    if let Some(web) = platform.web_url() {
        match platform::web_first_load(web).await {
            Ok(load) => report.web = Some(load),
            Err(e) => eprintln!("shop-bench: the web app's first load was not measured: {e:#}"),
        }
        if options.wants("lighthouse") {
            println!("shop-bench: Lighthouse (mobile defaults) on / and a product page");
            match lighthouse::run(web, &options).await {
                Ok(audits) => report.lighthouse = audits,
                Err(e) => report.skipped("lighthouse", &format!("{e:#}")),
            }
        }
    }
    platform.stop().await;
    outcome?;
    if options.wants("notify") {
        if options.url.is_some() {
            report.skipped("notify", "needs the throwaway platform on moto (no --url)");
        } else {
            println!("shop-bench: order → email / push latency at 200 orders/s (events on moto)");
            let at = |rate: u64| {
                let options = &options;
                async move {
                    let platform =
                        platform::Platform::start(options, platform::Events::Moto, None).await?;
                    let outcome = async {
                        let seeded = seed::seed(options, &platform, 8).await?;
                        let inbox = platform.inbox_url().context("the platform has no inbox")?;
                        latency::run_at(&platform, &seeded, &inbox, rate).await
                    }
                    .await;
                    platform.stop().await;
                    outcome
                }
            };
            let mut notify = at(latency::RATE).await?;
            if latency::keeps_up(&notify) {
                notify.capacity = Some(latency::RATE);
            } else {
                // The capacity: the highest lower rate that keeps up, each
                // on a platform of its own.
                for rate in latency::LOWER_RATES {
                    println!("shop-bench: order → push at {rate} orders/s (capacity)");
                    match at(rate).await {
                        Ok(lower) => {
                            println!(
                                "shop-bench: at {rate}/s: {} placed, {} refused, push p95 {:.1} ms ({} missing)",
                                lower.placed, lower.refused, lower.push.p95_ms, lower.push.missing
                            );
                            if latency::keeps_up(&lower) {
                                notify.capacity = Some(rate);
                                break;
                            }
                        }
                        Err(e) => {
                            println!("shop-bench: the capacity run at {rate}/s failed: {e:#}");
                            break;
                        }
                    }
                }
            }
            report.notify = Some(notify);
        }
    }
    if options.wants("traced") {
        if options.url.is_some() {
            report.skipped("traced", "needs the throwaway platform (no --url)");
        } else {
            traced(&options, &mut report).await?;
        }
    }
    if options.url.is_none() && options.wants("memory") {
        report.services_idle = platform::services_idle(&options).await?;
    }
    println!("{}", report.table());
    let written = report.write(&options.out)?;
    println!("shop-bench: results in {}", written.display());
    Ok(())
}

/// The traced scenarios, on a platform of their own whose every request is
/// sampled and exported.
async fn traced(options: &Options, report: &mut report::Report) -> Result<()> {
    let sink = traced::Sink::start().await?;
    println!(
        "shop-bench: tracing on, every request sampled, spans to {}",
        sink.url
    );
    let platform =
        platform::Platform::start(options, platform::Events::Embedded, Some(&sink.url)).await?;
    let outcome = async {
        let seeded = seed::seed(options, &platform, options.users.min(64)).await?;
        for scenario in load::SCENARIOS {
            if !traced::SCENARIOS.contains(&scenario.name) {
                continue;
            }
            let host = platform.base_for(scenario.via).context("the gateway")?;
            println!(
                "shop-bench: {} traced ({}s)",
                scenario.name, options.seconds
            );
            let mut result = load::run(options, scenario, &host, &seeded).await?;
            result.name = format!("{}_traced", scenario.name);
            report.load.push(result);
        }
        anyhow::Ok(())
    }
    .await;
    platform.stop().await;
    report.traced_exports = Some(sink.exports());
    outcome
}

async fn scenarios(
    options: &Options,
    platform: &platform::Platform,
    report: &mut report::Report,
) -> Result<()> {
    let seeded = seed::seed(options, platform, options.users.min(64)).await?;
    for scenario in load::SCENARIOS {
        if !options.wants(scenario.name) {
            continue;
        }
        let Some(host) = platform.base_for(scenario.via) else {
            report.skipped(scenario.name, "needs the throwaway platform (no --url)");
            continue;
        };
        println!("shop-bench: {} ({}s)", scenario.name, options.seconds);
        let result = load::run(options, scenario, &host, &seeded).await?;
        report.load.push(result);
    }
    if options.wants("oversell") {
        println!("shop-bench: oversell (last units, all at once)");
        report.oversell = Some(seed::last_units(platform, &seeded).await?);
    }
    Ok(())
}
