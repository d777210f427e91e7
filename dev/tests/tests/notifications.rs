//! The notifications API over the real services: each user sees their own,
//! admins see everyone's, and a failed email can be retried.

use serde_json::Value;
use shop_testkit::{Shop, TestStack, emails_to, eventually, smtp_url, switch_to, unique_tag};
use std::{sync::atomic::Ordering, time::Duration};

/// The user's first notification once it has settled (sent or failed; a
/// notification being sent is listed as `sending` meanwhile).
async fn wait_for_notification(t: &TestStack, token: &str) -> Value {
    eventually(Duration::from_secs(10), || async {
        let (_, list) = t.get_as(token, "/notifications").await;
        list["notifications"]
            .as_array()
            .and_then(|n| n.first().cloned())
            .filter(|n| n["status"] != "sending")
    })
    .await
    .expect("a notification is recorded")
}

#[tokio::test]
async fn users_see_their_own_notifications_and_admins_see_all() {
    let t = TestStack::start().await;
    let tag = unique_tag();
    let admin = t.admin_token().await;
    let ann = t
        .sign_up(&format!("ann-{tag}@example.com"), &format!("ann-{tag}"))
        .await;
    let bob = t
        .sign_up(&format!("bob-{tag}@example.com"), &format!("bob-{tag}"))
        .await;
    let product = t
        .create_product(&admin, &format!("NTF-{tag}"), "2.00", 5)
        .await;
    let (_, order) = t.order(&ann, &[(product, 1)]).await;

    let mine = wait_for_notification(&t, &ann).await;
    assert_eq!(mine["order_id"], order["id"]);
    assert_eq!(mine["type"], "order_confirmation");
    assert_eq!(mine["status"], "sent");
    let (_, bobs) = t.get_as(&bob, "/notifications").await;
    assert_eq!(bobs["total"], 0);
    let (s, _) = t
        .get_as(&bob, &format!("/notifications/{}", mine["id"]))
        .await;
    assert_eq!(s, 404);
    let (s, _) = t
        .get_as(
            &bob,
            &format!("/notifications?recipient=ann-{tag}@example.com"),
        )
        .await;
    assert_eq!(s, 403, "only admins filter by recipient");
    let (_, filtered) = t
        .get_as(
            &admin,
            &format!("/notifications?recipient=ann-{tag}@example.com"),
        )
        .await;
    assert_eq!(filtered["total"], 1);
    let (s, _) = t
        .client
        .post(format!(
            "{}/notifications/retry/{}",
            t.gateway(),
            mine["id"]
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .expect("answered");
    assert_eq!(s, 400, "only failed notifications can be retried");
    t.finish().await;
}

/// A platform whose mail server was down for one order: its notification
/// failed. Returns the platform, the switch in front of the mail server
/// (down), an admin's token, the buyer's email and the notification.
async fn a_failed_email() -> (TestStack, shop_testkit::Switch, String, String, Value) {
    let smtp = smtp_url();
    let target = smtp
        .trim_start_matches("smtp://")
        .parse()
        .expect("host:port");
    let relay = switch_to(target).await;
    let smtp_via_switch = format!("smtp://127.0.0.1:{}", relay.port);
    let t = TestStack::start_with(&[("SMTP_URL", smtp_via_switch.as_str())]).await;
    let tag = unique_tag();
    let email = format!("retry-{tag}@example.com");
    let admin = t.admin_token().await;
    let buyer = t.sign_up(&email, &format!("retry-{tag}")).await;
    let product = t
        .create_product(&admin, &format!("RTY-{tag}"), "2.00", 5)
        .await;
    t.order(&buyer, &[(product, 1)]).await;

    let failed = wait_for_notification(&t, &buyer).await;
    assert_eq!(failed["status"], "failed");
    (t, relay, admin, email, failed)
}

async fn retry(t: &TestStack, admin: &str, id: &Value) -> reqwest::Response {
    t.client
        .post(format!("{}/notifications/retry/{id}", t.gateway()))
        .bearer_auth(admin)
        .send()
        .await
        .expect("answered")
}

#[tokio::test]
async fn a_failed_email_is_recorded_and_an_admin_retry_sends_it() {
    let (t, relay, admin, email, failed) = a_failed_email().await;
    assert!(
        failed["error_message"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );

    relay.up.store(true, Ordering::SeqCst);
    let r = retry(&t, &admin, &failed["id"]).await;
    assert_eq!(r.status(), 200);
    let retried: Value = r.json().await.expect("json");
    assert_eq!(retried["status"], "sent");
    assert!(retried["error_message"].is_null());
    assert_eq!(emails_to(&email).await.len(), 1);
    t.finish().await;
}

#[tokio::test]
async fn two_admins_retrying_at_once_send_one_email() {
    let (t, relay, admin, email, failed) = a_failed_email().await;
    relay.up.store(true, Ordering::SeqCst);
    let (a, b) = tokio::join!(
        retry(&t, &admin, &failed["id"]),
        retry(&t, &admin, &failed["id"])
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 400],
        "one retry sends, the other is refused"
    );
    // Settled: the winner recorded `sent`; only then is the count final.
    let db = t.db("notifications").await;
    let status: String = sqlx::query_scalar("SELECT status FROM notifications WHERE id = $1")
        .bind(failed["id"].as_i64().expect("an id"))
        .fetch_one(&db)
        .await
        .expect("the row");
    assert_eq!(status, "sent");
    assert_eq!(emails_to(&email).await.len(), 1, "one email, not two");
    t.finish().await;
}

#[tokio::test]
async fn an_email_left_sending_is_listed_and_retryable_once_its_claim_is_over() {
    let (t, relay, admin, email, failed) = a_failed_email().await;
    relay.up.store(true, Ordering::SeqCst);
    let id = failed["id"].as_i64().expect("an id");
    let db = t.db("notifications").await;
    // Its sender died mid-send: still claimed for a while, then not.
    let claim = |secs: f64| {
        sqlx::query(
            "UPDATE notifications SET status = 'sending', error_message = NULL,
                    claimed_until = now() + make_interval(secs => $2) WHERE id = $1",
        )
        .bind(id)
        .bind(secs)
        .execute(&db)
    };
    claim(30.0).await.expect("claimed");
    let (_, listed) = t
        .get_as(
            &admin,
            &format!("/notifications?status=sending&recipient={email}"),
        )
        .await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["notifications"][0]["status"], "sending");
    assert_eq!(
        retry(&t, &admin, &failed["id"]).await.status(),
        400,
        "not while its sender may still be sending"
    );
    claim(-1.0).await.expect("claim over");
    let r = retry(&t, &admin, &failed["id"]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(emails_to(&email).await.len(), 1);
    t.finish().await;
}

/// An SMTP server for one test: it takes mail like any other, except that
/// for a recipient whose address starts with `stall` it reads the message
/// and then never answers.
async fn stalling_smtp_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("smtp://{}", listener.local_addr().expect("bound"));
    let delivered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = delivered.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 stall.test ESMTP\r\n").await;
                let mut stall = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let answer: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 stall.test\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        stall |= upper.contains("<STALL");
                        b"250 OK\r\n"
                    } else if upper.starts_with("DATA") {
                        let _ = write.write_all(b"354 go on\r\n").await;
                        while let Ok(Some(body)) = lines.next_line().await {
                            if body == "." {
                                break;
                            }
                        }
                        if stall {
                            // Holds the connection and says nothing more.
                            std::future::pending::<()>().await;
                        }
                        count.fetch_add(1, Ordering::SeqCst);
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    if write.write_all(answer).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (url, delivered)
}

#[tokio::test]
async fn a_stalled_mail_server_holds_only_its_own_emails_and_sends_none_twice() {
    let (smtp, delivered) = stalling_smtp_server().await;
    let t = TestStack::start_with(&[
        ("SMTP_URL", smtp.as_str()),
        ("SMTP_SEND_DEADLINE_MS", "1000"),
        ("CONSUMER_CONCURRENCY", "2"),
    ])
    .await;
    let tag = unique_tag();
    let admin = t.admin_token().await;
    let product = t
        .create_product(&admin, &format!("STL-{tag}"), "1.00", 10)
        .await;
    // As many stalled emails as the consumer handles at once, then one
    // that the server takes.
    let mut stalled = Vec::new();
    for n in 0..2 {
        let token = t
            .sign_up(
                &format!("stall{n}-{tag}@example.com"),
                &format!("stall{n}{tag}"),
            )
            .await;
        let (status, order) = t.order(&token, &[(product, 1)]).await;
        assert_eq!(status, 201);
        stalled.push(order["id"].as_i64().expect("an id"));
    }
    let token = t
        .sign_up(&format!("fine-{tag}@example.com"), &format!("fine{tag}"))
        .await;
    let (_, order) = t.order(&token, &[(product, 1)]).await;
    let fine = order["id"].as_i64().expect("an id");

    let db = t.db("notifications").await;
    let status_of = |order: i64| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM notifications WHERE order_id = $1")
                .bind(order)
                .fetch_all(&db)
                .await
                .expect("notifications")
        }
    };
    let sent = eventually(Duration::from_secs(10), || async {
        (status_of(fine).await == ["sent"]).then_some(())
    })
    .await;
    assert!(
        sent.is_some(),
        "the other email waited behind stalled ones: {:?}",
        status_of(fine).await
    );
    for order in &stalled {
        let failed = eventually(Duration::from_secs(10), || async {
            (status_of(*order).await == ["failed"]).then_some(())
        })
        .await;
        assert!(
            failed.is_some(),
            "order {order}: {:?}, not one failed notification",
            status_of(*order).await
        );
    }
    assert_eq!(
        delivered.load(Ordering::SeqCst),
        1,
        "one email reached the server"
    );
    t.finish().await;
}

/// One SMTP exchange at a time, and the mail server stalls it: the next
/// order's toast still arrives at once, while the stalled email is being
/// sent, not after its deadline.
#[tokio::test]
async fn a_stalled_email_never_holds_up_another_order_s_toast() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let (smtp, _) = stalling_smtp_server().await;
    let t = TestStack::start_with(&[
        ("SMTP_URL", smtp.as_str()),
        ("SMTP_SEND_DEADLINE_MS", "14000"),
        ("CONSUMER_CONCURRENCY", "1"),
    ])
    .await;
    let tag = unique_tag();
    let admin = t.admin_token().await;
    let product = t
        .create_product(&admin, &format!("TST-{tag}"), "1.00", 10)
        .await;
    let stalled = t
        .sign_up(&format!("stall-{tag}@example.com"), &format!("stall{tag}"))
        .await;
    let (status, order) = t.order(&stalled, &[(product, 1)]).await;
    assert_eq!(status, 201);
    let stalled_order = order["id"].as_i64().expect("an id");
    let db = t.db("notifications").await;
    let exchange_of = |order: i64| {
        let db = db.clone();
        async move {
            sqlx::query_as::<_, (String, bool)>(
                "SELECT status, send_started_at IS NOT NULL FROM notifications WHERE order_id = $1",
            )
            .bind(order)
            .fetch_optional(&db)
            .await
            .expect("notifications")
        }
    };
    // The only SMTP exchange is taken by the stalled email.
    eventually(Duration::from_secs(10), || async {
        (exchange_of(stalled_order).await == Some(("sending".into(), true))).then_some(())
    })
    .await
    .expect("the stalled email's exchange began");

    let buyer = t
        .sign_up(&format!("toast-{tag}@example.com"), &format!("toast{tag}"))
        .await;
    let url = format!("{}/ws/notifications", t.gateway().replacen("http", "ws", 1));
    let mut req = url.into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {buyer}").parse().expect("header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("socket opens");
    let (status, order) = t.order(&buyer, &[(product, 1)]).await;
    assert_eq!(status, 201);
    let toast = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Text(text) = m
                && let Ok(v) = serde_json::from_str::<Value>(&text)
                && v["type"] == "notification"
            {
                return Some(v);
            }
        }
        None
    })
    .await
    .expect("a toast")
    .expect("the socket stays open");

    assert_eq!(toast["data"]["order_id"], order["id"]);
    assert_eq!(
        exchange_of(stalled_order).await,
        Some(("sending".into(), true)),
        "the toast came only after the stalled exchange ended"
    );
    t.finish().await;
}
