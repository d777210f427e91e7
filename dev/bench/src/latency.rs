//! Order → email and order → push on the SNS/SQS path (moto): orders placed
//! at a steady 200 a second on a platform that has done nothing else, each
//! timed from the moment its 201 arrives to the moment the mail server
//! received its email over SMTP (the inbox's own receipt time) and to the
//! moment the buyer's open WebSocket delivered its toast.

use crate::{
    platform::Platform,
    seed::{Seeded, client, order_body},
};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

pub const RATE: u64 = 200;
const SECONDS: u64 = 10;
/// Buyers with a socket open (at most 10 sockets per user are allowed).
const BUYERS: usize = 8;

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub missing: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Notify {
    /// The highest steady rate tried (200, then 100, 50, 25 a second, 10 s
    /// each) at which every order's push arrived with p95 ≤ 1 s; `None`
    /// when none did.
    pub capacity: Option<u64>,
    pub orders_per_second: u64,
    pub placed: usize,
    pub refused: usize,
    pub email: Percentiles,
    pub push: Percentiles,
}

fn percentiles(mut ms: Vec<f64>, expected: usize) -> Percentiles {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| {
        if ms.is_empty() {
            0.0
        } else {
            ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1]
        }
    };
    Percentiles {
        count: ms.len(),
        missing: expected.saturating_sub(ms.len()),
        p50_ms: at(0.5),
        p95_ms: at(0.95),
        max_ms: ms.last().copied().unwrap_or(0.0),
    }
}

type Times = Arc<Mutex<HashMap<i64, DateTime<Utc>>>>;

/// Every order confirmation in the inbox, by order, with its receipt time.
async fn read_inbox(http: &reqwest::Client, inbox: &str, emails: &mut HashMap<i64, DateTime<Utc>>) {
    let mut start = 0;
    loop {
        let Ok(resp) = http
            .get(format!("{inbox}/api/v2/messages?start={start}&limit=250"))
            .send()
            .await
        else {
            return;
        };
        let Ok(page) = resp.json::<Value>().await else {
            return;
        };
        let Some(items) = page["items"].as_array() else {
            return;
        };
        for item in items {
            let subject = item["Content"]["Headers"]["Subject"][0]
                .as_str()
                .unwrap_or("");
            let order = subject
                .strip_prefix("Order #")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<i64>().ok());
            let time = item["Created"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
            if let (Some(order), Some(time)) = (order, time) {
                emails.entry(order).or_insert(time.with_timezone(&Utc));
            }
        }
        if items.len() < 250 {
            return;
        }
        start += 250;
    }
}

/// The rates tried after [`RATE`] when it misses, highest first, each on a
/// fresh platform (a topic and queue of its own, so no backlog carries over).
pub const LOWER_RATES: [u64; 3] = [100, 50, 25];
/// What a rate must keep to count towards the capacity.
const PUSH_P95_MS: f64 = 1000.0;

/// Whether every order was placed, and every one's push arrived with
/// p95 ≤ 1 s.
pub fn keeps_up(n: &Notify) -> bool {
    n.refused == 0
        && n.placed as u64 == n.orders_per_second * SECONDS
        && n.push.missing == 0
        && n.push.p95_ms <= PUSH_P95_MS
}

/// Order → push and email at `rate` a second.
pub async fn run_at(
    platform: &Platform,
    seeded: &Seeded,
    inbox: &str,
    rate: u64,
) -> Result<Notify> {
    let http = client();
    let base = &platform.gateway;
    let pushed: Times = Arc::default();
    let buyers = &seeded.customers[..BUYERS.min(seeded.customers.len())];
    let mut sockets = Vec::new();
    for buyer in buyers {
        let mut request =
            format!("{}/ws/notifications", base.replacen("http", "ws", 1)).into_client_request()?;
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {}", buyer.token))?,
        );
        let (mut stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .context("opening a notifications socket")?;
        let pushed = pushed.clone();
        sockets.push(tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let now = Utc::now();
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if v["type"] == "notification"
                    && let Some(order) = v["data"]["order_id"].as_i64()
                    && let Ok(mut map) = pushed.lock()
                {
                    map.entry(order).or_insert(now);
                }
            }
        }));
    }

    let placed: Times = Arc::default();
    let refused = Arc::new(Mutex::new(0usize));
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut tasks = Vec::new();
    for i in 0..(rate * SECONDS) as usize {
        tick.tick().await;
        let (http, placed, refused) = (http.clone(), placed.clone(), refused.clone());
        let token = buyers[i % buyers.len()].token.clone();
        let product = seeded.spread[i % seeded.spread.len()];
        let url = format!("{base}/orders");
        tasks.push(tokio::spawn(async move {
            let resp = http
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(order_body(product))
                .send()
                .await;
            let now = Utc::now();
            match resp {
                Ok(r) if r.status().as_u16() == 201 => {
                    if let Ok(v) = r.json::<Value>().await
                        && let Some(id) = v["id"].as_i64()
                        && let Ok(mut map) = placed.lock()
                    {
                        map.insert(id, now);
                    }
                }
                _ => {
                    if let Ok(mut n) = refused.lock() {
                        *n += 1;
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let placed = placed.lock().map(|m| m.clone()).unwrap_or_default();

    // Wait (bounded) for every push and every email to arrive.
    let started = Instant::now();
    let mut emails: HashMap<i64, DateTime<Utc>> = HashMap::new();
    loop {
        let pushes = pushed.lock().map(|m| m.len()).unwrap_or(0);
        if emails.len() < placed.len() {
            read_inbox(&http, inbox, &mut emails).await;
        }
        let done = pushes >= placed.len() && placed.keys().all(|id| emails.contains_key(id));
        if done || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for socket in sockets {
        socket.abort();
    }
    let pushed = pushed.lock().map(|m| m.clone()).unwrap_or_default();
    let delay = |from: &DateTime<Utc>, to: &DateTime<Utc>| {
        ((*to - *from).num_microseconds().unwrap_or(0) as f64 / 1000.0).max(0.0)
    };
    let email_ms = placed
        .iter()
        .filter_map(|(id, at)| emails.get(id).map(|e| delay(at, e)))
        .collect();
    let push_ms = placed
        .iter()
        .filter_map(|(id, at)| pushed.get(id).map(|p| delay(at, p)))
        .collect();
    let refused = *refused.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    Ok(Notify {
        capacity: None,
        orders_per_second: rate,
        placed: placed.len(),
        refused,
        email: percentiles(email_ms, placed.len()),
        push: percentiles(push_ms, placed.len()),
    })
}
