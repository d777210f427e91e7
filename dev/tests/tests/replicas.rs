//! Two replicas of every service behind round-robin forwarders, sharing
//! PostgreSQL, moto and maildev: checkouts spread across replicas never
//! oversell, every owner gets a push for each of their orders whichever
//! replica consumed the event (and nobody else's), one email per order, and
//! an orders replica killed mid-burst leaves stock conserved and nothing
//! pending. Each test reads the databases.

use futures::StreamExt;
use serde_json::Value;
use shop_testkit::{Shop, emails_to, eventually, replicas::Replicated, unique_tag};
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{Message, client::IntoClientRequest},
};

const SETTLE: Duration = Duration::from_secs(60);

/// Opens a socket for `token` and collects the order ids of its pushes.
async fn listen(gateway: &str, token: &str) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    let url = format!("{}/ws/notifications", gateway.replacen("http", "ws", 1));
    let mut req = url.into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (mut ws, _) = connect_async(req).await.expect("socket opens");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    // Wait for the greeting, so the socket is registered before orders start.
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("connected") => break,
            Some(Ok(_)) => continue,
            other => panic!("no greeting: {other:?}"),
        }
    }
    tokio::spawn(async move {
        // How the socket ended, so a missing push says whether it was lost
        // on an open socket or the socket closed first.
        let ended = loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&t)
                        && v["type"] == "notification"
                    {
                        let _ = tx.send(v["data"].clone());
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    break format!("closed by the server: {frame:?}");
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break format!("failed: {e}"),
                None => break "ended without a close frame".to_owned(),
            }
        };
        let _ = tx.send(serde_json::json!({ "socket": ended }));
    });
    rx
}

struct Buyer {
    email: String,
    token: String,
    pushes: tokio::sync::mpsc::UnboundedReceiver<Value>,
    confirmed: BTreeSet<i64>,
}

async fn buyers(p: &Replicated, n: usize, tag: &str) -> Vec<Buyer> {
    let mut out = Vec::new();
    for i in 0..n {
        let email = format!("rep-{i}-{tag}@example.com");
        let token = p.sign_up(&email, &format!("rep-{i}-{tag}")).await;
        let pushes = listen(&p.gateway(), &token).await;
        out.push(Buyer {
            email,
            token,
            pushes,
            confirmed: BTreeSet::new(),
        });
    }
    out
}

#[tokio::test]
async fn checkouts_across_replicas_never_oversell_and_every_owner_gets_their_push_and_one_email() {
    let p = Replicated::start(2, &[]).await.expect("replicas start");
    let tag = unique_tag();
    let admin = p.admin_token().await;
    let stock = 30;
    let product = p
        .create_product(&admin, &format!("REP-{tag}"), "3.00", stock)
        .await;
    let mut buyers = buyers(&p, 8, &tag).await;

    // 8 buyers × 6 orders of one unit, all at once: 48 asks for 30 units.
    let started = Instant::now();
    let placed = futures::future::join_all(buyers.iter().enumerate().flat_map(|(b, buyer)| {
        let p = &p;
        (0..6).map(move |_| async move { (b, p.order(&buyer.token, &[(product, 1)]).await) })
    }))
    .await;
    let elapsed = started.elapsed();
    for (b, (status, body)) in &placed {
        match status {
            201 => {
                buyers[*b]
                    .confirmed
                    .insert(body["id"].as_i64().expect("id"));
            }
            409 => {}
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let confirmed: usize = buyers.iter().map(|b| b.confirmed.len()).sum();

    assert_eq!(confirmed, 30, "every unit sold, none twice");
    let counts = p
        .assert_settled_and_conserved(&[(product, i64::from(stock))], SETTLE)
        .await;
    assert_eq!((counts[0].available, counts[0].ordered), (0, 30));
    let (orders_hits, sockets_hits) = (p.hits("orders"), p.hits("notifications"));
    assert!(
        orders_hits.iter().all(|&h| h > 0),
        "both orders replicas took checkouts: {orders_hits:?}"
    );
    assert!(
        sockets_hits.iter().all(|&h| h > 0),
        "sockets on both notifications replicas: {sockets_hits:?}"
    );

    // Pushes: each owner gets one per confirmed order, and only theirs.
    let mut delivered = 0;
    for buyer in &mut buyers {
        let mut got = BTreeSet::new();
        let deadline = Instant::now() + SETTLE;
        while got.len() < buyer.confirmed.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, buyer.pushes.recv()).await {
                Ok(Some(push)) if push.get("socket").is_some() => panic!(
                    "{}: {} of {} pushes, then the socket {}",
                    buyer.email,
                    got.len(),
                    buyer.confirmed.len(),
                    push["socket"]
                ),
                Ok(Some(push)) => {
                    let order = push["order_id"].as_i64().expect("order id");
                    assert!(
                        buyer.confirmed.contains(&order),
                        "{} got a push for order {order}, not theirs",
                        buyer.email
                    );
                    assert!(got.insert(order), "order {order} pushed twice");
                }
                _ => panic!(
                    "{}: {} of {} pushes",
                    buyer.email,
                    got.len(),
                    buyer.confirmed.len()
                ),
            }
        }
        delivered += got.len();
    }

    // Quiet: every order's notification recorded and settled, so every send
    // and every push has happened. Whatever arrives beyond one per order is
    // counted from here on, not cut off at the expected number.
    let notifications_db = p.db("notifications").await;
    let all_orders: Vec<i64> = buyers
        .iter()
        .flat_map(|b| b.confirmed.iter().copied())
        .collect();
    eventually(SETTLE, || async {
        let (settled, total): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status <> 'sending'), count(*)
             FROM notifications WHERE order_id = ANY($1)",
        )
        .bind(&all_orders)
        .fetch_one(&notifications_db)
        .await
        .expect("notifications");
        (settled == 30 && total == 30).then_some(())
    })
    .await
    .expect("every notification settles");

    // Emails: exactly one per confirmed order.
    let mut emails = 0;
    for buyer in &mut buyers {
        let want = buyer.confirmed.len();
        eventually(SETTLE, || async {
            (emails_to(&buyer.email).await.len() >= want).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("{}: emails never arrived", buyer.email));
        let got = emails_to(&buyer.email).await.len();
        assert_eq!(got, want, "{}: one email per order", buyer.email);
        emails += got;
        // And no push beyond one per order has come meanwhile.
        if let Ok(extra) = buyer.pushes.try_recv()
            && extra.get("socket").is_none()
        {
            panic!("{}: a push beyond one per order: {extra}", buyer.email);
        }
    }
    let per_order: BTreeMap<i64, i64> = sqlx::query_as::<_, (i64, i64)>(
        "SELECT order_id, count(*) FROM notifications GROUP BY order_id",
    )
    .fetch_all(&notifications_db)
    .await
    .expect("notifications")
    .into_iter()
    .collect();
    assert_eq!(per_order.len(), 30);
    assert!(per_order.values().all(|&n| n == 1), "{per_order:?}");
    notifications_db.close().await;

    eprintln!(
        "replicas: {confirmed} orders in {:.2} s ({:.0} asks/s); pushes {delivered}/30; emails {emails}/30; \
         orders connections per replica {orders_hits:?}; sockets per notifications replica {sockets_hits:?}; \
         conservation {:?}",
        elapsed.as_secs_f64(),
        placed.len() as f64 / elapsed.as_secs_f64(),
        counts[0]
    );
    p.finish().await;
}

#[tokio::test]
async fn an_orders_replica_killed_mid_burst_leaves_stock_conserved_and_nothing_pending() {
    let mut p = Replicated::start(2, &[("PENDING_ORDER_TIMEOUT_SECS", "2")])
        .await
        .expect("replicas start");
    let tag = unique_tag();
    let admin = p.admin_token().await;
    let stock = 40;
    let product = p
        .create_product(&admin, &format!("KILL-{tag}"), "4.00", stock)
        .await;
    let mut tokens = Vec::new();
    for i in 0..8 {
        tokens.push(
            p.sign_up(
                &format!("kill-{i}-{tag}@example.com"),
                &format!("kill-{i}-{tag}"),
            )
            .await,
        );
    }

    let burst = {
        let (gateway, client) = (p.gateway(), p.client.clone());
        let tokens = tokens.clone();
        tokio::spawn(async move {
            let calls = tokens.iter().flat_map(|token| {
                let (gateway, client) = (gateway.clone(), client.clone());
                (0..6).map(move |_| {
                    let (gateway, client, token) = (gateway.clone(), client.clone(), token.clone());
                    async move {
                        client
                            .post(format!("{gateway}/orders"))
                            .bearer_auth(token)
                            .json(&serde_json::json!({"items": [{"product_id": product, "quantity": 1}]}))
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0)
                    }
                })
            });
            futures::future::join_all(calls).await
        })
    };
    // Kill one orders replica once checkouts are under way.
    let pool = p.db("orders").await;
    eventually(SETTLE, || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&pool)
            .await
            .expect("count");
        (n >= 5).then_some(())
    })
    .await
    .expect("the burst started");
    let victim = p.replicas_mut("orders").remove(0);
    let mut victim = victim;
    tokio::task::spawn_blocking(move || victim.kill())
        .await
        .expect("killed");
    let statuses = burst.await.expect("burst");

    let counts = p
        .assert_settled_and_conserved(&[(product, i64::from(stock))], SETTLE)
        .await;
    let confirmed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'confirmed'")
            .fetch_one(&pool)
            .await
            .expect("confirmed");
    assert_eq!(counts[0].ordered, confirmed);
    let created = statuses.iter().filter(|s| **s == 201).count() as i64;
    assert!(created <= confirmed, "every 201 is a confirmed order");
    // No event is lost: the survivor's relay publishes the dead replica's rows.
    let waiting = eventually(SETTLE, || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&pool)
            .await
            .expect("outbox");
        (n == 0).then_some(())
    })
    .await;
    assert!(waiting.is_some(), "every event published");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .expect("events");
    assert_eq!(events, confirmed, "one order.created per confirmed order");
    eprintln!(
        "kill: answers {statuses:?}; {confirmed} confirmed; conservation {:?}",
        counts[0]
    );
    pool.close().await;
    p.finish().await;
}

#[tokio::test]
async fn admin_edits_across_replicas_during_a_sale_neither_lose_nor_invent_stock() {
    let p = Replicated::start(2, &[]).await.expect("replicas start");
    let tag = unique_tag();
    let admin = p.admin_token().await;
    let stock = 50;
    let product = p
        .create_product(&admin, &format!("EDIT-{tag}"), "6.00", stock)
        .await;
    let buyer = p
        .sign_up(&format!("edit-{tag}@example.com"), &format!("edit-{tag}"))
        .await;

    let line = [(product, 1)];
    let sales = futures::future::join_all((0..30).map(|_| p.order(&buyer, &line)));
    let edits = futures::future::join_all((0..30).map(|n| {
        let (p, admin) = (&p, &admin);
        async move {
            p.client()
                .patch(format!("{}/products/{product}", p.gateway()))
                .bearer_auth(admin)
                .json(&serde_json::json!({"name": format!("Edited {n}"), "price": format!("{}.00", 6 + n % 3)}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    }));
    let (sold, edited) = tokio::join!(sales, edits);

    assert!(sold.iter().all(|(s, b)| *s == 201 || panic!("{s}: {b}")));
    assert!(edited.iter().all(|s| *s == 200), "{edited:?}");
    let counts = p
        .assert_settled_and_conserved(&[(product, i64::from(stock))], SETTLE)
        .await;
    assert_eq!((counts[0].available, counts[0].ordered), (20, 30));
    p.finish().await;
}

/// Wrong passwords for one account sent at once, spread by the balancer over
/// two users replicas: still no more than the limit are checked.
#[tokio::test]
async fn guesses_spread_over_users_replicas_are_checked_no_more_than_the_limit() {
    let p = Replicated::start(2, &[]).await.expect("replicas start");
    let tag = unique_tag();
    let email = format!("burst-{tag}@example.com");
    p.sign_up(&email, &format!("burst-{tag}")).await;
    let before = p.hits("users");
    let answers = futures::future::join_all((0..24).map(|_| {
        p.client()
            .post(format!("{}/users/login", p.gateway()))
            .header("x-forwarded-for", "203.0.113.70")
            .json(&serde_json::json!({"email": email, "password": "wrong-password"}))
            .send()
    }))
    .await;
    let statuses: Vec<u16> = answers
        .into_iter()
        .map(|a| a.expect("answered").status().as_u16())
        .collect();

    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, throttled), (5, 19), "{statuses:?}");
    let after = p.hits("users");
    assert!(
        before.iter().zip(&after).all(|(b, a)| a > b),
        "both users replicas took guesses: {before:?} → {after:?}"
    );
    p.finish().await;
}
