//! Checkout refusals: what the shopper is told, and that the cart survives.

use anyhow::{Context, Result, ensure};
use shop_browser_tests::{
    Browser, conclude, start_platform,
    storefront::{self, NewProduct, PASSWORD},
};
use shop_testkit::{Shop, TestStack};

async fn lamp(t: &TestStack, stock: i32) -> Result<i64> {
    let admin = t.admin_token().await;
    storefront::create_product(
        t,
        &admin,
        &NewProduct {
            sku: "LAMP",
            name: "Desk lamp",
            category: "Home",
            price: "24.00",
            stock,
        },
    )
    .await
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn ordering_more_than_is_in_stock_explains_the_shortage_and_keeps_the_cart() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = more_than_in_stock(&platform, &browser).await;
    conclude("insufficient-stock", outcome, vec![browser], platform).await
}

async fn more_than_in_stock(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let lamp = lamp(t, 5).await?;
    let buyer = t.sign_up("buyer@example.com", "buyer").await;
    let rival = t.sign_up("rival@example.com", "rival").await;

    storefront::sign_in(browser, &web, "buyer@example.com", PASSWORD).await?;
    browser.open(&format!("{web}/products/{lamp}")).await?;
    for _ in 0..2 {
        browser.click(r#"button[aria-label^="One more"]"#).await?;
    }
    browser
        .wait_until("the quantity reads 3", || async {
            let value = browser
                .wait_for(r#"[data-testid="quantity"]"#)
                .await?
                .prop("value")
                .await?;
            Ok((value.as_deref() == Some("3")).then_some(()))
        })
        .await?;
    browser.click(r#"[data-testid="add-to-cart"]"#).await?;
    browser
        .wait_for_text(r#"[data-testid="in-cart"]"#, "3 in your cart")
        .await?;

    browser.open(&format!("{web}/checkout")).await?;
    browser
        .wait_for_text(r#"[data-testid="checkout-total"]"#, "$72.00")
        .await?;
    // Someone else buys most of the stock while the page is open.
    let (status, _) = t.order(&rival, &[(lamp, 4)]).await;
    ensure!(status == 201, "the rival's order is placed: {status}");

    browser.click(r#"[data-testid="place-order"]"#).await?;
    let message = browser
        .wait_for_text(
            r#"[data-testid="checkout-error"][data-kind="insufficient-stock"]"#,
            "Insufficient stock",
        )
        .await?;
    ensure!(
        message.contains("Desk lamp") && message.contains("available 1"),
        "the message names the product and what is left: {message}"
    );
    ensure!(
        message.contains("Your cart has been kept"),
        "the message says the cart is kept: {message}"
    );
    browser.screenshot("checkout-insufficient-stock").await?;

    // The cart is as it was, also after a reload.
    ensure!(
        storefront::cart_count(browser).await? == 3,
        "three lamps still in the cart"
    );
    browser.open(&format!("{web}/cart")).await?;
    let line = storefront::cart_line(lamp);
    let quantity = browser
        .wait_for(&format!(r#"{line} [data-testid="quantity"]"#))
        .await?
        .prop("value")
        .await?;
    ensure!(
        quantity.as_deref() == Some("3"),
        "cart quantity: {quantity:?}"
    );
    browser
        .wait_for_text(
            &format!(r#"{line} [data-testid="line-problem"]"#),
            "Only 1 left",
        )
        .await?;

    let listed: serde_json::Value = t
        .client
        .get(format!("{}/orders", t.gateway()))
        .bearer_auth(&buyer)
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        listed.as_array().is_some_and(Vec::is_empty),
        "the refused checkout left no order: {listed}"
    );
    ensure!(
        storefront::stock_of(t, lamp).await? == 1,
        "stock untouched by the refusal"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn a_signed_out_shopper_is_asked_to_sign_in_and_returns_to_checkout_with_the_cart()
-> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = signed_out_checkout(&platform, &browser).await;
    conclude("signed-out-checkout", outcome, vec![browser], platform).await
}

async fn signed_out_checkout(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let lamp = lamp(t, 5).await?;
    t.sign_up("guest@example.com", "guest").await;

    browser.open(&format!("{web}/")).await?;
    storefront::add_from_grid(browser, lamp).await?;
    browser.open(&format!("{web}/checkout")).await?;
    browser
        .wait_for_text(
            r#"[data-testid="checkout-signin"]"#,
            "Sign in to place your order",
        )
        .await?;
    ensure!(
        browser.count(r#"[data-testid="place-order"]"#).await? == 0,
        "no order button for a guest"
    );

    browser
        .click(r#"[data-testid="checkout-signin"] a[href="/login?next=/checkout"]"#)
        .await?;
    storefront::sign_in_here(browser, "guest@example.com", PASSWORD).await?;
    browser
        .wait_until("the shopper is back at checkout", || async {
            Ok((browser.client.current_url().await?.path() == "/checkout").then_some(()))
        })
        .await?;
    let button = browser.wait_for(r#"[data-testid="place-order"]"#).await?;
    ensure!(button.is_enabled().await?, "the order can now be placed");
    browser
        .wait_for_text(r#"[data-testid="checkout-total"]"#, "$24.00")
        .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn a_double_click_on_place_order_places_one_order() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = double_click(&platform, &browser).await;
    conclude("double-click", outcome, vec![browser], platform).await
}

async fn double_click(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let lamp = lamp(t, 5).await?;
    let token = t.sign_up("quick@example.com", "quick").await;
    storefront::sign_in(browser, &web, "quick@example.com", PASSWORD).await?;
    browser.open(&format!("{web}/")).await?;
    storefront::add_from_grid(browser, lamp).await?;
    browser.open(&format!("{web}/checkout")).await?;
    browser
        .wait_for_text(r#"[data-testid="checkout-total"]"#, "$24.00")
        .await?;

    // Two clicks in the same task: faster than any person, and before the
    // page can re-render the button as disabled.
    browser
        .eval(
            "const b = document.querySelector('[data-testid=\"place-order\"]'); \
             b.click(); b.click(); return true;",
        )
        .await?;
    browser.wait_for(r#"[data-testid="order-placed"]"#).await?;

    let orders: serde_json::Value = t
        .client
        .get(format!("{}/orders", t.gateway()))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let count = orders.as_array().map_or(0, Vec::len);
    ensure!(count == 1, "one order, found {count}: {orders}");
    ensure!(
        storefront::stock_of(t, lamp).await? == 4,
        "one lamp taken from stock"
    );
    Ok(())
}
