//! The order journey across the real services, PostgreSQL, SNS/SQS on moto
//! and SMTP on maildev: email and push reach the buyer and nobody else.

use futures::StreamExt;
use serde_json::Value;
use shop_testkit::{Shop, TestStack, emails_to, eventually, unique_tag};
use std::time::{Duration, Instant};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest},
};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(t: &TestStack, token: &str) -> Socket {
    let url = format!("{}/ws/notifications", t.gateway().replacen("http", "ws", 1));
    let mut req = url.into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (mut ws, _) = connect_async(req).await.expect("socket opens");
    let hello = next_json(&mut ws, Duration::from_secs(5))
        .await
        .expect("greeting");
    assert_eq!(hello["type"], "connected");
    ws
}

async fn next_json(ws: &mut Socket, limit: Duration) -> Option<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

#[tokio::test]
async fn an_order_is_emailed_and_pushed_to_its_owner_only() {
    let t = TestStack::start_on_infra(&[]).await;
    let tag = unique_tag();
    let ann = format!("ann-{tag}@example.com");
    let ann_token = t.sign_up(&ann, &format!("ann-{tag}")).await;
    let bob_token = t
        .sign_up(&format!("bob-{tag}@example.com"), &format!("bob-{tag}"))
        .await;
    let admin = t.admin_token().await;
    let product = t
        .create_product(&admin, &format!("SKU-{tag}"), "12.50", 10)
        .await;
    let mut ann_ws = connect(&t, &ann_token).await;
    let mut bob_ws = connect(&t, &bob_token).await;

    let placed = Instant::now();
    let (status, order) = t.order(&ann_token, &[(product, 2)]).await;
    assert_eq!(status, 201, "{order}");
    let order_id = order["id"].as_i64().expect("id");

    let push = next_json(&mut ann_ws, Duration::from_secs(5))
        .await
        .expect("a push for the buyer");
    let push_latency = placed.elapsed();
    assert_eq!(push["type"], "notification");
    assert_eq!(push["data"]["order_id"], order_id);
    assert_eq!(push["data"]["event_type"], "order_confirmation");
    let mail = eventually(Duration::from_secs(5), || async {
        emails_to(&ann).await.into_iter().next()
    })
    .await
    .expect("an email in maildev");
    let mail_latency = placed.elapsed();
    assert_eq!(mail["subject"], format!("Order #{order_id} confirmed"));
    let html = mail["html"].as_str().unwrap_or_default();
    assert!(
        html.contains(&format!("Test product SKU-{tag}")) && html.contains("$25.00"),
        "{html}"
    );
    assert!(
        next_json(&mut bob_ws, Duration::from_secs(1))
            .await
            .is_none(),
        "another user's socket must stay silent"
    );
    println!("latency: order→push {push_latency:?}, order→email {mail_latency:?}");
    t.finish().await;
}

#[tokio::test]
async fn the_socket_answers_ping_with_pong_and_refuses_strangers() {
    let t = TestStack::start().await;
    let token = t
        .sign_up(
            &format!("p-{}@example.com", unique_tag()),
            &format!("p-{}", unique_tag()),
        )
        .await;
    let mut ws = connect(&t, &token).await;
    futures::SinkExt::send(&mut ws, Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .expect("ping sent");
    assert_eq!(
        next_json(&mut ws, Duration::from_secs(5))
            .await
            .expect("pong")["type"],
        "pong"
    );

    let url = format!("{}/ws/notifications", t.gateway().replacen("http", "ws", 1));
    match connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!(
            "an anonymous upgrade must be refused with 401, got {:?}",
            other.map(|_| ())
        ),
    }
    t.finish().await;
}

#[tokio::test]
async fn simultaneous_orders_for_the_last_units_never_oversell() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let tag = unique_tag();
    let product = t
        .create_product(&admin, &format!("LAST-{tag}"), "5.00", 5)
        .await;
    let mut buyers = Vec::new();
    for i in 0..5 {
        buyers.push(
            t.sign_up(&format!("b{i}-{tag}@example.com"), &format!("b{i}-{tag}"))
                .await,
        );
    }
    let started = Instant::now();
    let attempts = (0..40).map(|n| {
        let token = &buyers[n % buyers.len()];
        let t = &t;
        async move { t.order(token, &[(product, 1)]).await }
    });
    let results = futures::future::join_all(attempts).await;
    let took = started.elapsed();

    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let refused: Vec<_> = results.iter().filter(|(s, _)| *s == 409).collect();
    assert_eq!(created, 5, "exactly the stock is sold");
    assert_eq!(refused.len(), 35, "every other order is refused with 409");
    let detail = refused[0].1["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&format!("LAST-{tag}")) && detail.contains("available 0"),
        "{detail}"
    );
    let p: Value = t
        .client
        .get(format!("{}/products/{product}", t.gateway()))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(p["stock_quantity"], 0);
    let mut confirmed = 0;
    for token in &buyers {
        let orders: Vec<Value> = t
            .client
            .get(format!("{}/orders", t.gateway()))
            .bearer_auth(token)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        confirmed += orders.iter().filter(|o| o["status"] == "confirmed").count();
    }
    assert_eq!(confirmed, 5, "no refused attempt left an order behind");
    println!("concurrency: 40 simultaneous orders for 5 units: 5 × 201, 35 × 409 in {took:?}");
    t.finish().await;
}

#[tokio::test]
async fn stopping_the_service_closes_open_sockets_and_a_restart_accepts_new_ones() {
    let mut t = TestStack::start_on_infra(&[]).await;
    let tag = unique_tag();
    let token = t
        .sign_up(&format!("r-{tag}@example.com"), &format!("r-{tag}"))
        .await;
    let mut ws = connect(&t, &token).await;

    let port = notifications_port(&t);
    t.stack.stop("notifications").await.expect("stops");
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the socket is closed when the service stops");

    t.restart_notifications(port).await.expect("restarts");
    let mut again = connect(&t, &token).await;
    futures::SinkExt::send(&mut again, Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .expect("ping");
    assert_eq!(
        next_json(&mut again, Duration::from_secs(5))
            .await
            .expect("pong")["type"],
        "pong"
    );
    t.finish().await;
}

fn notifications_port(t: &TestStack) -> u16 {
    let url = t.stack.url("notifications").expect("notifications runs");
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}
