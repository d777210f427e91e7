//! Adjusting stock by a number of units, in one statement: a delivery adds,
//! a write-off removes, never past zero, and units that checkouts took stay
//! theirs.

use serde_json::json;
use shop_testkit::{Shop, TestStack};

async fn adjust(t: &TestStack, admin: &str, product: i64, delta: i64) -> (u16, serde_json::Value) {
    let r = t
        .client()
        .post(format!("{}/products/{product}/stock/adjust", t.gateway()))
        .bearer_auth(admin)
        .json(&json!({ "delta": delta }))
        .send()
        .await
        .expect("answered");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

async fn stored_stock(t: &TestStack, product: i64) -> i32 {
    let pool = sqlx::PgPool::connect(t.database_url("products").expect("products db"))
        .await
        .expect("products database");
    sqlx::query_scalar("SELECT stock_quantity FROM products WHERE id = $1")
        .bind(product)
        .fetch_one(&pool)
        .await
        .expect("a product row")
}

#[tokio::test]
async fn stock_is_adjusted_by_units_never_below_what_is_there() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let product = t.create_product(&admin, "ADJ-1", "2.50", 5).await;

    let (status, body) = adjust(&t, &admin, product, 3).await;
    assert_eq!((status, body["stock_quantity"].as_i64()), (200, Some(8)));
    let (status, body) = adjust(&t, &admin, product, -9).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        stored_stock(&t, product).await,
        8,
        "a refused write-off changes nothing"
    );

    let buyer = t.sign_up("adjuster@example.com", "adjuster").await;
    let (status, _) = t.order(&buyer, &[(product, 2)]).await;
    assert_eq!(status, 201);
    let (status, body) = adjust(&t, &admin, product, -6).await;
    assert_eq!((status, body["stock_quantity"].as_i64()), (200, Some(0)));
    let (status, _) = adjust(&t, &admin, product, -1).await;
    assert_eq!(status, 409, "the ordered units are not there to remove");
    assert_eq!(stored_stock(&t, product).await, 0);

    let (status, _) = adjust(&t, &admin, product, 2_000_000).await;
    assert_eq!(status, 422, "one adjustment is bounded");
    let full = t
        .create_product(&admin, "ADJ-2", "1.00", 1_000_000_000)
        .await;
    let (status, body) = adjust(&t, &admin, full, 1).await;
    assert_eq!(
        status, 409,
        "no product holds more than 1,000,000,000: {body}"
    );
    let r = t
        .client()
        .patch(format!("{}/products/{full}/stock", t.gateway()))
        .bearer_auth(&admin)
        .json(&json!({"stock_quantity": 1_000_000_001}))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 422);
    let (status, _) = adjust(&t, &admin, 999_999, 1).await;
    assert_eq!(status, 404);
    t.finish().await;
}
