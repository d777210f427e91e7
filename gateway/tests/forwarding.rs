//! Forwarding when a service is unreachable or hangs, and paths that are
//! never forwarded.

use shop_auth::{AuthSettings, TokenRules};
use shop_gateway::{Config, Upstreams};
use std::{net::IpAddr, time::Duration};
use tokio_util::sync::CancellationToken;

async fn gateway(products: &str, request_timeout: Duration) -> (String, CancellationToken) {
    let unused = "http://127.0.0.1:9";
    let config = Config {
        host: IpAddr::from([127, 0, 0, 1]),
        port: 0,
        upstreams: Upstreams::new(unused, products, unused, unused).expect("urls"),
        health_timeout: Duration::from_secs(1),
        request_timeout,
        auth: AuthSettings {
            jwks_url: format!("{unused}/.well-known/jwks.json"),
            revocations_url: format!("{unused}/internal/revocations"),
            revocation_poll: Duration::from_secs(1),
            revocation_stale: shop_auth::DEFAULT_STALE_LIMIT,
            rules: TokenRules::default(),
            allowed_origins: vec![],
        },
        trusted_proxies: vec![],
    };
    let service = shop_gateway::build(config).await.expect("binds");
    let url = format!("http://{}", service.local_addr());
    let token = CancellationToken::new();
    tokio::spawn(service.run(token.clone()));
    (url, token)
}

async fn get(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(url).await.expect("answered");
    (
        r.status().as_u16(),
        r.json().await.expect("a JSON error body"),
    )
}

#[tokio::test]
async fn an_unreachable_service_is_503_with_the_error_body() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let (gw, token) = gateway(&url, Duration::from_secs(5)).await;

    let (status, body) = get(&format!("{gw}/products")).await;

    assert_eq!(status, 503);
    assert_eq!(body["detail"], "product-service is unavailable");
    token.cancel();
}

#[tokio::test]
async fn a_hanging_service_is_504() {
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", hang.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = hang.accept().await {
            held.push(s);
        }
    });
    let (gw, token) = gateway(&url, Duration::from_millis(300)).await;

    let (status, body) = get(&format!("{gw}/products")).await;

    assert_eq!(status, 504);
    assert_eq!(body["detail"], "product-service did not answer in time");
    token.cancel();
}

#[tokio::test]
async fn internal_and_unknown_paths_are_never_forwarded() {
    let (gw, token) = gateway("http://127.0.0.1:9", Duration::from_secs(1)).await;
    for path in [
        "/internal/reservations",
        "/admin",
        "/products/../internal/reservations",
    ] {
        let (status, body) = get(&format!("{gw}{path}")).await;
        assert!(status == 404 || status == 503, "{path}: {status}");
        if path.starts_with("/internal") || path == "/admin" {
            assert_eq!(
                (status, body["detail"].as_str()),
                (404, Some("Not Found")),
                "{path}"
            );
        }
    }
    token.cancel();
}

#[tokio::test]
async fn a_protected_path_needs_credentials_before_anything_is_forwarded() {
    let (gw, token) = gateway("http://127.0.0.1:9", Duration::from_secs(1)).await;
    let (status, body) = get(&format!("{gw}/orders")).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Not authenticated"))
    );
    token.cancel();
}
