//! Checkout when the products service fails: unreachable → 503, hanging →
//! 504, and never a confirmed order without its reservation.

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use shop_auth::{Auth, JwkSet, SigningKey, TokenRules, Verifier};
use shop_orders::{AppState, ProductsClient};
use shop_types::Role;
use sqlx::PgPool;
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;
use tower::ServiceExt;

fn app(pool: PgPool, products_url: &str) -> (Router, String) {
    let key = SigningKey::generate().unwrap();
    let rules = TokenRules::default();
    let verifier = Verifier::with_keys(
        &JwkSet {
            keys: vec![key.public_jwk()],
        },
        &rules,
    );
    let token = key
        .issue(&rules, 5, "buyer@example.com", Role::Customer, 60)
        .unwrap();
    let state = AppState {
        pool,
        auth: Auth::new(verifier, vec![]),
        products: Arc::new(
            ProductsClient::new(
                products_url,
                "t".to_owned().into(),
                Duration::from_millis(300),
            )
            .unwrap(),
        ),
        wake: Arc::new(Notify::new()),
        pending_timeout: Duration::from_secs(120),
        idempotency_lease: Duration::from_secs(30),
    };
    (shop_orders::router(state), token)
}

async fn place(app: &Router, token: &str) -> (StatusCode, serde_json::Value) {
    let req = Request::post("/orders")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"items":[{"product_id":1,"quantity":1}]}"#))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn confirmed_orders(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orders WHERE status <> 'pending'")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn unreachable_products_service_is_503(pool: PgPool) {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (app, token) = app(pool.clone(), &url);

    let (status, body) = place(&app, &token).await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["detail"], "Product service is unavailable");
    assert_eq!(confirmed_orders(&pool).await, 0);
}

#[sqlx::test]
async fn a_hanging_products_service_is_504_and_confirms_nothing(pool: PgPool) {
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", hang.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = hang.accept().await {
            held.push(s);
        }
    });
    let (app, token) = app(pool.clone(), &url);

    let (status, body) = place(&app, &token).await;

    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body["detail"], "Product service did not answer in time");
    assert_eq!(confirmed_orders(&pool).await, 0);
    // The checkout stays pending until the repair loop can release its stock.
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'pending'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pending, 1);
}
