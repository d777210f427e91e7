//! `docker compose up`, replayed natively (see `shop_compose_check::replay`):
//! every container's program comes up healthy in compose's order, and the
//! platform works through the web front the compose file publishes.

use anyhow::{Context, Result, bail, ensure};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use shop_browser_tests::Browser;
use shop_compose_check::{Replay, replay::JAEGER_OTLP_PORT};
use shop_testkit::otlp::Receiver;
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

const WEB_PORT: u16 = 8080;
const MAILHOG_WEB_PORT: u16 = 8025;
/// How long an event may take from the order to the inbox or the socket.
const DELIVERY_LIMIT: Duration = Duration::from_secs(30);
/// Prometheus scrapes every 10 s; the gauges refresh every 5 s.
const METRICS_LIMIT: Duration = Duration::from_secs(60);

fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the service images (or binaries), podman, nginx, LocalStack, maildev, the AWS CLI and Chromium: run by `cargo xtask test`"]
async fn compose_up_comes_up_and_serves_an_order_through_the_web_front() {
    shop_platform::install_crypto_provider();
    let replay = match Replay::up(&project_root()).await {
        Ok(replay) => replay,
        Err(e) => panic!("docker compose up, replayed natively, failed: {e:#}"),
    };
    // Jaeger's place: the services send their spans here.
    let jaeger = replay
        .url("jaeger", JAEGER_OTLP_PORT)
        .expect("the compose file runs jaeger");
    let traces = Receiver::start_at(jaeger.trim_start_matches("http://"));
    let outcome = match check(&replay).await {
        Ok(()) => traced(&traces).await,
        Err(e) => Err(e),
    };
    let logs = replay.log_dir();
    let stopped = replay.down().await;
    if let Err(e) = outcome {
        panic!("{e:#}\n(logs of every container: {})", logs.display());
    }
    if let Err(e) = stopped {
        panic!("docker compose down: {e:#}");
    }
}

/// The order's trace reached the compose file's OTLP endpoint from every
/// container it crossed, the consumer's part through LocalStack included.
async fn traced(traces: &Receiver) -> Result<()> {
    let wanted = ["gateway", "orders", "products", "notifications"];
    let started = Instant::now();
    loop {
        let spans = traces.spans();
        let order = spans
            .iter()
            .find(|s| s.service == "orders" && s.name == "order-events publish");
        if let Some(publish) = order {
            let trace = traces.trace(&publish.trace_id);
            let services: std::collections::BTreeSet<&str> =
                trace.iter().map(|s| s.service.as_str()).collect();
            if wanted.iter().all(|w| services.contains(w)) {
                return Ok(());
            }
        }
        ensure!(
            started.elapsed() < DELIVERY_LIMIT,
            "no checkout trace with spans of {wanted:?} within {}s; received from {:?}",
            DELIVERY_LIMIT.as_secs(),
            spans
                .iter()
                .map(|s| format!("{} {}", s.service, s.name))
                .collect::<std::collections::BTreeSet<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn check(replay: &Replay) -> Result<()> {
    let web = replay.url("web", WEB_PORT).context("the web front")?;
    let http = reqwest::Client::new();

    // Every service up, as the gateway sees it through the web front.
    let health: Value = http
        .get(format!("{web}/api/health"))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        health["status"] == "healthy",
        "the gateway is not healthy: {health}"
    );

    // The compose file's administrator stocks a product.
    let users_env = replay.env("users").context("the users service")?;
    let admin = log_in(
        &http,
        &web,
        &users_env["ADMIN_EMAIL"],
        &users_env["ADMIN_PASSWORD"],
    )
    .await
    .context("the compose administrator signs in")?;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let product = http
        .post(format!("{web}/api/products"))
        .bearer_auth(&admin)
        .json(
            &json!({"name": format!("Compose check {tag}"), "price": "12.50",
            "stock_quantity": 5, "sku": format!("COMPOSE-{tag}"), "category": "Test"}),
        )
        .send()
        .await?;
    let product_id = created_id(product, "creating a product").await?;

    // A customer signs up, listens for pushes, and orders.
    let email = format!("compose-{tag}@example.com");
    let register = http
        .post(format!("{web}/api/users/register"))
        .json(&json!({"email": email, "username": format!("compose{tag}"), "password": "correct-horse"}))
        .send()
        .await?;
    ensure!(register.status() == 201, "register: {}", register.status());
    let token = log_in(&http, &web, &email, "correct-horse").await?;
    let mut socket = open_socket(&web, &token).await?;

    let order = http
        .post(format!("{web}/api/orders"))
        .bearer_auth(&token)
        .header("idempotency-key", format!("compose-{tag}"))
        .json(&json!({"items": [{"product_id": product_id, "quantity": 2}]}))
        .send()
        .await?;
    let order_id = created_id(order, "placing the order").await?;

    // The push arrives on the customer's socket ...
    let push = tokio::time::timeout(DELIVERY_LIMIT, async {
        while let Some(message) = socket.next().await {
            if let Message::Text(text) = message? {
                let value: Value = serde_json::from_str(&text)?;
                if value["type"] == "notification" && value["data"]["order_id"] == order_id {
                    return Ok::<_, anyhow::Error>(value);
                }
            }
        }
        bail!("the socket closed before the push arrived")
    })
    .await
    .context("no push within the delivery limit")??;
    ensure!(
        push["data"]["subject"]
            .as_str()
            .is_some_and(|s| s.contains(&order_id.to_string())),
        "the push names another order: {push}"
    );

    // ... and the email reaches the compose mail catcher.
    let inbox = replay
        .url("mailhog", MAILHOG_WEB_PORT)
        .context("the mail catcher")?;
    let started = Instant::now();
    loop {
        let mails: Vec<Value> = http
            .get(format!("{inbox}/email"))
            .send()
            .await?
            .json()
            .await?;
        let mine = mails.iter().any(|m| {
            m["to"]
                .as_array()
                .is_some_and(|to| to.iter().any(|t| t["address"] == email.as_str()))
        });
        if mine {
            break;
        }
        ensure!(
            started.elapsed() < DELIVERY_LIMIT,
            "no email to {email} within {}s",
            DELIVERY_LIMIT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    metrics_are_scraped(&http, replay).await?;
    swagger_ui_loads(&http, &web).await?;
    pages_and_crawler_files(&http, &web).await?;
    containers_are_locked_down(replay)
}

/// The web front's own answers: each kind of route loads its page, an
/// unknown path the storefront's with a 404, and what crawlers read.
async fn pages_and_crawler_files(http: &reqwest::Client, web: &str) -> Result<()> {
    for (path, status, marker) in [
        ("/", 200, "/boot.js?v="),
        ("/products/1", 200, "/boot.js?v="),
        ("/admin", 200, "/console.js?v="),
        ("/no-such-page", 404, "/boot.js?v="),
        ("/robots.txt", 200, "Disallow: /checkout"),
        ("/sitemap.xml", 200, "<urlset"),
    ] {
        let resp = http.get(format!("{web}{path}")).send().await?;
        let got = resp.status().as_u16();
        let body = resp.text().await?;
        ensure!(
            got == status && body.contains(marker),
            "{path} through the web front: {got}, `{marker}` {}",
            if body.contains(marker) {
                "found"
            } else {
                "missing"
            }
        );
    }
    Ok(())
}

/// With `SHOP_COMPOSE_IMAGES`, every part ran as a container: as the
/// image's unprivileged user, on a read-only root, and its image's own
/// health check passes.
fn containers_are_locked_down(replay: &Replay) -> Result<()> {
    if std::env::var_os("SHOP_COMPOSE_IMAGES").is_none() {
        return Ok(());
    }
    let podman = |args: &[&str]| -> Result<String> {
        let out = std::process::Command::new("podman")
            .args(["--runtime=runc", "--cgroup-manager=cgroupfs"])
            .args(args)
            .output()
            .context("running podman")?;
        ensure!(
            out.status.success(),
            "podman {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    for part in [
        "gateway",
        "users",
        "products",
        "orders",
        "notifications",
        "web",
    ] {
        let name = replay.container_name(part);
        let seen = podman(&[
            "inspect",
            "--format",
            "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.State.Running}}",
            &name,
        ])?;
        ensure!(
            seen == "10001:10001 true true",
            "{name}: user, read-only root, running = `{seen}`"
        );
        if part != "web" {
            podman(&["healthcheck", "run", &name])
                .with_context(|| format!("{name}: the image's health check"))?;
        }
    }
    Ok(())
}

/// Prometheus scrapes every part, and every series the Grafana dashboard
/// queries exists once an order went through.
async fn metrics_are_scraped(http: &reqwest::Client, replay: &Replay) -> Result<()> {
    let prometheus = replay
        .url("prometheus", shop_compose_check::replay::PROMETHEUS_PORT)
        .context("prometheus")?;
    let dashboards =
        shop_compose_check::dashboards(&project_root().join("monitoring/grafana/dashboards"))?;
    let mut wanted: Vec<String> = dashboards
        .iter()
        .flat_map(|(_, exprs)| exprs.iter().flat_map(|e| shop_compose_check::series_in(e)))
        .collect();
    wanted.sort();
    wanted.dedup();
    ensure!(wanted.len() >= 10, "the dashboard queries {wanted:?}");
    let started = Instant::now();
    loop {
        let targets: Value = http
            .get(format!("{prometheus}/api/v1/targets"))
            .send()
            .await?
            .json()
            .await?;
        let active = targets["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let up = active.iter().filter(|t| t["health"] == "up").count();
        let names: Value = http
            .get(format!("{prometheus}/api/v1/label/__name__/values"))
            .send()
            .await?
            .json()
            .await?;
        let known: Vec<&str> = names["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let missing: Vec<&String> = wanted
            .iter()
            .filter(|w| !known.contains(&w.as_str()))
            .collect();
        if active.len() == 5 && up == 5 && missing.is_empty() {
            return Ok(());
        }
        ensure!(
            started.elapsed() < METRICS_LIMIT,
            "after {}s: {up} of {} targets up, dashboard series missing: {missing:?}",
            METRICS_LIMIT.as_secs(),
            active.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The `id` of what a 201 answer created.
async fn created_id(resp: reqwest::Response, what: &str) -> Result<i64> {
    ensure!(resp.status() == 201, "{what}: {}", resp.status());
    resp.json::<Value>().await?["id"]
        .as_i64()
        .with_context(|| format!("{what}: no id"))
}

async fn log_in(http: &reqwest::Client, web: &str, email: &str, password: &str) -> Result<String> {
    let r = http
        .post(format!("{web}/api/users/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?;
    ensure!(r.status() == 200, "login of {email}: {}", r.status());
    Ok(r.json::<Value>().await?["access_token"]
        .as_str()
        .context("an access token")?
        .to_owned())
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The push socket through the web front, once the server said `connected`.
async fn open_socket(web: &str, token: &str) -> Result<Socket> {
    let mut request =
        format!("{}/ws/notifications", web.replacen("http", "ws", 1)).into_client_request()?;
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}"))?,
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .context("opening the push socket through the web front")?;
    let first = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .context("no greeting on the push socket")?
        .context("the push socket closed")??;
    let greeting: Value = serde_json::from_str(first.to_text()?)?;
    ensure!(
        greeting["type"] == "connected",
        "unexpected greeting {greeting}"
    );
    socket.send(Message::text(r#"{"type":"ping"}"#)).await?;
    Ok(socket)
}

/// Swagger UI through the web front: its files are the gateway's, not the
/// app's, and Chromium renders the operations of the merged document.
async fn swagger_ui_loads(http: &reqwest::Client, web: &str) -> Result<()> {
    // The gateway's redirect keeps the prefix: /api/docs → /api/docs/.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let redirect = no_redirects.get(format!("{web}/api/docs")).send().await?;
    let location = redirect
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default();
    ensure!(
        redirect.status().is_redirection() && location == "/api/docs/",
        "/api/docs through the web front: {} to `{location}`",
        redirect.status()
    );
    let css = http
        .get(format!("{web}/api/docs/swagger-ui.css"))
        .send()
        .await?;
    ensure!(
        css.status() == 200,
        "/api/docs/swagger-ui.css through the web front: {}",
        css.status()
    );
    let browser = Browser::launch().await?;
    let outcome = async {
        browser.open(&format!("{web}/api/docs/")).await?;
        browser
            .wait_for("#operations-tag-orders")
            .await
            .context("Swagger UI lists the operations")?;
        browser.screenshot("compose-swagger-ui").await?;
        // "Try it out" reaches the API through the prefix: the answer is
        // the gateway's health report, not the app's index.html.
        browser
            .click("#operations-health-health .opblock-summary-control")
            .await?;
        browser
            .click("#operations-health-health .try-out__btn")
            .await?;
        browser.click("#operations-health-health .execute").await?;
        browser
            .wait_for_text(
                "#operations-health-health .live-responses-table",
                "\"gateway\"",
            )
            .await
            .context("Try it out on GET /health answers the health report")?;
        Ok(())
    }
    .await;
    if outcome.is_err() {
        let _ = browser.screenshot("compose-swagger-ui-failure").await;
    }
    browser.close().await?;
    outcome
}
