//! The whole shopping journey in one browser, on the real stand-ins: the
//! order's event travels through SNS/SQS (moto) and its email through SMTP
//! (maildev).

use anyhow::{Context, Result, ensure};
use fantoccini::{Locator, key::Key};
use shop_browser_tests::{
    Browser, conclude, start_platform_on_infra,
    storefront::{self, NewProduct, PASSWORD},
};
use shop_testkit::{Shop, TestStack, emails_to, eventually, unique_tag};
use std::time::Duration;

#[tokio::test]
#[ignore = "needs Chromium, moto, maildev and the built web app: run by `cargo xtask test`"]
async fn a_new_shopper_orders_two_products_and_gets_a_toast_the_history_and_an_email() -> Result<()>
{
    let platform = start_platform_on_infra(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = journey(&platform, &browser).await;
    conclude("journey", outcome, vec![browser], platform).await
}

struct Catalogue {
    beans: i64,
    grinder: i64,
    kettle: i64,
}

async fn stock_the_shop(t: &TestStack) -> Result<Catalogue> {
    let admin = t.admin_token().await;
    let product = |sku, name, category, price, stock| NewProduct {
        sku,
        name,
        category,
        price,
        stock,
    };
    let beans = storefront::create_product(
        t,
        &admin,
        &product("BEANS", "Coffee beans", "Kitchen", "12.50", 10),
    )
    .await?;
    let grinder = storefront::create_product(
        t,
        &admin,
        &product("GRINDER", "Coffee grinder", "Kitchen", "45.99", 4),
    )
    .await?;
    let kettle = storefront::create_product(
        t,
        &admin,
        &product("KETTLE", "Tea kettle", "Kitchen", "30.00", 6),
    )
    .await?;
    // Matches the search but not the category.
    storefront::create_product(
        t,
        &admin,
        &product("PLANT", "Coffee plant", "Garden", "15.00", 5),
    )
    .await?;
    Ok(Catalogue {
        beans,
        grinder,
        kettle,
    })
}

async fn journey(t: &TestStack, browser: &Browser) -> Result<()> {
    let shop = stock_the_shop(t).await?;
    let web = t.stack.url("web").context("web front runs")?;
    let tag = unique_tag();
    // maildev outlives the test: a fresh address sees only this run's mail.
    let email = format!("ada-{tag}@example.com");
    let username = format!("ada_{tag}");

    browser.open(&format!("{web}/")).await?;
    storefront::register(browser, &web, &email, &username, PASSWORD).await?;
    storefront::sign_in_here(browser, &email, PASSWORD).await?;
    storefront::wait_live(browser).await?;

    // Filter by category, then search by name with the keyboard.
    browser
        .wait_for(r#"[data-testid="category-filter"] option[value="Kitchen"]"#)
        .await?;
    browser
        .wait_for(r#"[data-testid="category-filter"]"#)
        .await?
        .select_by_value("Kitchen")
        .await?;
    storefront::wait_for_grid(browser, &[shop.beans, shop.grinder, shop.kettle]).await?;
    let search = browser.wait_for(r#"[data-testid="search-input"]"#).await?;
    search
        .send_keys(&format!("coffee{}", char::from(Key::Enter)))
        .await?;
    storefront::wait_for_grid(browser, &[shop.beans, shop.grinder]).await?;
    let url = browser.client.current_url().await?;
    ensure!(
        url.query() == Some("category=Kitchen&q=coffee"),
        "the filters are in the address: {url}"
    );
    browser.screenshot("products").await?;
    browser.phone_screenshot("products-phone").await?;

    storefront::add_from_grid(browser, shop.beans).await?;
    storefront::add_from_grid(browser, shop.grinder).await?;
    ensure!(
        storefront::cart_count(browser).await? == 2,
        "two units in the cart"
    );

    // Two bags of beans: 2 × 12.50 + 45.99.
    browser.click(r#"a[href="/cart"]"#).await?;
    let beans_line = storefront::cart_line(shop.beans);
    browser
        .click(&format!(r#"{beans_line} button[aria-label^="One more"]"#))
        .await?;
    browser
        .wait_for_text(r#"[data-testid="cart-total"]"#, "$70.99")
        .await?;
    browser.screenshot("cart").await?;
    browser.phone_screenshot("cart-phone").await?;

    browser.click(r#"[data-testid="checkout-link"]"#).await?;
    browser
        .wait_for_text(r#"[data-testid="checkout-total"]"#, "$70.99")
        .await?;
    browser.click(r#"[data-testid="place-order"]"#).await?;
    let banner = browser.wait_for(r#"[data-testid="order-placed"]"#).await?;
    let order_id: i64 = banner
        .attr("data-order-id")
        .await?
        .context("the placed order's id")?
        .parse()?;

    // The live toast, pushed to this tab over the socket.
    let toast = format!(r#"[data-testid="toast"][data-order-id="{order_id}"]"#);
    browser
        .wait_for_text(&toast, &format!("Order #{order_id}"))
        .await?;
    ensure!(
        storefront::cart_count(browser).await? == 0,
        "the cart is emptied"
    );

    // The history, with the lines frozen at order time.
    let order = format!(r#"[data-testid="order"][data-order-id="{order_id}"]"#);
    browser.wait_for(&order).await?;
    let lines = browser
        .client
        .find_all(Locator::Css(&format!(
            r#"{order} [data-testid="order-line"]"#
        )))
        .await?;
    ensure!(lines.len() == 2, "two order lines, found {}", lines.len());
    let beans_row = browser
        .text(&format!(
            r#"{order} [data-testid="order-line"][data-product-id="{}"]"#,
            shop.beans
        ))
        .await?;
    ensure!(
        beans_row.contains("Coffee beans")
            && beans_row.contains("$12.50")
            && beans_row.contains("$25.00"),
        "beans line: {beans_row}"
    );
    let grinder_row = browser
        .text(&format!(
            r#"{order} [data-testid="order-line"][data-product-id="{}"]"#,
            shop.grinder
        ))
        .await?;
    ensure!(
        grinder_row.contains("Coffee grinder") && grinder_row.contains("$45.99"),
        "grinder line: {grinder_row}"
    );
    let total = browser
        .text(&format!(r#"{order} [data-testid="order-total"]"#))
        .await?;
    ensure!(total == "$70.99", "order total: {total}");
    browser.screenshot("orders").await?;
    browser.phone_screenshot("orders-phone").await?;

    let subject = format!("Order #{order_id}");
    let mail = eventually(Duration::from_secs(20), || async {
        emails_to(&email)
            .await
            .into_iter()
            .find(|m| m["subject"].as_str().is_some_and(|s| s.contains(&subject)))
    })
    .await
    .context("the confirmation email reaches maildev")?;
    let text = mail["text"].as_str().unwrap_or_default();
    ensure!(
        text.contains("Coffee beans") && text.contains("70.99"),
        "the email lists the order: {text}"
    );
    Ok(())
}
