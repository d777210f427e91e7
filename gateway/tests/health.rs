//! The gateway's `/health` when services are unreachable or hang.

use shop_auth::{AuthSettings, TokenRules};
use shop_gateway::{Config, Upstreams};
use std::{net::IpAddr, time::Duration};
use tokio_util::sync::CancellationToken;

async fn start_gateway(
    upstreams: Upstreams,
    health_timeout: Duration,
) -> (String, CancellationToken) {
    let config = Config {
        host: IpAddr::from([127, 0, 0, 1]),
        port: 0,
        upstreams,
        health_timeout,
        request_timeout: Duration::from_secs(10),
        auth: AuthSettings {
            jwks_url: "http://127.0.0.1:9/.well-known/jwks.json".into(),
            revocations_url: "http://127.0.0.1:9/internal/revocations".into(),
            revocation_poll: Duration::from_secs(1),
            revocation_stale: shop_auth::DEFAULT_STALE_LIMIT,
            rules: TokenRules::default(),
            allowed_origins: vec![],
        },
        trusted_proxies: vec![],
    };
    let service = shop_gateway::build(config).await.expect("gateway binds");
    let url = format!("http://{}", service.local_addr());
    let token = CancellationToken::new();
    tokio::spawn(service.run(token.clone()));
    (url, token)
}

/// A port that refuses connections: bind, note the port, close.
async fn closed_port_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    drop(l);
    url
}

#[tokio::test]
async fn all_services_down_is_unhealthy_but_still_200() {
    let down = closed_port_url().await;
    let upstreams = Upstreams::new(&down, &down, &down, &down).expect("urls");
    let (gateway, token) = start_gateway(upstreams, Duration::from_secs(2)).await;

    let resp = reqwest::get(format!("{gateway}/health"))
        .await
        .expect("answered");

    assert_eq!(resp.status(), 200);
    let report: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(report["status"], "unhealthy");
    assert_eq!(report["services"]["order-service"]["status"], "down");
    assert_eq!(
        report["services"]["order-service"]["error"],
        "connection refused"
    );
    token.cancel();
}

#[tokio::test]
async fn a_hanging_service_is_reported_down_after_the_timeout() {
    // Accepts connections but never answers.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hang_url = format!("http://{}", hang.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hang.accept().await {
            held.push(socket);
        }
    });
    let down = closed_port_url().await;
    let upstreams = Upstreams::new(&down, &hang_url, &down, &down).expect("urls");
    let (gateway, token) = start_gateway(upstreams, Duration::from_millis(300)).await;

    let report: serde_json::Value = reqwest::get(format!("{gateway}/health"))
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");

    assert_eq!(report["services"]["product-service"]["status"], "down");
    assert_eq!(
        report["services"]["product-service"]["error"],
        "health check timed out"
    );
    token.cancel();
}

#[tokio::test]
async fn the_probes_answer_without_asking_the_services() {
    let down = closed_port_url().await;
    let upstreams = Upstreams::new(&down, &down, &down, &down).expect("urls");
    let (gateway, token) = start_gateway(upstreams, Duration::from_secs(2)).await;

    for (path, status) in [("/health/live", "alive"), ("/health/ready", "ready")] {
        let resp = reqwest::get(format!("{gateway}{path}"))
            .await
            .expect("answer");
        assert_eq!(resp.status(), 200, "{path}");
        let body: serde_json::Value = resp.json().await.expect("JSON");
        assert_eq!(body["status"], status, "{path}");
    }
    token.cancel();
}
