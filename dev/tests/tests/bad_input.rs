//! Every bad input gets a clear 4xx with `{"detail": ...}` naming what is
//! wrong, and changes nothing: per service, each field against each class of
//! bad value — NUL, control characters, too long, out of range, wrong type,
//! an overflowing total, data after the body — through the gateway, then the
//! databases are read to show nothing was written.

use reqwest::Method;
use serde_json::{Value, json};
use shop_testkit::{Shop, TestStack};

/// One bad request and what must come back.
struct Case {
    what: &'static str,
    method: Method,
    path: String,
    body: Option<Body>,
    /// `None`: anonymous; else the token to send.
    token: Option<String>,
    status: u16,
    /// The `loc` of the first field error; `None` for a message detail.
    loc: Option<Value>,
}

enum Body {
    Json(Value),
    Raw(Vec<u8>),
}

fn case(
    what: &'static str,
    method: Method,
    path: impl Into<String>,
    body: Option<Body>,
    token: Option<&str>,
    status: u16,
    loc: Option<Value>,
) -> Case {
    Case {
        what,
        method,
        path: path.into(),
        body,
        token: token.map(str::to_owned),
        status,
        loc,
    }
}

/// A JSON body with `field` set to `value` over a valid `base`.
fn with(base: &Value, field: &str, value: Value) -> Option<Body> {
    let mut body = base.clone();
    body[field] = value;
    Some(Body::Json(body))
}

fn trailing(base: &Value) -> Option<Body> {
    let mut bytes = serde_json::to_vec(base).expect("json");
    bytes.extend_from_slice(b" {}");
    Some(Body::Raw(bytes))
}

async fn check(t: &TestStack, c: &Case) {
    let mut req = t
        .client()
        .request(c.method.clone(), format!("{}{}", t.gateway(), c.path));
    if let Some(token) = &c.token {
        req = req.bearer_auth(token);
    }
    req = match &c.body {
        Some(Body::Json(v)) => req.json(v),
        Some(Body::Raw(b)) => req
            .header("content-type", "application/json")
            .body(b.clone()),
        None => req,
    };
    let resp = req.send().await.expect("answered");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, c.status, "{}: {body}", c.what);
    match &c.loc {
        Some(loc) => assert_eq!(&body["detail"][0]["loc"], loc, "{}: {body}", c.what),
        None => assert!(body["detail"].is_string(), "{}: {body}", c.what),
    }
}

/// Rows in every table that a bad request could have written to.
async fn footprint(t: &TestStack) -> Vec<(String, i64)> {
    let tables = [
        ("users", "users"),
        ("users", "sessions"),
        ("products", "products"),
        ("products", "reservations"),
        ("products", "stock_reservations"),
        ("orders", "orders"),
        ("orders", "order_items"),
        ("orders", "outbox"),
        ("orders", "idempotency_keys"),
        ("notifications", "notifications"),
    ];
    let mut rows = Vec::new();
    for (service, table) in tables {
        let url = t.database_url(service).expect("a database");
        let pool = sqlx::PgPool::connect(url).await.expect("database");
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .expect("count");
        rows.push((format!("{service}.{table}"), n));
    }
    // Stock is part of what must not move.
    let url = t.database_url("products").expect("a database");
    let pool = sqlx::PgPool::connect(url).await.expect("database");
    let stock: i64 =
        sqlx::query_scalar("SELECT COALESCE(SUM(stock_quantity), 0)::BIGINT FROM products")
            .fetch_one(&pool)
            .await
            .expect("stock");
    rows.push(("products.stock".into(), stock));
    rows
}

fn users_cases() -> Vec<Case> {
    let ok = json!({"email": "bad-input@example.com", "username": "badinput", "password": "correct-horse"});
    let login = json!({"email": "bad-input@example.com", "password": "correct-horse"});
    let reg = |what, body, field: &str| {
        case(
            what,
            Method::POST,
            "/users/register",
            body,
            None,
            422,
            Some(json!(["body", field])),
        )
    };
    let log = |what, body, field: &str| {
        case(
            what,
            Method::POST,
            "/users/login",
            body,
            None,
            422,
            Some(json!(["body", field])),
        )
    };
    vec![
        reg(
            "email with NUL",
            with(&ok, "email", json!("a\u{0}@example.com")),
            "email",
        ),
        reg(
            "username with a control character",
            with(&ok, "username", json!("bad\u{7}name")),
            "username",
        ),
        reg(
            "username with a space",
            with(&ok, "username", json!("bad name")),
            "username",
        ),
        reg(
            "username too long",
            with(&ok, "username", json!("u".repeat(51))),
            "username",
        ),
        reg(
            "password with NUL",
            with(&ok, "password", json!("correct\u{0}horse")),
            "password",
        ),
        reg(
            "password too long",
            with(&ok, "password", json!("p".repeat(129))),
            "password",
        ),
        reg(
            "email of the wrong type",
            with(&ok, "email", json!(5)),
            "email",
        ),
        case(
            "registration with data after it",
            Method::POST,
            "/users/register",
            trailing(&ok),
            None,
            422,
            Some(json!(["body"])),
        ),
        log(
            "login email with a control character",
            with(&login, "email", json!("a\u{1b}@example.com")),
            "email",
        ),
        log(
            "login password too long",
            with(&login, "password", json!("p".repeat(129))),
            "password",
        ),
        case(
            "a user id that is not a number",
            Method::POST,
            "/users/abc/deactivate",
            None,
            None,
            401,
            None,
        ),
    ]
}

fn products_cases(admin: &str, product: i64) -> Vec<Case> {
    let ok = json!({"name": "Bad input lamp", "price": "19.99", "stock_quantity": 5, "sku": "BAD-INPUT-1", "category": "Home"});
    let create = |what, body, field: &str| {
        case(
            what,
            Method::POST,
            "/products",
            body,
            Some(admin),
            422,
            Some(json!(["body", field])),
        )
    };
    let query = |what, q: &str, field: &str| {
        case(
            what,
            Method::GET,
            format!("/products?{q}"),
            None,
            None,
            422,
            Some(json!(["query", field])),
        )
    };
    let stock = |what, value: Value| {
        case(
            what,
            Method::PATCH,
            format!("/products/{product}/stock"),
            Some(Body::Json(json!({"stock_quantity": value}))),
            Some(admin),
            422,
            Some(json!(["body", "stock_quantity"])),
        )
    };
    vec![
        create(
            "name with NUL",
            with(&ok, "name", json!("Lamp\u{0}")),
            "name",
        ),
        create(
            "name with a control character",
            with(&ok, "name", json!("Lamp\u{1b}[31m")),
            "name",
        ),
        create(
            "name too long",
            with(&ok, "name", json!("n".repeat(201))),
            "name",
        ),
        create("name only spaces", with(&ok, "name", json!("    ")), "name"),
        create(
            "description with NUL",
            with(&ok, "description", json!("bright\u{0}")),
            "description",
        ),
        create(
            "description too long",
            with(&ok, "description", json!("d".repeat(1001))),
            "description",
        ),
        create(
            "category with a control character",
            with(&ok, "category", json!("Ho\u{8}me")),
            "category",
        ),
        create(
            "category too long",
            with(&ok, "category", json!("c".repeat(101))),
            "category",
        ),
        create("sku with a space", with(&ok, "sku", json!("BAD 1")), "sku"),
        create(
            "sku too long",
            with(&ok, "sku", json!("S".repeat(51))),
            "sku",
        ),
        create(
            "price with three places",
            with(&ok, "price", json!("1.001")),
            "price",
        ),
        create(
            "price beyond the column",
            with(&ok, "price", json!("10000000000")),
            "price",
        ),
        create(
            "price with a leading zero",
            with(&ok, "price", json!("01.50")),
            "price",
        ),
        create(
            "price as an exponent",
            with(&ok, "price", json!("1e3")),
            "price",
        ),
        create("price negative", with(&ok, "price", json!(-1)), "price"),
        create(
            "price of the wrong type",
            with(&ok, "price", json!(true)),
            "price",
        ),
        create(
            "stock out of range",
            with(&ok, "stock_quantity", json!(2_147_483_648_i64)),
            "stock_quantity",
        ),
        create(
            "stock with a fraction",
            with(&ok, "stock_quantity", json!(1.5)),
            "stock_quantity",
        ),
        create(
            "stock as a string",
            with(&ok, "stock_quantity", json!("3")),
            "stock_quantity",
        ),
        case(
            "product with data after it",
            Method::POST,
            "/products",
            trailing(&ok),
            Some(admin),
            422,
            Some(json!(["body"])),
        ),
        query("search with NUL", "name=%00", "name"),
        query(
            "category with a control character",
            "category=%1B",
            "category",
        ),
        query(
            "search too long",
            &format!("name={}", "n".repeat(201)),
            "name",
        ),
        query("limit out of range", "limit=0", "limit"),
        query("limit not a number", "limit=ten", "limit"),
        query("is_active unknown", "is_active=maybe", "is_active"),
        case(
            "unknown sort",
            Method::GET,
            "/products?sort_by=price;drop",
            None,
            None,
            400,
            None,
        ),
        case(
            "a product id that is not a number",
            Method::GET,
            "/products/abc",
            None,
            None,
            422,
            Some(json!(["path", "id"])),
        ),
        case(
            "a product id beyond 64 bits",
            Method::GET,
            "/products/99999999999999999999",
            None,
            None,
            422,
            Some(json!(["path", "id"])),
        ),
        stock("stock negative", json!(-1)),
        stock("stock out of range", json!(2_147_483_648_i64)),
    ]
}

fn orders_cases(customer: &str, product: i64, dear: [i64; 2]) -> Vec<Case> {
    let order = |what, body: Value, loc: Value| {
        case(
            what,
            Method::POST,
            "/orders",
            Some(Body::Json(body)),
            Some(customer),
            422,
            Some(loc),
        )
    };
    let line = |q: Value| json!({"items": [{"product_id": product, "quantity": q}]});
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"product_id": product, "quantity": 1}))
        .collect();
    let list = |what, q: &str, loc: Value| {
        case(
            what,
            Method::GET,
            format!("/orders?{q}"),
            None,
            Some(customer),
            422,
            Some(loc),
        )
    };
    vec![
        order("no lines", json!({"items": []}), json!(["body", "items"])),
        order(
            "more than 100 lines",
            json!({"items": many}),
            json!(["body", "items"]),
        ),
        order(
            "quantity 0",
            line(json!(0)),
            json!(["body", "items", 0, "quantity"]),
        ),
        order(
            "quantity over 1000",
            line(json!(1001)),
            json!(["body", "items", 0, "quantity"]),
        ),
        order(
            "quantity with a fraction",
            line(json!(1.5)),
            json!(["body", "items", 0, "quantity"]),
        ),
        order(
            "quantity beyond 32 bits",
            line(json!(4_294_967_296_i64)),
            json!(["body", "items", 0, "quantity"]),
        ),
        order(
            "product id of the wrong type",
            json!({"items": [{"product_id": "one", "quantity": 1}]}),
            json!(["body", "items", 0, "product_id"]),
        ),
        order(
            "card number with NUL",
            json!({"items": [{"product_id": product, "quantity": 1}], "payment": {"card_number": "4242\u{0}"}}),
            json!(["body", "payment", "card_number"]),
        ),
        order(
            "card number of letters",
            json!({"items": [{"product_id": product, "quantity": 1}], "payment": {"card_number": "abcd efgh ijkl"}}),
            json!(["body", "payment", "card_number"]),
        ),
        order(
            "card number with a doubled separator",
            json!({"items": [{"product_id": product, "quantity": 1}], "payment": {"card_number": "4242  4242"}}),
            json!(["body", "payment", "card_number"]),
        ),
        order(
            "card number grouped with dashes",
            json!({"items": [{"product_id": product, "quantity": 1}], "payment": {"card_number": "4242-4242-4242-4242"}}),
            json!(["body", "payment", "card_number"]),
        ),
        order(
            "card number too long",
            json!({"items": [{"product_id": product, "quantity": 1}], "payment": {"card_number": "4".repeat(65)}}),
            json!(["body", "payment", "card_number"]),
        ),
        order(
            "a total beyond the money column",
            json!({"items": [{"product_id": dear[0], "quantity": 1}, {"product_id": dear[1], "quantity": 1}]}),
            json!(["body", "items"]),
        ),
        case(
            "an order with data after it",
            Method::POST,
            "/orders",
            trailing(&line(json!(1))),
            Some(customer),
            422,
            Some(json!(["body"])),
        ),
        list("unknown status", "status=lost", json!(["query", "status"])),
        list("limit out of range", "limit=101", json!(["query", "limit"])),
        list(
            "a repeated parameter",
            "status=shipped&status=delivered",
            json!(["query"]),
        ),
        case(
            "an order id that is not a number",
            Method::GET,
            "/orders/abc",
            None,
            Some(customer),
            422,
            Some(json!(["path", "id"])),
        ),
    ]
}

fn notifications_cases(customer: &str, admin: &str) -> Vec<Case> {
    let list = |what, q: &str, token: &str, loc: Value| {
        case(
            what,
            Method::GET,
            format!("/notifications?{q}"),
            None,
            Some(token),
            422,
            Some(loc),
        )
    };
    vec![
        list(
            "recipient with NUL",
            "recipient=a%00@example.com",
            admin,
            json!(["query", "recipient"]),
        ),
        list(
            "recipient too long",
            &format!("recipient={}", "r".repeat(255)),
            admin,
            json!(["query", "recipient"]),
        ),
        list(
            "status unknown",
            "status=lost",
            customer,
            json!(["query", "status"]),
        ),
        list("page 0", "page=0", customer, json!(["query", "page"])),
        list(
            "order id not a number",
            "order_id=seven",
            customer,
            json!(["query", "order_id"]),
        ),
        case(
            "recipient from a customer",
            Method::GET,
            "/notifications?recipient=a@example.com",
            None,
            Some(customer),
            403,
            None,
        ),
        case(
            "a notification id that is not a number",
            Method::GET,
            "/notifications/abc",
            None,
            Some(customer),
            422,
            Some(json!(["path", "id"])),
        ),
    ]
}

#[tokio::test]
async fn bad_input_is_refused_with_its_field_named_and_nothing_written() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let customer = t.sign_up("shopper@example.com", "shopper").await;
    let product = t.create_product(&admin, "BAD-IN-0", "5.00", 10).await;
    let dear = [
        t.create_product(&admin, "BAD-IN-1", "9999999999.99", 1)
            .await,
        t.create_product(&admin, "BAD-IN-2", "9999999999.99", 1)
            .await,
    ];
    let before = footprint(&t).await;
    let cases = [
        users_cases(),
        products_cases(&admin, product),
        orders_cases(&customer, product, dear),
        notifications_cases(&customer, &admin),
    ];
    let mut n = 0;
    for c in cases.iter().flatten() {
        check(&t, c).await;
        n += 1;
    }
    assert_eq!(
        footprint(&t).await,
        before,
        "a refused request wrote something"
    );
    println!("{n} bad requests refused, nothing written");
    t.finish().await;
}
