//! Checkout under timeouts and dropped requests, across the real services:
//! whatever happens, stock is conserved, no checkout stays pending, and one
//! `Idempotency-Key` means one order. Each test reads the databases.

use serde_json::json;
use shop_testkit::{Shop, TestStack, unique_tag};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_reservation_held_back_past_the_orders_timeout_leaves_stock_conserved() {
    let t = TestStack::start_with(&[
        ("PRODUCTS_TIMEOUT_MS", "300"),
        ("PENDING_ORDER_TIMEOUT_SECS", "1"),
    ])
    .await;
    let tag = unique_tag();
    let admin = t.admin_token().await;
    let buyer = t
        .sign_up(&format!("slow-{tag}@example.com"), &format!("slow-{tag}"))
        .await;
    let product = t
        .create_product(&admin, &format!("HOT-{tag}"), "5.00", 10)
        .await;
    // A sale's hot row: another transaction holds the product's lock.
    let products_db = t.db("products").await;
    let blocker = t.lock_product(&products_db, product).await;

    let (status, body) = t.order(&buyer, &[(product, 3)]).await;

    assert_eq!(status, 504, "{body}");
    // The abandoned checkout is visible to admins, not to the buyer.
    let (_, pending) = t.get_as(&admin, "/orders?status=pending&all=true").await;
    assert_eq!(pending.as_array().map(Vec::len), Some(1), "{pending}");
    let (_, mine) = t.get_as(&buyer, "/orders?status=pending").await;
    assert_eq!(mine, json!([]));
    // The lock goes; the late reservation now commits.
    blocker.commit().await.expect("release the row");

    let counts = t
        .assert_settled_and_conserved(&[(product, 10)], SETTLE)
        .await;

    assert_eq!((counts[0].available, counts[0].ordered), (10, 0));
    let ledger: Vec<String> = sqlx::query_scalar("SELECT status FROM reservations")
        .fetch_all(&products_db)
        .await
        .expect("ledger");
    assert_eq!(ledger, ["released"], "the late hold was undone, not left");
    products_db.close().await;
    t.finish().await;
}

#[tokio::test]
async fn a_dropped_request_with_an_idempotency_key_is_retried_to_one_order() {
    // The key's lease is the request timeout; a dead checkout is undone
    // after the pending timeout.
    let t = TestStack::start_with(&[
        ("REQUEST_TIMEOUT_SECS", "2"),
        ("PENDING_ORDER_TIMEOUT_SECS", "2"),
    ])
    .await;
    let tag = unique_tag();
    let admin = t.admin_token().await;
    let buyer = t
        .sign_up(&format!("drop-{tag}@example.com"), &format!("drop-{tag}"))
        .await;
    let product = t
        .create_product(&admin, &format!("DROP-{tag}"), "7.00", 10)
        .await;
    let send = |client: &reqwest::Client| {
        client
            .post(format!("{}/orders", t.gateway()))
            .bearer_auth(&buyer)
            .header("Idempotency-Key", format!("drop-{tag}"))
            .json(&json!({"items": [{"product_id": product, "quantity": 2}]}))
            .send()
    };
    // The checkout gets stuck reserving (a hot row), and the client gives up:
    // the request dies midway, holding its key.
    let products_db = t.db("products").await;
    let blocker = t.lock_product(&products_db, product).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .expect("client");
    let dropped = send(&impatient).await;
    assert!(dropped.is_err(), "the first request was given up");
    let orders_db = t.db("orders").await;
    let (answered, placed): (Option<i32>, Option<i64>) =
        sqlx::query_as("SELECT status_code, order_id FROM idempotency_keys")
            .fetch_one(&orders_db)
            .await
            .expect("the key was claimed");
    assert_eq!((answered, placed), (None, None), "claimed, never finished");
    blocker.commit().await.expect("release the row");
    products_db.close().await;

    let retried = shop_testkit::eventually(SETTLE, || async {
        let r = send(&t.client).await.expect("answered");
        (r.status() == 201).then_some(())
    })
    .await;

    assert!(
        retried.is_some(),
        "a retry gets the order once the lease runs out"
    );
    let confirmed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'confirmed'")
            .fetch_one(&orders_db)
            .await
            .expect("count");
    assert_eq!(confirmed, 1, "one key, one order");
    orders_db.close().await;
    t.assert_settled_and_conserved(&[(product, 10)], SETTLE)
        .await;
    t.finish().await;
}
