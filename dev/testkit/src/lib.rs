//! The test kit: starts the real platform on free ports with throwaway
//! databases, and drops those databases afterwards.

pub mod otlp;
pub mod replicas;

use anyhow::Context;
use shop_platform::config::Env;
use shop_stack::Stack;

pub const SERVICES: [&str; 4] = ["users", "products", "orders", "notifications"];

/// A running platform owned by one test.
pub struct TestStack {
    pub stack: Stack,
    /// The configuration the platform was started with.
    pub env: Env,
    pub databases: Vec<String>,
    pub client: reqwest::Client,
}

/// The PostgreSQL server the tests use: `DATABASE_URL` without its database.
fn server_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    match url.rsplit_once('/') {
        Some((server, _)) => server.to_owned(),
        None => url,
    }
}

impl TestStack {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Extra variables override the defaults (e.g. `AWS_ENDPOINT_URL`).
    pub async fn start_with(extra: &[(&str, &str)]) -> Self {
        shop_platform::install_crypto_provider();
        let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        let server = server_url();
        let mut vars: Vec<(String, String)> = vec![
            ("GATEWAY_PORT".into(), "0".into()),
            ("WEB_PORT".into(), "0".into()),
            ("ADMIN_EMAIL".into(), ADMIN_EMAIL.into()),
            ("ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
            ("SEED_DEMO_CATALOGUE".into(), "false".into()),
            // Several platforms run side by side against one PostgreSQL.
            ("DB_MAX_CONNECTIONS".into(), "4".into()),
            // Every test client is 127.0.0.1: per-address limits are off
            // unless a test sets them.
            ("REGISTRATIONS_PER_ADDRESS".into(), "100000".into()),
            ("LOGIN_FAILURES_PER_ADDRESS".into(), "100000".into()),
            // Tests without SMTP_URL send their mail over SMTP to their own
            // inbox, as `cargo xtask up` does, on free ports.
            ("INBOX_PORT".into(), "0".into()),
            ("INBOX_SMTP_PORT".into(), "0".into()),
        ];
        let mut databases = Vec::new();
        for svc in SERVICES {
            let upper = svc.to_uppercase();
            let url = format!("{server}/shop_test_{tag}_{svc}");
            vars.push((format!("{upper}_PORT"), "0".into()));
            vars.push((format!("{upper}_DATABASE_URL"), url.clone()));
            databases.push(url);
        }
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let env = Env::from_pairs(vars)
            .expect("valid test configuration")
            .shared();
        let stack = Stack::start(&env).await.expect("the platform starts");
        Self {
            stack,
            env,
            databases,
            client: reqwest::Client::new(),
        }
    }

    pub async fn get_json(&self, url: &str) -> (u16, serde_json::Value) {
        let resp = self.client.get(url).send().await.expect("request sent");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("a JSON body"))
    }

    /// Starts the notifications service again on `port` after
    /// `stack.stop("notifications")` (clients that reconnect after a drop).
    /// Only on SNS/SQS (`start_on_infra`): the in-process bus lives and dies
    /// with the parts that share it.
    pub async fn restart_notifications(&mut self, port: u16) -> anyhow::Result<()> {
        let mut config = shop_notifications::Config::from_env(&self.env)?;
        anyhow::ensure!(
            !matches!(config.events, shop_events::EventsSettings::Embedded(_)),
            "restarting needs SNS/SQS: start the platform with start_on_infra"
        );
        let users = self.stack.url("users").context("the users service runs")?;
        config.auth.follow_users(&users);
        config.service.port = port;
        self.stack.adopt(shop_notifications::build(config).await?);
        Ok(())
    }

    /// Stops the users service and starts it again on the same port with
    /// `changes` to the configuration (a key rotation, say). The other
    /// parts keep running and keep their key caches.
    pub async fn restart_users(&mut self, changes: &[(&str, &str)]) -> anyhow::Result<()> {
        let url = self.stack.url("users").context("the users service runs")?;
        let port: u16 = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .context("the users port")?;
        self.stack.stop("users").await?;
        self.env = self.env.with_vars(changes);
        let mut config = shop_users::Config::from_env(&self.env)?;
        config.service.port = port;
        self.stack.adopt(shop_users::build(config).await?);
        Ok(())
    }

    /// Stops everything and drops the throwaway databases.
    pub async fn finish(self) {
        self.stack.shutdown().await.expect("clean shutdown");
        for url in &self.databases {
            if let Err(e) = shop_platform::db::drop_database(url).await {
                eprintln!("could not drop {url}: {e:#}");
            }
        }
    }
}

/// Where the stand-ins are (`cargo xtask test` sets these; the defaults are
/// the ports it uses).
pub fn standin(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

pub fn moto_url() -> String {
    standin("TEST_AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
}

pub fn smtp_url() -> String {
    standin("TEST_SMTP_URL", "smtp://127.0.0.1:1025")
}

pub fn maildev_url() -> String {
    standin("TEST_MAILDEV_URL", "http://127.0.0.1:8025")
}

/// oidc-provider-mock, the stand-in for Google.
pub fn oidc_issuer() -> String {
    standin("TEST_OIDC_ISSUER", "http://127.0.0.1:9400")
}

pub const ADMIN_EMAIL: &str = "admin@test.shop";
pub const ADMIN_PASSWORD: &str = "admin-test-password";

/// Variables for a platform on the real stand-ins: SNS/SQS on moto with a
/// topic and queues of its own (tests run side by side), SMTP to maildev.
pub fn infra_vars(tag: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", moto_url()),
        ("ORDER_EVENTS_TOPIC", format!("order-events-{tag}")),
        ("NOTIFICATION_QUEUE", format!("notification-queue-{tag}")),
        ("NOTIFICATION_DLQ", format!("notification-dlq-{tag}")),
        ("SQS_WAIT_SECONDS", "2".to_owned()),
        ("SMTP_URL", smtp_url()),
        ("OUTBOX_MAX_BACKOFF_MS", "500".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A fresh tag for names that must not collide between tests.
pub fn unique_tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

impl TestStack {
    /// The platform on moto and maildev; `extra` overrides.
    pub async fn start_on_infra(extra: &[(&str, &str)]) -> Self {
        let tag = unique_tag();
        let mut vars = infra_vars(&tag);
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let borrowed: Vec<(&str, &str)> =
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Self::start_with(&borrowed).await
    }
}

/// What a test does with a running platform, one process or replicas.
#[allow(async_fn_in_trait)]
pub trait Shop {
    /// `http://127.0.0.1:PORT` of the gateway.
    fn gateway(&self) -> String;
    fn client(&self) -> &reqwest::Client;
    /// The throwaway database URL of a service.
    fn database_url(&self, service: &str) -> Option<&str>;

    /// Registers and logs in a user; returns the access token.
    async fn sign_up(&self, email: &str, username: &str) -> String {
        let gw = self.gateway();
        let r = self
            .client()
            .post(format!("{gw}/users/register"))
            .json(&serde_json::json!({"email": email, "username": username, "password": "correct-horse"}))
            .send()
            .await
            .expect("register");
        assert_eq!(
            r.status(),
            201,
            "register {email}: {}",
            r.text().await.unwrap_or_default()
        );
        self.log_in(email, "correct-horse").await
    }

    async fn log_in(&self, email: &str, password: &str) -> String {
        let r = self
            .client()
            .post(format!("{}/users/login", self.gateway()))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 200, "login {email}");
        let body: serde_json::Value = r.json().await.expect("json");
        body["access_token"].as_str().expect("a token").to_owned()
    }

    async fn admin_token(&self) -> String {
        self.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Creates a product as admin; returns its id.
    async fn create_product(&self, admin: &str, sku: &str, price: &str, stock: i32) -> i64 {
        let r = self
            .client()
            .post(format!("{}/products", self.gateway()))
            .bearer_auth(admin)
            .json(&serde_json::json!({"name": format!("Test product {sku}"), "price": price, "stock_quantity": stock, "sku": sku, "category": "Test"}))
            .send()
            .await
            .expect("create product");
        assert_eq!(r.status(), 201, "create product");
        r.json::<serde_json::Value>().await.expect("json")["id"]
            .as_i64()
            .expect("id")
    }

    /// `POST /orders` through the gateway; returns status and body.
    async fn order(&self, token: &str, items: &[(i64, i32)]) -> (u16, serde_json::Value) {
        let items: Vec<_> = items
            .iter()
            .map(|(p, q)| serde_json::json!({"product_id": p, "quantity": q}))
            .collect();
        let r = self
            .client()
            .post(format!("{}/orders", self.gateway()))
            .bearer_auth(token)
            .json(&serde_json::json!({"items": items}))
            .send()
            .await
            .expect("order sent");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// A pool on a service's database, for tests that read the rows a rule
    /// is about.
    async fn db(&self, service: &str) -> sqlx::PgPool {
        let url = self.database_url(service).expect("a service database");
        sqlx::PgPool::connect(url)
            .await
            .expect("the database answers")
    }

    /// `GET` through the gateway with a token: status and JSON body (null
    /// when there is none).
    async fn get_as(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .client()
            .get(format!("{}{path}", self.gateway()))
            .bearer_auth(token)
            .send()
            .await
            .expect("answered");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Holds a product's row lock in a transaction of its own, as a hot sale
    /// does; dropping or committing it lets reservations through.
    async fn lock_product(
        &self,
        products_db: &sqlx::PgPool,
        product: i64,
    ) -> sqlx::Transaction<'static, sqlx::Postgres> {
        let mut blocker = products_db.begin().await.expect("begin");
        sqlx::query("SELECT id FROM products WHERE id = $1 FOR UPDATE")
            .bind(product)
            .execute(&mut *blocker)
            .await
            .expect("lock the row");
        blocker
    }

    /// The conservation rule's terms for each `(product id, stock set)`.
    async fn stock_counts(&self, set: &[(i64, i64)]) -> Vec<StockCount> {
        stock_counts(
            self.database_url("products").expect("products database"),
            self.database_url("orders").expect("orders database"),
            set,
        )
        .await
    }

    /// Waits until no checkout is pending, no unit is held and stock is
    /// conserved for every product in `set`; panics with the counts if that
    /// does not happen within `limit`.
    async fn assert_settled_and_conserved(
        &self,
        set: &[(i64, i64)],
        limit: std::time::Duration,
    ) -> Vec<StockCount> {
        let orders_db = self.database_url("orders").expect("orders database");
        let settled = eventually(limit, || async {
            let counts = self.stock_counts(set).await;
            let done = pending_orders(orders_db).await == 0
                && counts.iter().all(|c| c.held == 0 && c.conserved());
            done.then_some(counts)
        })
        .await;
        match settled {
            Some(counts) => counts,
            None => panic!(
                "not settled within {limit:?}: {} pending orders; {:#?}",
                pending_orders(orders_db).await,
                self.stock_counts(set).await
            ),
        }
    }
}

impl Shop for TestStack {
    fn gateway(&self) -> String {
        self.stack.url("gateway").expect("gateway is running")
    }

    fn client(&self) -> &reqwest::Client {
        &self.client
    }

    fn database_url(&self, service: &str) -> Option<&str> {
        database_of(&self.databases, service)
    }
}

/// The database of `service` among a platform's throwaway databases.
pub fn database_of<'a>(databases: &'a [String], service: &str) -> Option<&'a str> {
    databases
        .iter()
        .find(|u| u.ends_with(&format!("_{service}")))
        .map(String::as_str)
}

/// Emails maildev holds for one recipient.
pub async fn emails_to(recipient: &str) -> Vec<serde_json::Value> {
    let all: Vec<serde_json::Value> = reqwest::get(format!("{}/email", maildev_url()))
        .await
        .expect("maildev answers")
        .json()
        .await
        .expect("maildev json");
    all.into_iter()
        .filter(|m| {
            m["to"]
                .as_array()
                .is_some_and(|to| to.iter().any(|t| t["address"].as_str() == Some(recipient)))
        })
        .collect()
}

/// Polls until `f` returns `Some`, or `None` after `limit`.
pub async fn eventually<T, F, Fut>(limit: std::time::Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if started.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A TCP relay to `target` that can be switched off: while off, every
/// connection is closed at once, as if the server behind it were down.
#[derive(Debug)]
pub struct Switch {
    pub url: String,
    pub port: u16,
    pub up: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

pub async fn switch_to(target: std::net::SocketAddr) -> Switch {
    use std::sync::atomic::{AtomicBool, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let up = std::sync::Arc::new(AtomicBool::new(false));
    let flag = up.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if !flag.load(Ordering::SeqCst) {
                drop(inbound);
                continue;
            }
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Switch {
        url: format!("http://127.0.0.1:{port}"),
        port,
        up,
    }
}

/// Where one product's units are, read from the products and orders
/// databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockCount {
    pub product_id: i64,
    /// The stock the admin set.
    pub set: i64,
    /// `products.stock_quantity`.
    pub available: i64,
    /// Units in reservations still `held` (not yet confirmed, released or expired).
    pub held: i64,
    /// Units in confirmed, shipped and delivered orders.
    pub ordered: i64,
}

impl StockCount {
    /// Stock is never lost, never invented.
    pub fn conserved(&self) -> bool {
        self.available + self.held + self.ordered == self.set
    }
}

/// Reads the conservation rule's terms for each `(product id, stock set)`.
pub async fn stock_counts(
    products_db: &str,
    orders_db: &str,
    set: &[(i64, i64)],
) -> Vec<StockCount> {
    let products = sqlx::PgPool::connect(products_db)
        .await
        .expect("products database");
    let orders = sqlx::PgPool::connect(orders_db)
        .await
        .expect("orders database");
    let mut counts = Vec::with_capacity(set.len());
    for &(product_id, set) in set {
        let (available, held): (i64, i64) = sqlx::query_as(
            "SELECT p.stock_quantity::BIGINT,
                    COALESCE((SELECT SUM(s.quantity) FROM stock_reservations s
                              JOIN reservations r USING (order_id)
                              WHERE s.product_id = p.id AND r.status = 'held'), 0)::BIGINT
             FROM products p WHERE p.id = $1",
        )
        .bind(product_id)
        .fetch_one(&products)
        .await
        .expect("product row");
        let ordered: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(i.quantity), 0)::BIGINT FROM order_items i
             JOIN orders o ON o.id = i.order_id
             WHERE i.product_id = $1 AND o.status IN ('confirmed', 'shipped', 'delivered')",
        )
        .bind(product_id)
        .fetch_one(&orders)
        .await
        .expect("ordered units");
        counts.push(StockCount {
            product_id,
            set,
            available,
            held,
            ordered,
        });
    }
    products.close().await;
    orders.close().await;
    counts
}

/// Orders rows still `pending` (checkouts in flight or not yet undone).
pub async fn pending_orders(orders_db: &str) -> i64 {
    let pool = sqlx::PgPool::connect(orders_db)
        .await
        .expect("orders database");
    let n = sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'pending'")
        .fetch_one(&pool)
        .await
        .expect("pending orders");
    pool.close().await;
    n
}
