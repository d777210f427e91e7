//! `/metrics` on the gateway and every service, in the Prometheus text
//! format: after a checkout the request counter of `POST /orders` and the
//! outbox's counters have moved.

use shop_testkit::{Shop, TestStack, eventually};
use std::{collections::BTreeMap, time::Duration};

/// One sample line: `name{a="x",b="y"} value`.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            Some((name.to_owned(), labels, value))
        })
        .collect()
}

/// The sum of `name`'s samples whose labels include all of `want`.
fn value(text: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    samples(text)
        .into_iter()
        .filter(|(n, labels, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

async fn scrape(t: &TestStack, part: &str) -> String {
    let url = t.stack.url(part).expect("running");
    let resp = t
        .client()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("scraped");
    assert_eq!(resp.status(), 200, "{part}/metrics");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    resp.text().await.expect("text")
}

#[tokio::test]
async fn a_checkout_moves_the_request_and_outbox_counters() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let product = t.create_product(&admin, "METRICS-1", "3.00", 10).await;
    let customer = t.sign_up("metrics@example.com", "metricsbuyer").await;

    let created = [
        ("service", "orders"),
        ("route", "/orders"),
        ("method", "POST"),
        ("status", "201"),
    ];
    let before = scrape(&t, "orders").await;
    let (requests, published) = (
        value(&before, "http_requests_total", &created),
        value(&before, "orders_outbox_published_total", &[]),
    );
    let (status, _) = t.order(&customer, &[(product, 1)]).await;
    assert_eq!(status, 201);

    let after = eventually(Duration::from_secs(10), || async {
        let text = scrape(&t, "orders").await;
        (value(&text, "orders_outbox_published_total", &[]) > published).then_some(text)
    })
    .await
    .expect("the outbox counter moves once the event is published");
    assert!(value(&after, "http_requests_total", &created) > requests);
    assert!(
        value(
            &after,
            "orders_checkouts_total",
            &[("outcome", "confirmed")]
        ) >= 1.0
    );
    assert!(
        value(&after, "http_request_duration_seconds_count", &created) >= 1.0,
        "a latency histogram per route"
    );
    // Every part serves the format; the gateway counts what it forwarded.
    for part in ["gateway", "users", "products", "notifications"] {
        let text = scrape(&t, part).await;
        assert!(
            text.contains("# TYPE http_requests_total counter"),
            "{part}"
        );
    }
    let gateway = scrape(&t, "gateway").await;
    assert!(
        value(
            &gateway,
            "http_requests_total",
            &[
                ("service", "gateway"),
                ("method", "POST"),
                ("status", "201")
            ]
        ) >= 1.0
    );
    // Not for the world: through a proxy from a public address, nothing.
    let hidden = t
        .client()
        .get(format!("{}/metrics", t.gateway()))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .expect("answered");
    assert_eq!(hidden.status(), 404);
    let pools = eventually(Duration::from_secs(10), || async {
        let text = scrape(&t, "orders").await;
        (value(&text, "db_pool_connections", &[("service", "orders")]) > 0.0).then_some(())
    })
    .await;
    assert!(pools.is_some(), "pool use is reported");
    // How old the list of ended sessions is (the feed answers every poll),
    // and the connections each part holds open.
    let feed = eventually(Duration::from_secs(10), || async {
        let text = scrape(&t, "orders").await;
        text.contains("# TYPE auth_revocation_feed_age_seconds gauge")
            .then(|| value(&text, "auth_revocation_feed_age_seconds", &[]))
    })
    .await
    .expect("the revocation feed's age is reported");
    assert!(feed < 30.0, "the feed answers: {feed} s");
    let open = value(
        &scrape(&t, "gateway").await,
        "http_connections_open",
        &[("service", "gateway")],
    );
    assert!(open >= 1.0, "the scrape's own connection is open: {open}");
    t.finish().await;
}
