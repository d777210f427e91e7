//! Failures of the parts around an order: the broker down, a message
//! delivered twice, the products service down.

use serde_json::json;
use shop_events::{AwsSettings, OutgoingEvent, Publisher, SnsPublisher, SqsConsumer};
use shop_platform::config::Env;
use shop_testkit::{Shop, TestStack, emails_to, eventually, moto_url, switch_to, unique_tag};
use std::{net::SocketAddr, sync::atomic::Ordering, time::Duration};

fn moto_addr() -> SocketAddr {
    let url = moto_url();
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    host.parse().expect("moto URL is host:port")
}

#[tokio::test]
async fn orders_succeed_while_sns_is_down_and_their_events_arrive_when_it_is_back() {
    let sns = switch_to(moto_addr()).await;
    let t = TestStack::start_on_infra(&[("ORDERS_AWS_ENDPOINT_URL", sns.url.as_str())]).await;
    let tag = unique_tag();
    let email = format!("outage-{tag}@example.com");
    let token = t.sign_up(&email, &format!("outage-{tag}")).await;
    let product = t
        .create_product(&t.admin_token().await, &format!("OUT-{tag}"), "3.00", 10)
        .await;

    for _ in 0..3 {
        let (status, body) = t.order(&token, &[(product, 1)]).await;
        assert_eq!(
            status, 201,
            "an order must not fail because the broker is down: {body}"
        );
    }
    // The relay has tried every event and failed.
    let orders_db = t.db("orders").await;
    let tried = eventually(Duration::from_secs(20), || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE attempts >= 1 AND published_at IS NULL",
        )
        .fetch_one(&orders_db)
        .await
        .expect("outbox");
        (n == 3).then_some(())
    })
    .await;
    assert!(tried.is_some(), "the relay tries while SNS is down");
    orders_db.close().await;
    assert!(
        emails_to(&email).await.is_empty(),
        "nothing can be delivered while SNS is down"
    );

    sns.up.store(true, Ordering::SeqCst);
    // Settled: every event published and every notification recorded sent;
    // only then is the count of emails final, so a repeat would show.
    let orders_db = t.db("orders").await;
    let notifications_db = t.db("notifications").await;
    let settled = eventually(Duration::from_secs(30), || async {
        let waiting: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(&orders_db)
                .await
                .ok()?;
        let sent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM notifications WHERE status = 'sent'")
                .fetch_one(&notifications_db)
                .await
                .ok()?;
        (waiting == 0 && sent == 3).then_some(())
    })
    .await;
    assert!(
        settled.is_some(),
        "the events never settled once SNS was back"
    );
    assert_eq!(
        emails_to(&email).await.len(),
        3,
        "every event is delivered once SNS is back, and once only"
    );
    orders_db.close().await;
    notifications_db.close().await;
    t.finish().await;
}

#[tokio::test]
async fn a_message_delivered_twice_produces_one_email() {
    let topic = format!("order-events-{}", unique_tag());
    let queue = format!("notification-queue-{}", unique_tag());
    let t = TestStack::start_on_infra(&[
        ("ORDER_EVENTS_TOPIC", topic.as_str()),
        ("NOTIFICATION_QUEUE", queue.as_str()),
    ])
    .await;
    let email = format!("twice-{}@example.com", unique_tag());
    let env = Env::from_pairs([
        ("AWS_ENDPOINT_URL", moto_url()),
        ("ORDER_EVENTS_TOPIC", topic.clone()),
        ("NOTIFICATION_QUEUE", queue.clone()),
    ])
    .expect("env");
    let publisher = SnsPublisher::connect(&AwsSettings::from_env(&env, "test").expect("settings"))
        .await
        .expect("sns");
    let envelope = json!({
        "event_id": uuid::Uuid::new_v4(), "event_type": "order.created", "timestamp": chrono::Utc::now(),
        "correlation_id": "dup-test",
        "data": {"order_id": 424242, "user_id": 99, "user_email": email, "total_amount": "9.99", "status": "confirmed",
                 "items": [{"product_id": 1, "product_name": "Twice", "quantity": 1, "price": "9.99"}]}
    });
    let event = OutgoingEvent {
        event_type: "order.created".into(),
        subject: "Order #424242 confirmed".into(),
        body: envelope.to_string(),
        ..Default::default()
    };

    publisher.publish(&event).await.expect("first delivery");
    publisher.publish(&event).await.expect("second delivery");

    let first = eventually(Duration::from_secs(10), || async {
        (!emails_to(&email).await.is_empty()).then_some(())
    })
    .await;
    assert!(first.is_some(), "the event is handled");
    // Both deliveries have been taken off the queue: handled, or recognised.
    let queue = SqsConsumer::connect(&AwsSettings::from_env(&env, "test").expect("settings"))
        .await
        .expect("sqs");
    let drained = eventually(Duration::from_secs(20), || async {
        (queue.backlog().await.ok()? == 0).then_some(())
    })
    .await;
    assert!(drained.is_some(), "both deliveries consumed");
    assert_eq!(
        emails_to(&email).await.len(),
        1,
        "the repeat is recognised and produces nothing"
    );
    t.finish().await;
}

#[tokio::test]
async fn products_down_is_503_and_leaves_no_order_behind() {
    let mut t = TestStack::start().await;
    let tag = unique_tag();
    let token = t
        .sign_up(&format!("down-{tag}@example.com"), &format!("down-{tag}"))
        .await;
    let product = t
        .create_product(&t.admin_token().await, &format!("DOWN-{tag}"), "3.00", 10)
        .await;
    t.stack.stop("products").await.expect("products stops");

    let (status, body) = t.order(&token, &[(product, 1)]).await;

    assert_eq!(status, 503, "{body}");
    assert_eq!(body["detail"], "Product service is unavailable");
    // Read the rows, not the buyer's list (which hides pending checkouts):
    // nothing was confirmed, and the checkout is marked abandoned, so it can
    // never be confirmed; the repair loop releases and removes it once the
    // products service is back.
    let orders_db = t.db("orders").await;
    let rows: Vec<(String, bool)> =
        sqlx::query_as("SELECT status, abandoned_at IS NOT NULL FROM orders")
            .fetch_all(&orders_db)
            .await
            .expect("orders");
    assert_eq!(rows.len(), 1, "the one checkout left its row: {rows:?}");
    assert!(
        rows.iter()
            .all(|(status, abandoned)| status == "pending" && *abandoned),
        "no order is left behind that could be confirmed: {rows:?}"
    );
    orders_db.close().await;
    t.finish().await;
}
