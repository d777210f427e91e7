//! Live toasts: each tab's socket, signed in by the session cookie, gets the
//! notifications about its own user's orders and no one else's.

use anyhow::{Context, Result, ensure};
use shop_browser_tests::{
    Browser, conclude, start_platform, start_platform_on_infra,
    storefront::{self, NewProduct, PASSWORD},
};
use shop_testkit::{Shop, TestStack};
use std::time::Duration;

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn a_toast_reaches_only_the_shopper_whose_order_it_is() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let ann = Browser::launch().await?;
    let bob = Browser::launch().await?;
    let outcome = only_the_owner(&platform, &ann, &bob).await;
    conclude("toast-owner", outcome, vec![ann, bob], platform).await
}

async fn only_the_owner(t: &TestStack, ann: &Browser, bob: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let admin = t.admin_token().await;
    let mug = storefront::create_product(
        t,
        &admin,
        &NewProduct {
            sku: "MUG",
            name: "Mug",
            category: "Kitchen",
            price: "8.00",
            stock: 10,
        },
    )
    .await?;
    let ann_token = t.sign_up("ann@example.com", "ann").await;
    let bob_token = t.sign_up("bob@example.com", "bob").await;
    storefront::sign_in(ann, &web, "ann@example.com", PASSWORD).await?;
    storefront::sign_in(bob, &web, "bob@example.com", PASSWORD).await?;
    storefront::wait_live(ann).await?;
    storefront::wait_live(bob).await?;

    let (status, order) = t.order(&ann_token, &[(mug, 1)]).await;
    ensure!(status == 201, "Ann's order: {status} {order}");
    let ann_order = order["id"].as_i64().context("order id")?;
    ann.wait_for_text(
        &format!(r#"[data-testid="toast"][data-order-id="{ann_order}"]"#),
        &format!("Order #{ann_order}"),
    )
    .await?;
    // Ann's toast has arrived; one sent to Bob would have arrived with it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    ensure!(
        bob.count(r#"[data-testid="toast"]"#).await? == 0,
        "Bob sees no toast about Ann's order"
    );

    // Bob's socket does deliver: his own order shows up.
    let (status, order) = t.order(&bob_token, &[(mug, 2)]).await;
    ensure!(status == 201, "Bob's order: {status} {order}");
    let bob_order = order["id"].as_i64().context("order id")?;
    bob.wait_for(&format!(
        r#"[data-testid="toast"][data-order-id="{bob_order}"]"#
    ))
    .await?;
    ensure!(
        bob.count(r#"[data-testid="toast"]"#).await? == 1,
        "Bob sees exactly his own toast"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn signing_out_closes_the_live_connection() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = sign_out_closes(&platform, &browser).await;
    conclude("sign-out-live", outcome, vec![browser], platform).await
}

async fn sign_out_closes(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    t.sign_up("cyd@example.com", "cyd").await;
    storefront::sign_in(browser, &web, "cyd@example.com", PASSWORD).await?;
    storefront::wait_live(browser).await?;

    browser.click(r#"[data-testid="sign-out"]"#).await?;
    shows_signed_out(browser).await
}

/// The tab shows the signed-out shop, its live connection stays off, and
/// the browser's own session is gone too.
async fn shows_signed_out(browser: &Browser) -> Result<()> {
    browser.wait_for(r#"[data-testid="sign-in-link"]"#).await?;
    browser
        .wait_for(r#"[data-testid="toast-region"][data-live="off"]"#)
        .await?;
    let me = browser
        .eval("return fetch('/api/users/me').then(r => r.status)")
        .await?;
    ensure!(
        me == 401,
        "the session cookie was cleared: /users/me answered {me}"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn a_deactivation_elsewhere_signs_the_tab_out() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = deactivation_signs_out(&platform, &browser).await;
    conclude("deactivated-live", outcome, vec![browser], platform).await
}

/// The socket is closed with 1008 when an admin deactivates the account;
/// the tab then shows the signed-out shop and stays off, rather than
/// reconnecting in a loop.
async fn deactivation_signs_out(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let token = t.sign_up("eve@example.com", "eve").await;
    let (_, me) = t.get_as(&token, "/users/me").await;
    let id = me["id"].as_i64().context("a user id")?;
    storefront::sign_in(browser, &web, "eve@example.com", PASSWORD).await?;
    storefront::wait_live(browser).await?;

    let admin = t.admin_token().await;
    let deactivated = t
        .client()
        .post(format!("{}/users/{id}/deactivate", t.gateway()))
        .bearer_auth(&admin)
        .send()
        .await?;
    ensure!(
        deactivated.status() == 200,
        "deactivated: {}",
        deactivated.status()
    );

    shows_signed_out(browser).await
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn the_live_connection_comes_back_after_a_drop() -> Result<()> {
    let mut platform = start_platform_on_infra(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = reconnects(&mut platform, &browser).await;
    conclude("reconnect", outcome, vec![browser], platform).await
}

async fn reconnects(t: &mut TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let admin = t.admin_token().await;
    let lamp = storefront::create_product(
        t,
        &admin,
        &NewProduct {
            sku: "LAMP",
            name: "Lamp",
            category: "Home",
            price: "9.00",
            stock: 5,
        },
    )
    .await?;
    let token = t.sign_up("dee@example.com", "dee").await;
    storefront::sign_in(browser, &web, "dee@example.com", PASSWORD).await?;
    storefront::wait_live(browser).await?;

    let port = t
        .stack
        .url("notifications")
        .and_then(|u| u.rsplit(':').next()?.parse().ok())
        .context("notifications runs")?;
    t.stack.stop("notifications").await?;
    browser
        .wait_for(r#"[data-testid="toast-region"][data-live="connecting"]"#)
        .await?;
    t.restart_notifications(port).await?;
    storefront::wait_live(browser).await?;

    // The new socket delivers.
    let (status, order) = t.order(&token, &[(lamp, 1)]).await;
    ensure!(status == 201, "order: {status} {order}");
    browser
        .wait_for(&format!(
            r#"[data-testid="toast"][data-order-id="{}"]"#,
            order["id"]
        ))
        .await?;
    Ok(())
}
