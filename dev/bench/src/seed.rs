//! What the scenarios need: an admin, customers with tokens, and products
//! with stock enough for every order the run can place. Also the oversell
//! check: the last units of a product ordered all at once.

use crate::{Options, platform::Platform};
use anyhow::{Context, Result, bail};
use futures::{StreamExt, stream};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

/// Stock of each product the load scenarios order from: more than any run
/// places, so no order is refused for want of it.
const PLENTY: i64 = 1_000_000;
pub const PASSWORD: &str = "bench-customer-password";

#[derive(Debug, Clone)]
pub struct Customer {
    pub email: String,
    pub token: String,
}

#[derive(Debug, Clone)]
pub struct Seeded {
    pub tag: String,
    pub admin_token: String,
    /// Twenty products for the spread checkout.
    pub spread: Vec<i64>,
    /// One product every buyer wants.
    pub hot: i64,
    pub customers: Vec<Customer>,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("an HTTP client")
}

async fn json_ok(resp: reqwest::Response, what: &str) -> Result<Value> {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{what}: {status} {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("{what}: not JSON: {body}"))
}

pub async fn login(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> Result<String> {
    let resp = http
        .post(format!("{base}/users/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?;
    let body = json_ok(resp, "login").await?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("login answered no access_token")
}

pub async fn create_product(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    sku: &str,
    stock: i64,
) -> Result<i64> {
    let resp = http
        .post(format!("{base}/products"))
        .bearer_auth(admin)
        .json(&json!({
            "name": format!("Bench {sku}"),
            "description": "A product the benchmark orders.",
            "price": "9.99",
            "stock_quantity": stock,
            "sku": sku,
            "category": "bench",
        }))
        .send()
        .await?;
    json_ok(resp, "creating a product").await?["id"]
        .as_i64()
        .context("a product without an id")
}

pub async fn stock_of(http: &reqwest::Client, base: &str, id: i64) -> Result<i64> {
    let resp = http.get(format!("{base}/products/{id}")).send().await?;
    json_ok(resp, "reading a product").await?["stock_quantity"]
        .as_i64()
        .context("a product without stock_quantity")
}

pub async fn seed(options: &Options, platform: &Platform, customers: usize) -> Result<Seeded> {
    let http = client();
    let base = &platform.gateway;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let admin_token = login(&http, base, &options.admin_email, &options.admin_password)
        .await
        .context("signing in as the admin")?;
    let mut spread = Vec::new();
    for i in 0..20 {
        spread.push(
            create_product(
                &http,
                base,
                &admin_token,
                &format!("bench-{tag}-{i}"),
                PLENTY,
            )
            .await?,
        );
    }
    let hot = create_product(
        &http,
        base,
        &admin_token,
        &format!("bench-{tag}-hot"),
        PLENTY,
    )
    .await?;
    // Registering hashes a password twice (register, sign in): a few at a
    // time. Each comes from its own address, as real customers do.
    let customers: Vec<Customer> = stream::iter(0..customers)
        .map(|i| {
            let (http, tag) = (http.clone(), tag.clone());
            async move {
                let email = format!("bench-{tag}-{i}@bench.shop");
                let address = format!("10.77.{}.{}", i / 250, i % 250 + 1);
                let resp = http
                    .post(format!("{base}/users/register"))
                    .header("x-forwarded-for", &address)
                    .json(&json!({
                        "email": email,
                        "username": format!("bench_{tag}_{i}"),
                        "password": PASSWORD,
                    }))
                    .send()
                    .await?;
                json_ok(resp, "registering a customer").await?;
                let token = login(&http, base, &email, PASSWORD).await?;
                Ok::<_, anyhow::Error>(Customer { email, token })
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    Ok(Seeded {
        tag,
        admin_token,
        spread,
        hot,
        customers,
    })
}

pub fn order_body(product_id: i64) -> String {
    json!({"items": [{"product_id": product_id, "quantity": 1}]}).to_string()
}

#[derive(Debug, Serialize)]
pub struct Oversell {
    pub stock: i64,
    pub attempts: u64,
    pub confirmed: u64,
    pub refused: u64,
    pub errors: u64,
    pub stock_after: i64,
    /// Confirmed orders beyond the stock, or units gone without an order.
    pub oversold: i64,
    pub lost: i64,
}

/// `stock` units of a new product, `attempts` orders for one unit each, all
/// at once from every customer: exactly `stock` are confirmed, the rest get
/// 409, and the product ends at zero.
pub async fn last_units(platform: &Platform, seeded: &Seeded) -> Result<Oversell> {
    const STOCK: i64 = 300;
    const ATTEMPTS: u64 = 1000;
    let http = client();
    let base = &platform.gateway;
    let id = create_product(
        &http,
        base,
        &seeded.admin_token,
        &format!("bench-{}-last", seeded.tag),
        STOCK,
    )
    .await?;
    let (confirmed, refused, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    stream::iter(0..ATTEMPTS)
        .for_each_concurrent(64, |i| {
            let http = http.clone();
            let token = seeded.customers[i as usize % seeded.customers.len()]
                .token
                .clone();
            let (confirmed, refused, errors) = (confirmed.clone(), refused.clone(), errors.clone());
            async move {
                let outcome = http
                    .post(format!("{base}/orders"))
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(order_body(id))
                    .send()
                    .await;
                let counter = match outcome.as_ref().map(reqwest::Response::status) {
                    Ok(s) if s.as_u16() == 201 => &confirmed,
                    Ok(s) if s.as_u16() == 409 => &refused,
                    _ => &errors,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await;
    let stock_after = stock_of(&http, base, id).await?;
    let confirmed = confirmed.load(Ordering::Relaxed);
    Ok(Oversell {
        stock: STOCK,
        attempts: ATTEMPTS,
        confirmed,
        refused: refused.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        stock_after,
        oversold: (confirmed as i64 - STOCK).max(0) + (-stock_after).max(0),
        lost: (STOCK - confirmed as i64 - stock_after).max(0),
    })
}
