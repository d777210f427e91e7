//! Sessions that end: after logout, or after an admin deactivates the
//! account, the same token — as a bearer token or as the cookie — is refused
//! by the gateway and by every service reached directly, within 5 s.

use reqwest::{Method, header};
use shop_testkit::{Shop, TestStack, eventually, unique_tag};
use std::time::{Duration, Instant};

/// How the token is presented.
#[derive(Debug, Clone, Copy)]
enum Carrier {
    Bearer,
    Cookie,
}

/// One authenticated request: (what it is, method, full URL).
type Target = (String, Method, String);

/// Every authenticated endpoint a customer reaches, through the gateway and
/// on each service directly.
fn customer_targets(t: &TestStack) -> Vec<Target> {
    let mut targets = Vec::new();
    let gw = t.gateway();
    let direct = |part: &str| t.stack.url(part).expect("running");
    for (base, via) in [
        (gw.clone(), "gateway"),
        (direct("users"), "users"),
        (direct("orders"), "orders"),
        (direct("notifications"), "notifications"),
    ] {
        for (method, path) in [
            (Method::GET, "/users/me"),
            (Method::GET, "/orders"),
            (Method::POST, "/orders"),
            (Method::GET, "/notifications"),
        ] {
            let owner = match path {
                p if p.starts_with("/users") => "users",
                p if p.starts_with("/orders") => "orders",
                _ => "notifications",
            };
            if via == "gateway" || via == owner {
                targets.push((
                    format!("{method} {path} via {via}"),
                    method,
                    format!("{base}{path}"),
                ));
            }
        }
    }
    targets
}

/// The status each target answers for `token`.
async fn statuses(t: &TestStack, targets: &[Target], token: &str, carrier: Carrier) -> Vec<u16> {
    refusals(t, targets, token, carrier)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect()
}

/// What each target says about `token`: its status and its `detail`.
async fn refusals(
    t: &TestStack,
    targets: &[Target],
    token: &str,
    carrier: Carrier,
) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    for (_, method, url) in targets {
        let mut req = t.client().request(method.clone(), url);
        req = match carrier {
            Carrier::Bearer => req.bearer_auth(token),
            Carrier::Cookie => req
                .header(header::COOKIE, format!("shop_session={token}"))
                .header(header::ORIGIN, "http://localhost:8080"),
        };
        if *method == Method::POST {
            req = req.json(&serde_json::json!({"items": [{"product_id": 999_999, "quantity": 1}]}));
        }
        let resp = req.send().await.expect("answered");
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        out.push((
            status,
            body["detail"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    out
}

/// Waits until every target refuses `token` with 401 "Session has ended",
/// both ways of carrying it; returns how long that took.
async fn refused_everywhere(t: &TestStack, targets: &[Target], token: &str) -> Duration {
    let started = Instant::now();
    // "Session has ended", not any 401: an account filter or a bad token
    // would give a 401 too, and must not pass for the session's end.
    let done = eventually(Duration::from_secs(5), || async {
        let bearer = refusals(t, targets, token, Carrier::Bearer).await;
        let cookie = refusals(t, targets, token, Carrier::Cookie).await;
        (bearer
            .iter()
            .chain(&cookie)
            .all(|(s, detail)| *s == 401 && detail == "Session has ended"))
        .then_some(())
    })
    .await;
    let took = started.elapsed();
    if done.is_none() {
        let bearer = refusals(t, targets, token, Carrier::Bearer).await;
        let names: Vec<_> = targets.iter().map(|t| &t.0).zip(bearer).collect();
        panic!("still accepted after 5 s: {names:?}");
    }
    took
}

/// Before anything ends, every target accepts the token (so a refusal later
/// is the session ending, not a target that refuses everyone).
async fn accepted_everywhere(t: &TestStack, targets: &[Target], token: &str) {
    for carrier in [Carrier::Bearer, Carrier::Cookie] {
        let got = statuses(t, targets, token, carrier).await;
        for ((name, _, _), status) in targets.iter().zip(got) {
            assert!(
                status != 401 && status != 403 && status < 500,
                "{name} ({carrier:?}) refused a live session: {status}"
            );
        }
    }
}

#[tokio::test]
async fn after_logout_the_token_is_refused_everywhere_within_five_seconds() {
    let t = TestStack::start().await;
    let tag = unique_tag();
    let token = t
        .sign_up(
            &format!("leaver-{tag}@example.com"),
            &format!("leaver{tag}"),
        )
        .await;
    let other = t
        .sign_up(
            &format!("stayer-{tag}@example.com"),
            &format!("stayer{tag}"),
        )
        .await;
    let targets = customer_targets(&t);
    accepted_everywhere(&t, &targets, &token).await;

    let r = t
        .client()
        .post(format!("{}/users/logout", t.gateway()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 204);
    let cleared: Vec<_> = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cleared.iter().any(|c| c.starts_with("shop_session=;")),
        "cookie cleared: {cleared:?}"
    );

    let took = refused_everywhere(&t, &targets, &token).await;
    println!("logout → refused on {} targets in {took:?}", targets.len());
    let (status, body) = t.get_as(&token, "/orders").await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Session has ended"))
    );

    // Only that session ended: another user's, and a new sign-in, still work.
    accepted_everywhere(&t, &targets, &other).await;
    let again = t
        .log_in(&format!("leaver-{tag}@example.com"), "correct-horse")
        .await;
    accepted_everywhere(&t, &targets, &again).await;

    // The admin's session on the products service ends the same way.
    let admin = t.admin_token().await;
    let products = t.stack.url("products").expect("running");
    let admin_targets: Vec<Target> = [t.gateway(), products]
        .into_iter()
        .map(|base| {
            (
                format!("GET /products/reservations via {base}"),
                Method::GET,
                format!("{base}/products/reservations"),
            )
        })
        .collect();
    accepted_everywhere(&t, &admin_targets, &admin).await;
    let r = t
        .client()
        .post(format!("{}/users/logout", t.gateway()))
        .header(header::COOKIE, format!("shop_session={admin}"))
        .header(header::ORIGIN, "http://localhost:8080")
        .send()
        .await
        .expect("logout by cookie");
    assert_eq!(r.status(), 204);
    refused_everywhere(&t, &admin_targets, &admin).await;

    let db = t.db("users").await;
    let ended: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL")
            .fetch_one(&db)
            .await
            .expect("count");
    assert_eq!(ended, 2, "exactly the two sessions that logged out ended");
    t.finish().await;
}

#[tokio::test]
async fn a_deactivated_account_is_refused_everywhere_within_five_seconds_until_reactivated() {
    let t = TestStack::start().await;
    let tag = unique_tag();
    let email = format!("gone-{tag}@example.com");
    let first = t.sign_up(&email, &format!("gone{tag}")).await;
    let second = t.log_in(&email, "correct-horse").await;
    let targets = customer_targets(&t);
    accepted_everywhere(&t, &targets, &first).await;
    let (_, me) = t.get_as(&first, "/users/me").await;
    let id = me["id"].as_i64().expect("id");

    let admin = t.admin_token().await;
    let customer_tries = t
        .client()
        .post(format!("{}/users/{id}/deactivate", t.gateway()))
        .bearer_auth(&second)
        .send()
        .await
        .expect("answered");
    assert_eq!(customer_tries.status(), 403, "only an admin deactivates");

    let r = t
        .client()
        .post(format!("{}/users/{id}/deactivate", t.gateway()))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("deactivate");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["is_active"], false);

    let took = refused_everywhere(&t, &targets, &first).await;
    refused_everywhere(&t, &targets, &second).await;
    println!("deactivation → both sessions refused in {took:?}");
    let r = t
        .client()
        .post(format!("{}/users/login", t.gateway()))
        .json(&serde_json::json!({"email": email, "password": "correct-horse"}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 401, "a deactivated account cannot sign in");

    let db = t.db("users").await;
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .fetch_one(&db)
    .await
    .expect("count");
    assert_eq!(live, 0, "no live session is left");

    // An admin cannot lock themselves out; an unknown account is 404.
    let (_, admin_me) = t.get_as(&admin, "/users/me").await;
    let admin_id = admin_me["id"].as_i64().expect("id");
    for (who, want) in [(admin_id, 400), (987_654_321, 404)] {
        let r = t
            .client()
            .post(format!("{}/users/{who}/deactivate", t.gateway()))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("answered");
        assert_eq!(r.status(), want);
    }

    let r = t
        .client()
        .post(format!("{}/users/{id}/reactivate", t.gateway()))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("reactivate");
    assert_eq!(r.status(), 200);
    let fresh = t.log_in(&email, "correct-horse").await;
    accepted_everywhere(&t, &targets, &fresh).await;
    let statuses = statuses(&t, &targets, &first, Carrier::Bearer).await;
    assert!(
        statuses.iter().all(|s| *s == 401),
        "sessions ended before reactivation stay ended: {statuses:?}"
    );
    t.finish().await;
}
