//! Order rules across the real services: frozen prices, stock returned on
//! cancel, the status lifecycle, declined payments, idempotency, privacy.

use serde_json::{Value, json};
use shop_testkit::{Shop, TestStack, unique_tag};

struct World {
    t: TestStack,
    admin: String,
    buyer: String,
    tag: String,
}

async fn world() -> World {
    let t = TestStack::start().await;
    let tag = unique_tag();
    let admin = t.admin_token().await;
    let buyer = t
        .sign_up(&format!("buyer-{tag}@example.com"), &format!("buyer-{tag}"))
        .await;
    World {
        t,
        admin,
        buyer,
        tag,
    }
}

impl World {
    async fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .t
            .client
            .request(
                method.parse().expect("method"),
                format!("{}{path}", self.t.gateway()),
            )
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("answered");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn stock(&self, product: i64) -> i64 {
        self.send("GET", &format!("/products/{product}"), &self.buyer, None)
            .await
            .1["stock_quantity"]
            .as_i64()
            .expect("stock")
    }
}

#[tokio::test]
async fn an_order_keeps_the_price_it_was_placed_at() {
    let w = world().await;
    let product =
        w.t.create_product(&w.admin, &format!("FRZ-{}", w.tag), "10.00", 5)
            .await;
    let (_, order) = w.t.order(&w.buyer, &[(product, 2)]).await;
    let id = order["id"].as_i64().expect("id");
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["total_amount"], "20.00");

    let (s, _) = w
        .send(
            "PATCH",
            &format!("/products/{product}"),
            &w.admin,
            Some(json!({"price": "99.00", "name": "Renamed"})),
        )
        .await;
    assert_eq!(s, 200);

    let (_, again) = w
        .send("GET", &format!("/orders/{id}"), &w.buyer, None)
        .await;
    let line = &again["items"][0];
    assert_eq!(line["product_price"], "10.00");
    assert_eq!(line["subtotal"], "20.00");
    assert_eq!(line["product_name"], format!("Test product FRZ-{}", w.tag));
    assert_eq!(again["total_amount"], "20.00");
    w.t.finish().await;
}

#[tokio::test]
async fn cancelling_returns_the_stock_once() {
    let w = world().await;
    let product =
        w.t.create_product(&w.admin, &format!("CNL-{}", w.tag), "4.00", 5)
            .await;
    let (_, order) = w.t.order(&w.buyer, &[(product, 2)]).await;
    let id = order["id"].as_i64().expect("id");
    assert_eq!(w.stock(product).await, 3);

    let (s, cancelled) = w
        .send("POST", &format!("/orders/{id}/cancel"), &w.buyer, None)
        .await;
    assert_eq!((s, cancelled["status"].as_str()), (200, Some("cancelled")));
    assert_eq!(w.stock(product).await, 5);
    let (again, _) = w
        .send("POST", &format!("/orders/{id}/cancel"), &w.buyer, None)
        .await;
    assert_eq!(again, 409);
    assert_eq!(w.stock(product).await, 5);
    w.t.finish().await;
}

#[tokio::test]
async fn status_changes_are_admin_only_and_follow_the_lifecycle() {
    let w = world().await;
    let product =
        w.t.create_product(&w.admin, &format!("LIF-{}", w.tag), "4.00", 5)
            .await;
    let (_, order) = w.t.order(&w.buyer, &[(product, 1)]).await;
    let path = format!("/orders/{}/status", order["id"]);

    let (customer, _) = w
        .send("PATCH", &path, &w.buyer, Some(json!({"status": "shipped"})))
        .await;
    assert_eq!(customer, 403);
    let (shipped, body) = w
        .send("PATCH", &path, &w.admin, Some(json!({"status": "shipped"})))
        .await;
    assert_eq!((shipped, body["status"].as_str()), (200, Some("shipped")));
    let (late_cancel, body) = w
        .send(
            "PATCH",
            &path,
            &w.admin,
            Some(json!({"status": "cancelled"})),
        )
        .await;
    assert_eq!(late_cancel, 409, "{body}");
    let (cancel, _) = w
        .send(
            "POST",
            &format!("/orders/{}/cancel", order["id"]),
            &w.buyer,
            None,
        )
        .await;
    assert_eq!(cancel, 409);
    let (bad, _) = w
        .send("PATCH", &path, &w.admin, Some(json!({"status": "lost"})))
        .await;
    assert_eq!(bad, 422);
    w.t.finish().await;
}

#[tokio::test]
async fn the_lifecycle_the_service_enforces_is_the_one_it_lists() {
    let w = world().await;
    let (status, moves) = w.send("GET", "/orders/lifecycle", &w.buyer, None).await;
    assert_eq!(status, 200, "{moves}");
    let listed: Vec<(&str, &str, &str)> = moves
        .as_array()
        .expect("a list")
        .iter()
        .map(|m| {
            (
                m["from"].as_str().unwrap(),
                m["to"].as_str().unwrap(),
                m["by"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("pending", "confirmed", "checkout"),
            ("pending", "cancelled", "checkout"),
            ("confirmed", "shipped", "admin"),
            ("shipped", "delivered", "admin"),
            ("confirmed", "cancelled", "owner"),
        ]
    );
    // What is listed for an admin is allowed; what is not, is refused.
    let product =
        w.t.create_product(&w.admin, &format!("LCY-{}", w.tag), "2.00", 5)
            .await;
    let (_, order) = w.t.order(&w.buyer, &[(product, 1)]).await;
    let path = format!("/orders/{}/status", order["id"]);
    let (skip, _) = w
        .send(
            "PATCH",
            &path,
            &w.admin,
            Some(json!({"status": "delivered"})),
        )
        .await;
    assert_eq!(skip, 409, "confirmed → delivered is not listed");
    for next in ["shipped", "delivered"] {
        let (moved, body) = w
            .send("PATCH", &path, &w.admin, Some(json!({"status": next})))
            .await;
        assert_eq!(moved, 200, "{body}");
    }
    let (anonymous, _) = w.send("GET", "/orders/lifecycle", "", None).await;
    assert_eq!(anonymous, 401);
    w.t.finish().await;
}

#[tokio::test]
async fn a_declined_card_is_402_and_the_order_ends_cancelled_with_its_stock_back() {
    let w = world().await;
    let product =
        w.t.create_product(&w.admin, &format!("DEC-{}", w.tag), "4.00", 5)
            .await;
    let body = json!({"items": [{"product_id": product, "quantity": 3}], "payment": {"card_number": "4000000000000002"}});
    let (s, detail) = w.send("POST", "/orders", &w.buyer, Some(body)).await;
    assert_eq!(s, 402, "{detail}");
    assert_eq!(w.stock(product).await, 5);
    let (_, orders) = w.send("GET", "/orders", &w.buyer, None).await;
    assert_eq!(orders[0]["status"], "cancelled");
    let ok = json!({"items": [{"product_id": product, "quantity": 1}], "payment": {"card_number": "4242424242424242"}});
    assert_eq!(w.send("POST", "/orders", &w.buyer, Some(ok)).await.0, 201);
    w.t.finish().await;
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_first_order_and_never_a_second() {
    let w = world().await;
    let product =
        w.t.create_product(&w.admin, &format!("IDM-{}", w.tag), "4.00", 5)
            .await;
    let post = |body: Value| {
        w.t.client
            .post(format!("{}/orders", w.t.gateway()))
            .bearer_auth(&w.buyer)
            .header("idempotency-key", "checkout-42")
            .json(&body)
            .send()
    };
    let body = json!({"items": [{"product_id": product, "quantity": 1}]});
    let first = post(body.clone()).await.expect("first");
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("json");
    let second = post(body).await.expect("second");
    assert_eq!(second.status(), 201);
    let second: Value = second.json().await.expect("json");
    assert_eq!(first["id"], second["id"]);
    let other = post(json!({"items": [{"product_id": product, "quantity": 2}]}))
        .await
        .expect("third");
    assert_eq!(
        other.status(),
        409,
        "a reused key with another body is refused"
    );
    let (_, orders) = w.send("GET", "/orders", &w.buyer, None).await;
    assert_eq!(orders.as_array().map(Vec::len), Some(1));
    assert_eq!(w.stock(product).await, 4);
    w.t.finish().await;
}

#[tokio::test]
async fn a_customer_sees_only_their_own_orders() {
    let w = world().await;
    let product =
        w.t.create_product(&w.admin, &format!("OWN-{}", w.tag), "4.00", 5)
            .await;
    let (_, order) = w.t.order(&w.buyer, &[(product, 1)]).await;
    let id = order["id"].as_i64().expect("id");
    let other =
        w.t.sign_up(
            &format!("other-{}@example.com", w.tag),
            &format!("other-{}", w.tag),
        )
        .await;

    let (s, body) = w.send("GET", &format!("/orders/{id}"), &other, None).await;
    assert_eq!(
        (s, body["detail"].as_str()),
        (404, Some(format!("Order {id} not found").as_str()))
    );
    let (_, list) = w.send("GET", "/orders", &other, None).await;
    assert_eq!(list, json!([]));
    assert_eq!(
        w.send("POST", &format!("/orders/{id}/cancel"), &other, None)
            .await
            .0,
        404
    );
    assert_eq!(
        w.send("GET", &format!("/orders/{id}"), &w.admin, None)
            .await
            .0,
        200,
        "admins see all"
    );
    w.t.finish().await;
}

#[tokio::test]
async fn malformed_orders_are_422_naming_the_field() {
    let w = world().await;
    let (s, body) = w
        .send(
            "POST",
            "/orders",
            &w.buyer,
            Some(json!({"items": [{"product_id": 1, "quantity": 0}]})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["body", "items", 0, "quantity"])
    );
    let (s, _) = w
        .send("POST", "/orders", &w.buyer, Some(json!({"items": []})))
        .await;
    assert_eq!(s, 422);
    let (s, body) = w
        .send(
            "POST",
            "/orders",
            &w.buyer,
            Some(json!({"items": [{"product_id": 1, "quantity": 1}], "coupon": "FREE"})),
        )
        .await;
    assert_eq!(
        (s, body["detail"][0]["type"].as_str()),
        (422, Some("extra_forbidden"))
    );
    w.t.finish().await;
}

/// An order's timeline: when it was placed and confirmed, then every status
/// change, oldest first — read back from the database's own history too.
#[tokio::test]
async fn the_timeline_lists_every_status_the_order_took() {
    let w = world().await;
    let product =
        w.t.create_product(&w.admin, &format!("TML-{}", w.tag), "6.00", 5)
            .await;
    let (status, order) = w.t.order(&w.buyer, &[(product, 1)]).await;
    assert_eq!(status, 201);
    let steps = |o: &Value| -> Vec<String> {
        o["timeline"]
            .as_array()
            .expect("a timeline")
            .iter()
            .map(|e| e["status"].as_str().expect("a status").to_owned())
            .collect()
    };
    assert_eq!(steps(&order), ["pending", "confirmed"]);
    let path = format!("/orders/{}", order["id"]);
    for next in ["shipped", "delivered"] {
        let (moved, _) = w
            .send(
                "PATCH",
                &format!("{path}/status"),
                &w.admin,
                Some(json!({"status": next})),
            )
            .await;
        assert_eq!(moved, 200);
    }
    let (_, seen) = w.send("GET", &path, &w.buyer, None).await;
    assert_eq!(
        steps(&seen),
        ["pending", "confirmed", "shipped", "delivered"]
    );
    let times: Vec<chrono::DateTime<chrono::Utc>> = seen["timeline"]
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|e| e["at"].as_str().expect("a time").parse().expect("RFC 3339"))
        .collect();
    assert!(times.windows(2).all(|p| p[0] <= p[1]), "{times:?}");
    let pool = sqlx::PgPool::connect(w.t.database_url("orders").expect("orders db"))
        .await
        .expect("orders database");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM order_history WHERE order_id = $1")
        .bind(order["id"].as_i64())
        .fetch_one(&pool)
        .await
        .expect("history");
    assert_eq!(rows, 4);
    w.t.finish().await;
}
