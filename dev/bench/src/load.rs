//! The load scenarios, driven by goose: every goose user runs its
//! transactions back to back for the run time. Latency is recorded here in
//! microseconds, from the request's start to its last body byte (goose's own
//! figures are whole milliseconds), and every answer that is not the one the
//! scenario expects counts as an error. The first two seconds of each run
//! warm up and are not counted.

use crate::{
    Options,
    platform::Via,
    seed::{Seeded, order_body},
};
use anyhow::{Result, anyhow};
use goose::prelude::*;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    ProductById,
    /// The same, with the `ETag` of the last answer: 304 without a body.
    ProductRevalidated,
    CataloguePage,
    CatalogueSearch,
    Me,
    CheckoutSpread,
    CheckoutHot,
    /// Browse → product → checkout → own orders, signed in once per user.
    Journey,
}

#[derive(Debug)]
pub struct Plan {
    pub name: &'static str,
    pub via: Via,
    pub kind: Kind,
    pub what: &'static str,
}

pub const SCENARIOS: &[Plan] = &[
    Plan {
        name: "product_by_id",
        via: Via::Gateway,
        kind: Kind::ProductById,
        what: "GET /products/{id} through the gateway",
    },
    Plan {
        name: "product_by_id_direct",
        via: Via::Direct,
        kind: Kind::ProductById,
        what: "GET /products/{id} straight to the products service",
    },
    Plan {
        name: "product_by_id_nginx",
        via: Via::Nginx,
        kind: Kind::ProductById,
        what: "GET /products/{id} through nginx to the products service",
    },
    Plan {
        name: "product_304",
        via: Via::Gateway,
        kind: Kind::ProductRevalidated,
        what: "GET /products/{id} with If-None-Match, through the gateway",
    },
    Plan {
        name: "catalogue_page",
        via: Via::Gateway,
        kind: Kind::CataloguePage,
        what: "GET /products?limit=20&offset=0..40",
    },
    Plan {
        name: "catalogue_search",
        via: Via::Gateway,
        kind: Kind::CatalogueSearch,
        what: "GET /products?name=...&limit=20",
    },
    Plan {
        name: "users_me",
        via: Via::Gateway,
        kind: Kind::Me,
        what: "GET /users/me with a bearer token",
    },
    Plan {
        name: "checkout_spread",
        via: Via::Gateway,
        kind: Kind::CheckoutSpread,
        what: "POST /orders, one unit of one of 20 products",
    },
    Plan {
        name: "checkout_hot",
        via: Via::Gateway,
        kind: Kind::CheckoutHot,
        what: "POST /orders, one unit of the same product",
    },
    Plan {
        name: "journey",
        via: Via::Gateway,
        kind: Kind::Journey,
        what: "sign in once; then catalogue, product, checkout, own orders",
    },
];

/// Requests started in the first seconds of a run warm the connection pools
/// and caches; they are sent but not counted.
const WARM_UP: std::time::Duration = std::time::Duration::from_secs(2);

/// Latency and answers of one run.
struct Recorder {
    latency: Mutex<Histogram<u64>>,
    errors: AtomicU64,
    statuses: Mutex<BTreeMap<String, u64>>,
    counter: AtomicU64,
    /// Microseconds since `origin` of the first request's start and the
    /// last answer's end: the window the rate is counted over.
    origin: Instant,
    first: AtomicU64,
    last: AtomicU64,
}

impl Recorder {
    fn new() -> Self {
        Self {
            latency: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds")),
            errors: AtomicU64::new(0),
            statuses: Mutex::default(),
            counter: AtomicU64::new(0),
            origin: Instant::now(),
            first: AtomicU64::new(u64::MAX),
            last: AtomicU64::new(0),
        }
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }
}

#[derive(Debug, Serialize)]
pub struct LoadResult {
    pub name: String,
    pub what: String,
    pub seconds: f64,
    pub users: usize,
    pub requests: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub statuses: BTreeMap<String, u64>,
}

/// Sends one request and reads its whole body; counts it, and counts it as
/// an error unless its status is `expect`.
async fn call(
    user: &mut GooseUser,
    rec: &Recorder,
    method: GooseMethod,
    name: &str,
    path: &str,
    expect: u16,
    build: impl FnOnce(reqwest013::RequestBuilder) -> reqwest013::RequestBuilder,
) -> Result<(u16, bytes::Bytes, Option<String>), Box<TransactionError>> {
    let builder = build(user.get_request_builder(&method, path)?);
    let request = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(name)
        .expect_status_code(expect)
        .set_request_builder(builder)
        .build();
    let started = Instant::now();
    let measured = started >= rec.origin + WARM_UP;
    let goose = user.request(request).await?;
    let (status, body, etag) = match goose.response {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let etag = resp
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (status, resp.bytes().await.unwrap_or_default(), etag)
        }
        Err(_) => (0, bytes::Bytes::new(), None),
    };
    if !measured {
        return Ok((status, body, etag));
    }
    let micros = started.elapsed().as_micros().max(1) as u64;
    rec.first.fetch_min(
        started.duration_since(rec.origin).as_micros() as u64,
        Ordering::Relaxed,
    );
    rec.last
        .fetch_max(rec.origin.elapsed().as_micros() as u64, Ordering::Relaxed);
    if let Ok(mut h) = rec.latency.lock() {
        let _ = h.record(micros);
    }
    if status != expect {
        rec.errors.fetch_add(1, Ordering::Relaxed);
    }
    if let Ok(mut s) = rec.statuses.lock() {
        *s.entry(if status == 0 {
            "transport".into()
        } else {
            status.to_string()
        })
        .or_default() += 1;
    }
    Ok((status, body, etag))
}

/// `POST /orders` for one unit of `product`.
async fn order(
    user: &mut GooseUser,
    rec: &Recorder,
    token: &str,
    product: i64,
) -> Result<(), Box<TransactionError>> {
    call(user, rec, GooseMethod::Post, "order", "/orders", 201, |b| {
        b.bearer_auth(token)
            .header("content-type", "application/json")
            .body(order_body(product))
    })
    .await?;
    Ok(())
}

fn pick<T: Copy>(items: &[T], n: u64) -> T {
    items[(n % items.len() as u64) as usize]
}

fn transaction(kind: Kind, rec: Arc<Recorder>, seeded: Arc<Seeded>) -> TransactionFunction {
    // Every product a read may ask for.
    let all: Arc<[i64]> = seeded.spread.iter().copied().chain([seeded.hot]).collect();
    Arc::new(move |user| {
        let (rec, seeded, all) = (rec.clone(), seeded.clone(), all.clone());
        Box::pin(async move {
            let n = rec.next();
            let token = seeded.customers[user.weighted_users_index % seeded.customers.len()]
                .token
                .clone();
            match kind {
                Kind::ProductById => {
                    let path = format!("/products/{}", pick(&all, n));
                    call(user, &rec, GooseMethod::Get, "product", &path, 200, |b| b).await?;
                }
                Kind::ProductRevalidated => {
                    let path = format!("/products/{}", pick(&all, n));
                    let etag = user
                        .get_session_data::<BTreeMap<String, String>>()
                        .and_then(|m| m.get(&path).cloned());
                    let expect = if etag.is_some() { 304 } else { 200 };
                    let (_, _, fresh) = call(
                        user,
                        &rec,
                        GooseMethod::Get,
                        "product",
                        &path,
                        expect,
                        |b| match &etag {
                            Some(tag) => b.header("if-none-match", tag),
                            None => b,
                        },
                    )
                    .await?;
                    if let Some(fresh) = fresh {
                        if user
                            .get_session_data::<BTreeMap<String, String>>()
                            .is_none()
                        {
                            user.set_session_data(BTreeMap::<String, String>::new());
                        }
                        if let Some(map) = user.get_session_data_mut::<BTreeMap<String, String>>() {
                            map.insert(path, fresh);
                        }
                    }
                }
                Kind::CataloguePage => {
                    let path = format!("/products?limit=20&offset={}", (n % 3) * 20);
                    call(user, &rec, GooseMethod::Get, "page", &path, 200, |b| b).await?;
                }
                Kind::CatalogueSearch => {
                    let path = format!("/products?name=bench&limit=20&offset={}", (n % 2) * 20);
                    call(user, &rec, GooseMethod::Get, "search", &path, 200, |b| b).await?;
                }
                Kind::Me => {
                    call(user, &rec, GooseMethod::Get, "me", "/users/me", 200, |b| {
                        b.bearer_auth(&token)
                    })
                    .await?;
                }
                Kind::CheckoutSpread | Kind::CheckoutHot => {
                    let product = match kind {
                        Kind::CheckoutHot => seeded.hot,
                        _ => pick(&seeded.spread, n),
                    };
                    order(user, &rec, &token, product).await?;
                }
                Kind::Journey => {
                    let token = match user.get_session_data::<String>() {
                        Some(t) => t.clone(),
                        None => {
                            let customer = &seeded.customers
                                [user.weighted_users_index % seeded.customers.len()];
                            let body = serde_json::json!({"email": customer.email, "password": crate::seed::PASSWORD}).to_string();
                            let (_, body, _) = call(
                                user,
                                &rec,
                                GooseMethod::Post,
                                "login",
                                "/users/login",
                                200,
                                |b| b.header("content-type", "application/json").body(body),
                            )
                            .await?;
                            let token = serde_json::from_slice::<serde_json::Value>(&body)
                                .ok()
                                .and_then(|v| v["access_token"].as_str().map(str::to_owned))
                                .unwrap_or_default();
                            user.set_session_data(token.clone());
                            token
                        }
                    };
                    call(
                        user,
                        &rec,
                        GooseMethod::Get,
                        "page",
                        "/products?limit=20",
                        200,
                        |b| b,
                    )
                    .await?;
                    let product = pick(&seeded.spread, n);
                    call(
                        user,
                        &rec,
                        GooseMethod::Get,
                        "product",
                        &format!("/products/{product}"),
                        200,
                        |b| b,
                    )
                    .await?;
                    order(user, &rec, &token, product).await?;
                    call(
                        user,
                        &rec,
                        GooseMethod::Get,
                        "orders",
                        "/orders?limit=10",
                        200,
                        |b| b.bearer_auth(&token),
                    )
                    .await?;
                }
            }
            Ok(())
        })
    })
}

pub async fn run(
    options: &Options,
    scenario: &Plan,
    host: &str,
    seeded: &Seeded,
) -> Result<LoadResult> {
    let rec = Arc::new(Recorder::new());
    let seeded = Arc::new(seeded.clone());
    let goose_scenario = goose::goose::Scenario::new("load").register_transaction(
        Transaction::new(transaction(scenario.kind, rec.clone(), seeded)),
    );
    let mut config = goose::config::GooseConfiguration::default();
    config.host = Some(host.to_owned());
    config.users = Some(options.users);
    // Every user at once.
    config.increase_rate = Some("100000".into());
    config.run_time = Some((options.seconds + WARM_UP.as_secs()).to_string());
    config.quiet = 1;
    config.no_print_metrics = true;
    config.no_error_summary = true;
    config.no_telnet = true;
    config.no_gzip = true;
    config.no_status_codes = true;
    config.timeout = Some("30".into());
    GooseAttack::initialize_with_config(config)
        .map_err(|e| anyhow!("goose: {e:?}"))?
        .register_scenario(goose_scenario)
        .set_client_builder_without_cookies(
            goose::client::GooseClientBuilder::new().without_cookies(),
        )
        .map_err(|e| anyhow!("goose: {e:?}"))?
        .execute()
        .await
        .map_err(|e| anyhow!("goose: {e:?}"))?;
    let window = rec
        .last
        .load(Ordering::Relaxed)
        .saturating_sub(rec.first.load(Ordering::Relaxed));
    let seconds = (window as f64 / 1e6).max(1e-3);
    let latency = rec.latency.lock().map_err(|_| anyhow!("poisoned"))?.clone();
    let requests = latency.len();
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    Ok(LoadResult {
        name: scenario.name.to_owned(),
        what: scenario.what.to_owned(),
        seconds,
        users: options.users,
        requests,
        per_second: requests as f64 / seconds,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: latency.max() as f64 / 1000.0,
        errors: rec.errors.load(Ordering::Relaxed),
        statuses: rec.statuses.lock().map(|s| s.clone()).unwrap_or_default(),
    })
}
