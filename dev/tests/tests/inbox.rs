//! The one-command platform's inbox: with no `SMTP_URL`, the notifications
//! service sends its email over real SMTP to the inbox the platform runs,
//! and an order's confirmation shows up on the inbox page and through the
//! MailHog-style API.

use shop_testkit::{Shop, TestStack, eventually};
use std::time::Duration;

#[tokio::test]
async fn an_orders_email_arrives_in_the_inbox_page_and_api() {
    let t = TestStack::start().await;
    let inbox = t
        .stack
        .url("inbox")
        .expect("the inbox runs without SMTP_URL");
    let admin = t.admin_token().await;
    let product = t.create_product(&admin, "INBOX-1", "12.50", 5).await;
    let customer = t.sign_up("inbox-reader@example.com", "inboxreader").await;
    let (status, order) = t.order(&customer, &[(product, 2)]).await;
    assert_eq!(status, 201, "{order}");
    let order_id = order["id"].as_i64().expect("an id");

    let search = format!("{inbox}/api/v2/search?kind=to&query=inbox-reader@example.com");
    let found = eventually(Duration::from_secs(15), || async {
        let v: serde_json::Value = t
            .client()
            .get(&search)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (v["total"] == 1).then_some(v)
    })
    .await
    .expect("the confirmation reaches the inbox");
    let message = &found["items"][0];
    let subject = message["Content"]["Headers"]["Subject"][0]
        .as_str()
        .expect("a subject")
        .to_owned();
    assert!(subject.contains(&format!("#{order_id}")), "{subject}");
    assert_eq!(message["To"][0]["Mailbox"], "inbox-reader");

    let page = t
        .client()
        .get(&inbox)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains(&subject), "the page lists {subject}");
    let id = message["ID"].as_str().expect("an id");
    let body = t
        .client()
        .get(format!("{inbox}/messages/{id}/html"))
        .send()
        .await
        .expect("html")
        .text()
        .await
        .expect("text");
    assert!(body.contains("12.50"), "the email shows the frozen price");

    let all: serde_json::Value = t
        .client()
        .get(format!("{inbox}/api/v2/messages"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert!(all["total"].as_u64() >= Some(1));
    t.finish().await;
}
