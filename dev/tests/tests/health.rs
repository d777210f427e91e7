//! The gateway's `/health` over the real services.

use shop_testkit::{SERVICES, Shop, TestStack};

#[tokio::test]
async fn health_is_healthy_when_every_service_is_up() {
    let t = TestStack::start().await;

    let (status, report) = t.get_json(&format!("{}/health", t.gateway())).await;

    assert_eq!(status, 200);
    assert_eq!(report["status"], "healthy");
    assert_eq!(report["gateway"]["status"], "up");
    for name in [
        "user-service",
        "product-service",
        "order-service",
        "notification-service",
    ] {
        assert_eq!(report["services"][name]["status"], "up", "{name}: {report}");
        assert!(
            report["services"][name]["response_time_ms"].is_u64(),
            "{report}"
        );
    }
    t.finish().await;
}

#[tokio::test]
async fn health_turns_degraded_naming_the_stopped_service() {
    let mut t = TestStack::start().await;
    let products_url = t.stack.url("products").expect("products runs");

    t.stack
        .stop("products")
        .await
        .expect("products stops cleanly");
    let (status, report) = t.get_json(&format!("{}/health", t.gateway())).await;

    assert_eq!(status, 200);
    assert_eq!(report["status"], "degraded", "{report}");
    let products = &report["services"]["product-service"];
    assert_eq!(products["status"], "down");
    assert_eq!(products["url"], products_url.as_str());
    assert!(products["error"].is_string(), "{report}");
    assert_eq!(report["services"]["user-service"]["status"], "up");
    t.finish().await;
}

#[tokio::test]
async fn every_service_answers_its_own_health_with_its_database() {
    let t = TestStack::start().await;
    for svc in SERVICES {
        let url = t.stack.url(svc).expect("service runs");
        let (status, body) = t.get_json(&format!("{url}/health")).await;
        assert_eq!(status, 200, "{svc}");
        assert_eq!(body["database"], "up", "{svc}");
        assert_eq!(body["service"], svc);
    }
    t.finish().await;
}

#[tokio::test]
async fn web_front_forwards_api_to_the_gateway_keeping_the_request_id() {
    let t = TestStack::start().await;
    let web = t.stack.url("web").expect("web runs");

    let resp = t
        .client
        .get(format!("{web}/api/health"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("request sent");

    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "trace-me-42");
    let report: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(report["status"], "healthy");
    t.finish().await;
}

#[tokio::test]
async fn web_front_keeps_its_prefix_in_the_gateways_redirects() {
    let t = TestStack::start().await;
    let web = t.stack.url("web").expect("web runs");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let resp = client
        .get(format!("{web}/api/docs"))
        .send()
        .await
        .expect("request sent");

    assert!(resp.status().is_redirection(), "{}", resp.status());
    assert_eq!(resp.headers()["location"], "/api/docs/");
    let page = t
        .client
        .get(format!("{web}/api/docs/"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(page.status(), 200);
    assert!(
        page.text().await.expect("html").contains("swagger-ui"),
        "Swagger UI, not the app"
    );
    t.finish().await;
}
