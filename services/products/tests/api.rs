//! The catalogue and the reservation API over a real database.

mod common;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use common::stock_of;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shop_auth::{Auth, JwkSet, SigningKey, TokenRules, Verifier};
use shop_platform::cache::Announced;
use shop_products::{AppState, INTERNAL_TOKEN_HEADER};
use shop_types::Role;
use sqlx::PgPool;
use std::{sync::Arc, time::Duration};
use tower::ServiceExt;

struct TestApp {
    router: Router,
    key: SigningKey,
    /// Every test reads through the live catalogue cache, as a replica does.
    catalogue: Announced,
    _follower: tokio_util::sync::DropGuard,
}

impl TestApp {
    fn new(pool: PgPool) -> Self {
        let key = SigningKey::generate().unwrap();
        let verifier = Verifier::with_keys(
            &JwkSet {
                keys: vec![key.public_jwk()],
            },
            &TokenRules::default(),
        );
        let catalogue = Announced::new(shop_products::CATALOGUE_CACHE_CONTROL, 1000);
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(
            catalogue
                .clone()
                .follow(pool.clone(), shop_products::CHANGES, stop.clone()),
        );
        tokio::spawn(catalogue.clone().announce(
            pool.clone(),
            shop_products::CHANGES,
            stop.clone(),
        ));
        let router = shop_products::router(AppState {
            images: Arc::new(shop_products::store::images::PgImages(pool.clone())),
            pool,
            auth: Auth::new(verifier, vec![]),
            internal_token: Arc::new("internal-secret".to_owned().into()),
            reservation_hold: Duration::from_secs(300),
            catalogue: catalogue.clone(),
            public_url: "https://shop.example".into(),
        });
        Self {
            router,
            key,
            catalogue,
            _follower: stop.drop_guard(),
        }
    }

    /// Waits until the cache listens for changes.
    async fn live(&self) {
        let started = std::time::Instant::now();
        while !self.catalogue.is_live() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the cache never started listening"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn token(&self, role: Role) -> String {
        self.key
            .issue(&TokenRules::default(), 1, "a@b.co", role, 60)
            .unwrap()
    }

    async fn call(&self, req: Request<Body>) -> (StatusCode, Value) {
        self.live().await;
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, body)
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        role: Option<Role>,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(r) = role {
            b = b.header(header::AUTHORIZATION, format!("Bearer {}", self.token(r)));
        }
        self.call(b.body(Body::from(body.to_string())).unwrap())
            .await
    }

    async fn internal(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(INTERNAL_TOKEN_HEADER, "internal-secret")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.call(req).await
    }

    /// Reserves one unit of `product` for `order_id`; returns the status.
    async fn reserve_one(&self, order_id: i64, product: i64) -> StatusCode {
        self.internal(
            "/internal/reservations",
            json!({"order_id": order_id, "items": [{"product_id": product, "quantity": 1}]}),
        )
        .await
        .0
    }

    async fn create(&self, sku: &str, price: &str, stock: i32, category: &str) -> i64 {
        let (s, b) = self
            .send("POST", "/products", Some(Role::Admin), json!({"name": format!("Product {sku}"), "price": price, "stock_quantity": stock, "sku": sku, "category": category}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["id"].as_i64().unwrap()
    }
}

#[sqlx::test]
async fn admin_creates_a_product_with_upper_case_sku_and_price_string(pool: PgPool) {
    let app = TestApp::new(pool);
    let (s, p) = app
        .send(
            "POST",
            "/products",
            Some(Role::Admin),
            json!({"name": "Desk Lamp", "price": 19.99, "stock_quantity": 4, "sku": "lamp-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(p["sku"], "LAMP-01");
    assert_eq!(p["price"], "19.99");
    assert_eq!(p["is_active"], true);
}

#[sqlx::test]
async fn writes_need_an_admin_token(pool: PgPool) {
    let app = TestApp::new(pool);
    let body =
        json!({"name": "Desk Lamp", "price": "19.99", "stock_quantity": 4, "sku": "LAMP-01"});
    let (anon, _) = app.send("POST", "/products", None, body.clone()).await;
    let (customer, b) = app
        .send("POST", "/products", Some(Role::Customer), body)
        .await;
    assert_eq!(anon, StatusCode::UNAUTHORIZED);
    assert_eq!(customer, StatusCode::FORBIDDEN, "{b}");
}

#[sqlx::test]
async fn duplicate_sku_is_409_whatever_its_case(pool: PgPool) {
    let app = TestApp::new(pool);
    app.create("LAMP-01", "19.99", 4, "Home").await;
    let (s, b) = app
        .send(
            "POST",
            "/products",
            Some(Role::Admin),
            json!({"name": "Other", "price": "1.00", "stock_quantity": 1, "sku": "lamp-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
}

#[sqlx::test]
async fn listing_filters_sorts_and_pages(pool: PgPool) {
    let app = TestApp::new(pool);
    app.create("AAA-1", "30.00", 1, "Books").await;
    app.create("BBB-2", "10.00", 1, "Books").await;
    app.create("CCC-3", "20.00", 1, "Toys").await;
    let (_, b) = app.get("/products?category=Books&sort_by=price").await;
    assert_eq!(b["total"], 2);
    assert_eq!(b["items"][0]["price"], "10.00");
    let (_, b) = app.get("/products?name=ccc").await;
    assert_eq!(b["total"], 1);
    let (_, b) = app.get("/products?sort_by=-price&limit=1&page=2").await;
    assert_eq!(
        (b["limit"].as_i64(), b["offset"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(b["items"][0]["price"], "20.00");
    assert_eq!(b["total"], 3);
}

#[sqlx::test]
async fn invalid_sort_is_400_listing_allowed_values(pool: PgPool) {
    let app = TestApp::new(pool);
    let (s, b) = app.get("/products?sort_by=stock").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b["detail"].as_str().unwrap().contains("-created_at"));
}

#[sqlx::test]
async fn missing_product_is_404_with_the_contract_message(pool: PgPool) {
    let app = TestApp::new(pool);
    let (s, b) = app.get("/products/999").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(b["detail"], "Product not found");
}

#[sqlx::test]
async fn soft_delete_hides_a_product_from_the_default_listing_and_categories(pool: PgPool) {
    let app = TestApp::new(pool);
    let id = app.create("AAA-1", "30.00", 1, "Books").await;
    let (s, _) = app
        .send(
            "DELETE",
            &format!("/products/{id}"),
            Some(Role::Admin),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, list) = app.get("/products").await;
    assert_eq!(list["total"], 0);
    let (_, one) = app.get(&format!("/products/{id}")).await;
    assert_eq!(one["is_active"], false);
    let (_, cats) = app.get("/products/categories").await;
    assert_eq!(cats, json!([]));
}

#[sqlx::test]
async fn the_sitemap_lists_the_catalogue_and_only_active_products_under_the_public_origin(
    pool: PgPool,
) {
    let app = TestApp::new(pool);
    let kept = app.create("KEPT-1", "3.00", 1, "Books").await;
    let gone = app.create("GONE-1", "3.00", 1, "Books").await;
    let (s, _) = app
        .send(
            "DELETE",
            &format!("/products/{gone}"),
            Some(Role::Admin),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    app.live().await;
    let resp = app
        .router
        .clone()
        .oneshot(Request::get("/sitemap.xml").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let xml = String::from_utf8(body.to_vec()).unwrap();
    assert!(xml.contains("<loc>https://shop.example/</loc>"), "{xml}");
    assert!(
        xml.contains(&format!("<loc>https://shop.example/products/{kept}</loc>")),
        "{xml}"
    );
    assert!(!xml.contains(&format!("/products/{gone}<")), "{xml}");
}

#[sqlx::test]
async fn patch_changes_only_the_given_fields(pool: PgPool) {
    let app = TestApp::new(pool);
    let id = app.create("AAA-1", "30.00", 5, "Books").await;
    let (s, p) = app
        .send(
            "PATCH",
            &format!("/products/{id}"),
            Some(Role::Admin),
            json!({"price": "25.50"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["price"], "25.50");
    assert_eq!(p["stock_quantity"], 5);
    assert_eq!(p["category"], "Books");
}

#[sqlx::test]
async fn reservation_takes_stock_and_snapshots_name_and_price(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let a = app.create("AAA-1", "30.00", 5, "Books").await;
    let b = app.create("BBB-2", "10.00", 2, "Books").await;
    let (s, r) = app
        .internal("/internal/reservations", json!({"order_id": 77, "items": [{"product_id": a, "quantity": 2}, {"product_id": b, "quantity": 2}]}))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["lines"][0]["product_price"], "30.00");
    assert_eq!((stock_of(&pool, a).await, stock_of(&pool, b).await), (3, 0));
}

#[sqlx::test]
async fn a_short_line_reserves_nothing_and_names_the_product(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let a = app.create("AAA-1", "30.00", 5, "Books").await;
    let b = app.create("BBB-2", "10.00", 1, "Books").await;
    let (s, r) = app
        .internal("/internal/reservations", json!({"order_id": 1, "items": [{"product_id": a, "quantity": 2}, {"product_id": b, "quantity": 3}]}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let detail = r["detail"].as_str().unwrap();
    assert!(
        detail.contains("Product BBB-2") && detail.contains("available 1"),
        "{detail}"
    );
    assert_eq!(
        (stock_of(&pool, a).await, stock_of(&pool, b).await),
        (5, 1),
        "all or nothing"
    );
}

#[sqlx::test]
async fn reserving_twice_for_one_order_takes_stock_once(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let a = app.create("AAA-1", "30.00", 5, "Books").await;
    let body = json!({"order_id": 9, "items": [{"product_id": a, "quantity": 2}]});
    let (_, first) = app.internal("/internal/reservations", body.clone()).await;
    let (s, second) = app.internal("/internal/reservations", body).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(first, second);
    assert_eq!(stock_of(&pool, a).await, 3);
}

#[sqlx::test]
async fn release_returns_stock_once(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let a = app.create("AAA-1", "30.00", 5, "Books").await;
    app.internal(
        "/internal/reservations",
        json!({"order_id": 9, "items": [{"product_id": a, "quantity": 2}]}),
    )
    .await;
    let (_, r1) = app
        .internal("/internal/reservations/9/release", Value::Null)
        .await;
    let (_, r2) = app
        .internal("/internal/reservations/9/release", Value::Null)
        .await;
    assert_eq!(
        (r1["units_returned"].as_i64(), r2["units_returned"].as_i64()),
        (Some(2), Some(0))
    );
    assert_eq!(stock_of(&pool, a).await, 5);
}

#[sqlx::test]
async fn the_reservation_api_needs_the_internal_token(pool: PgPool) {
    let app = TestApp::new(pool);
    let (s, _) = app
        .send(
            "POST",
            "/internal/reservations",
            Some(Role::Admin),
            json!({"order_id": 1, "items": []}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a user token is not the internal token"
    );
}

#[sqlx::test]
async fn concurrent_buyers_never_take_stock_below_zero(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let a = app.create("AAA-1", "30.00", 5, "Books").await;
    let attempts = (1..=40).map(|order_id| {
        let app = &app;
        async move { app.reserve_one(order_id, a).await }
    });
    let statuses = futures::future::join_all(attempts).await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, refused), (5, 35));
    assert_eq!(stock_of(&pool, a).await, 0);
}

#[sqlx::test]
async fn the_database_refuses_negative_stock(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let a = app.create("AAA-1", "30.00", 1, "Books").await;
    let r = sqlx::query("UPDATE products SET stock_quantity = stock_quantity - 2 WHERE id = $1")
        .bind(a)
        .execute(&pool)
        .await;
    assert!(r.is_err(), "CHECK (stock_quantity >= 0) must hold");
}

#[sqlx::test]
async fn seeding_fills_an_empty_catalogue_once(pool: PgPool) {
    let first = shop_products::seed_if_empty(&pool).await.unwrap();
    let second = shop_products::seed_if_empty(&pool).await.unwrap();
    assert!(first >= 24);
    assert_eq!(second, 0);
    // Every demo product has its picture.
    assert_eq!(pictures(&pool).await, first as i64);
}

/// Units held by reservations not yet released or expired.
async fn held(pool: &PgPool, id: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT COALESCE(SUM(s.quantity), 0)::BIGINT FROM stock_reservations s
         JOIN reservations r USING (order_id)
         WHERE s.product_id = $1 AND r.status IN ('held', 'confirmed')",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn editing_a_product_while_it_sells_neither_loses_nor_invents_stock(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let a = app.create("EDIT-1", "10.00", 100, "Books").await;
    let reservations = futures::future::join_all((1..=30).map(|order_id| {
        let app = &app;
        async move { app.reserve_one(order_id, a).await }
    }));
    let edits = futures::future::join_all((1..=30).map(|n| {
        let app = &app;
        async move {
            app.send(
                "PATCH",
                &format!("/products/{a}"),
                Some(Role::Admin),
                json!({"name": format!("Renamed {n}")}),
            )
            .await
            .0
        }
    }));
    let (reserved, edited) = tokio::join!(reservations, edits);

    assert!(reserved.iter().all(|s| *s == StatusCode::OK));
    assert!(edited.iter().all(|s| *s == StatusCode::OK));
    assert_eq!(held(&pool, a).await, 30);
    assert_eq!(
        i64::from(stock_of(&pool, a).await) + held(&pool, a).await,
        100,
        "available + held = what the admin set"
    );
}

#[sqlx::test]
async fn stock_given_in_a_patch_or_put_is_set_as_given(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let a = app.create("EDIT-2", "10.00", 5, "Books").await;

    let (s, _) = app
        .send(
            "PATCH",
            &format!("/products/{a}"),
            Some(Role::Admin),
            json!({"stock_quantity": 7}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stock_of(&pool, a).await, 7);

    let (s, _) = app
        .send("PUT", &format!("/products/{a}"), Some(Role::Admin),
            json!({"name": "Product EDIT-2", "price": "10.00", "stock_quantity": 3, "sku": "EDIT-2"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stock_of(&pool, a).await, 3);
}

/// A change made where this replica's cache cannot see it (another replica,
/// the expiry sweeper, psql) reaches its readers through the trigger's
/// announcement: the product and the page that lists it both show it.
#[sqlx::test]
async fn a_cached_product_and_page_follow_a_change_made_elsewhere(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let id = app.create("CACHE-1", "5.00", 7, "cache").await;
    // Read until both answers are kept (the creation's own announcement
    // may drop the first copies).
    let started = std::time::Instant::now();
    loop {
        assert_eq!(
            app.get(&format!("/products/{id}")).await.1["stock_quantity"],
            7
        );
        assert_eq!(
            app.get("/products?category=cache").await.1["items"][0]["stock_quantity"],
            7
        );
        if app.catalogue.item(id).is_some() && app.catalogue.kept().1 == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the answers were never kept"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sqlx::query("UPDATE products SET stock_quantity = 42 WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let one = app.get(&format!("/products/{id}")).await.1["stock_quantity"].clone();
        let page =
            app.get("/products?category=cache").await.1["items"][0]["stock_quantity"].clone();
        if one == 42 && page == 42 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still {one} and {page}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Stock moved by a checkout on one replica reaches another replica's kept
/// copy through the first one's batched announcement (the reserving
/// transaction keeps the trigger quiet), and the release's too.
#[sqlx::test]
async fn stock_a_checkout_moves_on_one_replica_reaches_another_replicas_copy(pool: PgPool) {
    let selling = TestApp::new(pool.clone());
    let reading = TestApp::new(pool.clone());
    let id = selling.create("CACHE-2", "5.00", 7, "cache").await;
    let kept = |want: i64| {
        let reading = &reading;
        async move {
            let started = std::time::Instant::now();
            loop {
                let one = reading.get(&format!("/products/{id}")).await.1["stock_quantity"].clone();
                if one == want && reading.catalogue.item(id).is_some() {
                    return;
                }
                // Well inside `cache::MAX_AGE`: the copy must be dropped by
                // the announcement, not by its age.
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "the reading replica shows {one}, not {want}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    kept(7).await;
    assert_eq!(selling.reserve_one(501, id).await, StatusCode::OK);
    kept(6).await;
    let (s, _) = selling
        .internal("/internal/reservations/501/release", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    kept(7).await;
}

/// The transactions that move stock for checkouts send no notification of
/// their own (each would wait for PostgreSQL's one notification lock): the
/// first thing a listener hears after a reservation and a release is the
/// marker sent after them.
#[sqlx::test]
async fn reserving_and_releasing_send_no_notification_from_their_transaction(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let id = app.create("QUIET-1", "5.00", 7, "cache").await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .unwrap();
    listener.listen(shop_products::CHANGES).await.unwrap();
    let hold = Duration::from_secs(60);
    let request = |order_id| shop_products::store::reservations::ReserveRequest {
        order_id,
        items: vec![shop_types::internal::ReserveLine {
            product_id: id,
            quantity: 2,
        }],
        confirm: false,
    };
    shop_products::store::reservations::reserve(&pool, &request(601), hold)
        .await
        .unwrap();
    shop_products::store::reservations::release(&pool, 601)
        .await
        .unwrap();
    sqlx::query("SELECT pg_notify($1, 'marker')")
        .bind(shop_products::CHANGES)
        .execute(&pool)
        .await
        .unwrap();
    loop {
        let heard = listener.recv().await.unwrap();
        // The test app's own heartbeats may come first; nothing else may.
        if heard.payload().starts_with('~') {
            continue;
        }
        assert_eq!(heard.payload(), "marker");
        break;
    }
    assert_eq!(
        sqlx::query_scalar::<_, i32>("SELECT stock_quantity FROM products WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap(),
        7
    );
}

/// A product carries an `ETag`; asking with it gives 304 without a body
/// until the product changes, then the new version with a new tag.
#[sqlx::test]
async fn etag_revalidation_answers_304_until_the_product_changes(pool: PgPool) {
    let app = TestApp::new(pool);
    let id = app.create("ETAG-1", "5.00", 3, "cache").await;
    app.live().await;
    let get = |tag: Option<String>| {
        let mut req = Request::get(format!("/products/{id}"));
        if let Some(tag) = tag {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        app.router.clone().oneshot(req.body(Body::empty()).unwrap())
    };
    let first = get(None).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()[header::CACHE_CONTROL], "public, no-cache");
    let tag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
    let again = get(Some(tag.clone())).await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::ETAG], tag.as_str());
    assert!(
        again
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .is_empty()
    );

    let (s, _) = app
        .send(
            "PATCH",
            &format!("/products/{id}/stock"),
            Some(Role::Admin),
            json!({"stock_quantity": 9}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let changed = get(Some(tag.clone())).await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()[header::ETAG], tag.as_str());
    let body: Value =
        serde_json::from_slice(&changed.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["stock_quantity"], 9);
}

#[sqlx::test]
async fn live_asks_nothing_and_ready_asks_the_database(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let (s, body) = app.get("/health/ready").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["database"], "up");

    // The database goes away: the pod must leave the load balancer, but
    // must not be restarted for it. (Asked straight, not through `get`,
    // which waits for the catalogue cache to listen.)
    pool.close().await;
    let ask = |uri: &'static str| {
        let router = app.router.clone();
        async move {
            let resp = router
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = resp.status();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let (s, body) = ask("/health/ready").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unhealthy");
    let (s, body) = ask("/health/live").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "alive");
}

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x00, 0x02, 0x00,
    0x00, 0x05, 0x00, 0x01, 0xe9, 0xfa, 0xdc, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44,
    0xae, 0x42, 0x60, 0x82,
];

impl TestApp {
    async fn put_picture(
        &self,
        id: i64,
        role: Option<Role>,
        content_type: &str,
        bytes: &[u8],
    ) -> (StatusCode, Value) {
        let mut b = Request::put(format!("/products/{id}/image"))
            .header(header::CONTENT_TYPE, content_type);
        if let Some(r) = role {
            b = b.header(header::AUTHORIZATION, format!("Bearer {}", self.token(r)));
        }
        self.call(b.body(Body::from(bytes.to_vec())).unwrap()).await
    }

    async fn raw(&self, req: Request<Body>) -> (StatusCode, header::HeaderMap, Vec<u8>) {
        self.live().await;
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status, parts.headers, body)
    }
}

async fn pictures(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM product_images")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn an_admin_sets_a_picture_that_is_served_only_as_that_image(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let id = app.create("PIC-1", "5.00", 2, "Books").await;
    let (s, product) = app
        .put_picture(id, Some(Role::Admin), "image/png", PNG)
        .await;
    assert_eq!(s, StatusCode::OK, "{product}");
    assert_eq!(product["image"]["width"], 1);
    assert_eq!(product["image"]["height"], 1);
    let url = product["image"]["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("/products/{id}/image?v=")),
        "{url}"
    );
    // The product as read carries it too, and so does the list.
    let (_, read) = app.get(&format!("/products/{id}")).await;
    assert_eq!(read["image"]["url"], url.as_str());
    let (_, list) = app.get("/products").await;
    assert_eq!(list["items"][0]["image"]["url"], url.as_str());

    let (s, headers, bytes) = app
        .raw(Request::get(&url).body(Body::empty()).unwrap())
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(bytes, PNG);
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(
        headers[header::CONTENT_SECURITY_POLICY],
        "default-src 'none'; sandbox"
    );
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    // Without the current version: revalidated, and a 304 when unchanged.
    let plain = format!("/products/{id}/image");
    let (_, headers, _) = app
        .raw(Request::get(&plain).body(Body::empty()).unwrap())
        .await;
    assert_eq!(headers[header::CACHE_CONTROL], "public, no-cache");
    let etag = headers[header::ETAG].clone();
    let (s, _, bytes) = app
        .raw(
            Request::get(&plain)
                .header(header::IF_NONE_MATCH, etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!((s, bytes.len()), (StatusCode::NOT_MODIFIED, 0));

    // Removed: gone from the product and the address.
    let (s, _) = app
        .send("DELETE", &plain, Some(Role::Admin), Value::Null)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, read) = app.get(&format!("/products/{id}")).await;
    assert!(read.get("image").is_none(), "{read}");
    let (s, body) = app.get(&plain).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["detail"], "This product has no picture");
    assert_eq!(pictures(&pool).await, 0);
}

#[sqlx::test]
async fn a_picture_that_is_not_one_of_the_four_types_changes_nothing(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let id = app.create("PIC-2", "5.00", 2, "Books").await;
    let html = b"<!doctype html><script>alert(1)</script>";
    for (content_type, bytes, status) in [
        ("image/png", &html[..], StatusCode::UNPROCESSABLE_ENTITY),
        ("image/jpeg", PNG, StatusCode::UNPROCESSABLE_ENTITY),
        (
            "image/svg+xml",
            &b"<svg xmlns='http://www.w3.org/2000/svg'/>"[..],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("text/html", &html[..], StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("image/png", &b""[..], StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (s, body) = app
            .put_picture(id, Some(Role::Admin), content_type, bytes)
            .await;
        assert_eq!(s, status, "{content_type}: {body}");
        assert!(
            body["detail"].is_string() || body["detail"].is_array(),
            "{body}"
        );
    }
    let big = [PNG, &vec![0_u8; 1_000_000][..]].concat();
    let (s, _) = app
        .put_picture(id, Some(Role::Admin), "image/png", &big)
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    // Customers and strangers cannot set one; an unknown product has none.
    let (s, _) = app
        .put_picture(id, Some(Role::Customer), "image/png", PNG)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.put_picture(id, None, "image/png", PNG).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app
        .put_picture(id + 1000, Some(Role::Admin), "image/png", PNG)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(pictures(&pool).await, 0);
    // And the database refuses what the service would: another type.
    let refused = sqlx::query(
        "INSERT INTO product_images (product_id, content_type, width, height, bytes, digest)
         VALUES ($1, 'text/html', 1, 1, '\\x3c', repeat('a', 64))",
    )
    .bind(id)
    .execute(&pool)
    .await;
    assert!(refused.is_err());
}
