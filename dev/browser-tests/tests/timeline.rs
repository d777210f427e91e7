//! An order's timeline in the shop, and its email in the inbox of the
//! one-command platform: the customer sees when the order was placed,
//! confirmed and emailed, and the admin's status change arrives as a toast
//! and a new step; the confirmation is on the inbox page.

use anyhow::{Context, Result, ensure};
use shop_browser_tests::{
    Browser, conclude, start_platform,
    storefront::{self, NewProduct, PASSWORD},
};
use shop_testkit::{Shop, TestStack};

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn the_timeline_follows_the_order_and_the_email_is_in_the_inbox() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = follow(&platform, &browser).await;
    conclude("order-timeline", outcome, vec![browser], platform).await
}

async fn follow(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let inbox = t.stack.url("inbox").context("the inbox runs")?;
    let admin = t.admin_token().await;
    let kettle = storefront::create_product(
        t,
        &admin,
        &NewProduct {
            sku: "KETTLE",
            name: "Kettle",
            category: "Kitchen",
            price: "24.00",
            stock: 4,
        },
    )
    .await?;
    let token = t.sign_up("tess@example.com", "tess").await;
    storefront::sign_in(browser, &web, "tess@example.com", PASSWORD).await?;
    storefront::wait_live(browser).await?;
    let (status, order) = t.order(&token, &[(kettle, 1)]).await;
    ensure!(status == 201, "the order: {status} {order}");
    let id = order["id"].as_i64().context("order id")?;

    browser.open(&format!("{web}/orders?placed={id}")).await?;
    let steps = format!(r#"[data-order-id="{id}"] [data-testid="timeline-step"]"#);
    browser
        .wait_for(&format!(r#"[data-order-id="{id}"] [data-step="emailed"]"#))
        .await?;
    ensure!(
        browser
            .count(&format!(r#"[data-order-id="{id}"] [data-step="placed"]"#))
            .await?
            == 1
            && browser
                .count(&format!(
                    r#"[data-order-id="{id}"] [data-step="confirmed"]"#
                ))
                .await?
                == 1,
        "placed and confirmed are on the timeline"
    );

    // The shop ships it: a toast, and a new step without a reload.
    let moved = t
        .client()
        .patch(format!("{}/orders/{id}/status", t.gateway()))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"status": "shipped"}))
        .send()
        .await?;
    ensure!(moved.status() == 200, "shipping: {}", moved.status());
    browser
        .wait_for(&format!(r#"[data-testid="toast"][data-order-id="{id}"]"#))
        .await?;
    browser
        .wait_for(&format!(r#"[data-order-id="{id}"] [data-step="shipped"]"#))
        .await?;
    ensure!(
        browser.count(&steps).await? >= 4,
        "placed, confirmed, emailed, shipped"
    );
    browser.screenshot("order-timeline").await?;

    // The confirmation, on the inbox page of the one-command platform.
    browser.open(&inbox).await?;
    browser
        .wait_for_text("tr.message", &format!("Order #{id}"))
        .await?;
    browser.screenshot("inbox").await?;
    browser.click("tr.message a").await?;
    browser.wait_for_text("#subject", &format!("#{id}")).await?;
    browser.screenshot("inbox-message").await?;
    Ok(())
}
