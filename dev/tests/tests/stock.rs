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

/// Waits until some statement on the products database waits for a lock.
async fn someone_waits_for_a_lock(pool: &sqlx::PgPool) {
    shop_testkit::eventually(std::time::Duration::from_secs(10), || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .ok()?;
        (waiting > 0).then_some(())
    })
    .await
    .expect("the edit waits for the row");
}

#[tokio::test]
async fn an_edit_racing_a_deactivation_never_brings_the_product_back() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let product = t
        .create_product(
            &admin,
            &format!("RACE-{}", shop_testkit::unique_tag()),
            "3.00",
            5,
        )
        .await;
    let pool = t.db("products").await;
    // The deactivation holds the row while an edit arrives.
    let mut deactivation = t.lock_product(&pool, product).await;
    let edit = tokio::spawn({
        let (client, url, admin) = (
            t.client().clone(),
            format!("{}/products/{product}", t.gateway()),
            admin.clone(),
        );
        async move {
            client
                .patch(url)
                .bearer_auth(admin)
                .json(&json!({"name": "Renamed while deleted"}))
                .send()
                .await
                .expect("answered")
                .status()
                .as_u16()
        }
    });
    someone_waits_for_a_lock(&pool).await;
    sqlx::query("UPDATE products SET is_active = FALSE WHERE id = $1")
        .bind(product)
        .execute(&mut *deactivation)
        .await
        .expect("deactivated");
    deactivation.commit().await.expect("committed");
    assert_eq!(edit.await.expect("the edit ran"), 200);
    let (active, name): (bool, String) =
        sqlx::query_as("SELECT is_active, name FROM products WHERE id = $1")
            .bind(product)
            .fetch_one(&pool)
            .await
            .expect("the row");
    assert!(!active, "the edit undid the deactivation");
    assert_eq!(name, "Renamed while deleted", "the edit itself is kept");
    t.finish().await;
}
