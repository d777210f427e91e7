//! The notifications API over the real services: each user sees their own,
//! admins see everyone's, and a failed email can be retried.

use serde_json::Value;
use shop_testkit::{Shop, TestStack, emails_to, eventually, smtp_url, switch_to, unique_tag};
use std::{sync::atomic::Ordering, time::Duration};

async fn wait_for_notification(t: &TestStack, token: &str) -> Value {
    eventually(Duration::from_secs(10), || async {
        let (_, list) = t.get_as(token, "/notifications").await;
        list["notifications"]
            .as_array()
            .and_then(|n| n.first().cloned())
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

#[tokio::test]
async fn a_failed_email_is_recorded_and_an_admin_retry_sends_it() {
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
    assert!(
        failed["error_message"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );

    relay.up.store(true, Ordering::SeqCst);
    let r = t
        .client
        .post(format!(
            "{}/notifications/retry/{}",
            t.gateway(),
            failed["id"]
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 200);
    let retried: Value = r.json().await.expect("json");
    assert_eq!(retried["status"], "sent");
    assert!(retried["error_message"].is_null());
    assert_eq!(emails_to(&email).await.len(), 1);
    t.finish().await;
}
