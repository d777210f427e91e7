//! The admin console: an admin creates a product and sets its stock in the
//! console, a customer buys it in the shop, the admin moves the order to
//! shipped, and the customer's timeline shows it with a toast. A customer sees no admin
//! navigation, and every admin call answers them 403.

use anyhow::{Context, Result, ensure};
use shop_browser_tests::{
    Browser, conclude, start_platform,
    storefront::{self, PASSWORD},
};
use shop_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, Shop, TestStack};

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn an_admin_stocks_a_product_and_ships_its_order() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let admin = Browser::launch().await?;
    let customer = Browser::launch().await?;
    let outcome = run_the_shop(&platform, &admin, &customer).await;
    conclude("admin-console", outcome, vec![admin, customer], platform).await
}

async fn run_the_shop(t: &TestStack, admin: &Browser, customer: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    storefront::sign_in(admin, &web, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    admin.click(r#"[data-testid="admin-link"]"#).await?;
    admin
        .wait_for(r#"[data-testid="admin-new-product"]"#)
        .await?;

    // A new product, created in the console with no stock, then stocked.
    admin.fill("#admin-new-name", "Walnut Desk").await?;
    admin.fill("#admin-new-sku", "desk-walnut").await?;
    admin.fill("#admin-new-price", "349.00").await?;
    admin.fill("#admin-new-stock", "0").await?;
    admin.fill("#admin-new-category", "Furniture").await?;
    admin.click(r#"[data-testid="admin-create"]"#).await?;
    admin
        .wait_for_text(r#"[data-testid="admin-outcome"]"#, "Created Walnut Desk")
        .await?;
    let row = admin
        .wait_for(r#"[data-testid="admin-product-row"]"#)
        .await?;
    let id: i64 = row
        .attr("data-product-id")
        .await?
        .context("a product id")?
        .parse()?;
    let stock_input = format!(r#"[data-product-id="{id}"] [data-testid="admin-stock-input"]"#);
    admin.fill(&stock_input, "3").await?;
    admin
        .click(&format!(
            r#"[data-product-id="{id}"] [data-testid="admin-stock-save"]"#
        ))
        .await?;
    admin
        .wait_for_text(r#"[data-testid="admin-outcome"]"#, "is now 3")
        .await?;
    ensure!(
        storefront::stock_of(t, id).await? == 3,
        "the stock is set in the products service"
    );
    // A delivery of two more, added in one step; and a new price.
    admin
        .fill(
            &format!(r#"[data-product-id="{id}"] [data-testid="admin-adjust-input"]"#),
            "2",
        )
        .await?;
    admin
        .click(&format!(
            r#"[data-product-id="{id}"] [data-testid="admin-adjust-save"]"#
        ))
        .await?;
    admin
        .wait_for_text(r#"[data-testid="admin-outcome"]"#, "is now 5")
        .await?;
    admin
        .fill(
            &format!(r#"[data-product-id="{id}"] [data-testid="admin-price-input"]"#),
            "329.00",
        )
        .await?;
    admin
        .click(&format!(
            r#"[data-product-id="{id}"] [data-testid="admin-product-save"]"#
        ))
        .await?;
    admin
        .wait_for_text(r#"[data-testid="admin-outcome"]"#, "$329.00")
        .await?;
    ensure!(
        storefront::stock_of(t, id).await? == 5,
        "the adjustment reached the products service"
    );
    admin.screenshot("admin-products").await?;

    // A customer buys it in the shop, and watches their orders.
    t.sign_up("carla@example.com", "carla").await;
    storefront::sign_in(customer, &web, "carla@example.com", PASSWORD).await?;
    storefront::wait_live(customer).await?;
    customer.open(&format!("{web}/")).await?;
    storefront::add_from_grid(customer, id).await?;
    customer.open(&format!("{web}/checkout")).await?;
    customer
        .wait_for_text(r#"[data-testid="checkout-total"]"#, "$329.00")
        .await?;
    customer.click(r#"[data-testid="place-order"]"#).await?;
    let placed = customer.wait_for(r#"[data-testid="order-placed"]"#).await?;
    let order_id: i64 = placed
        .attr("data-order-id")
        .await?
        .context("the placed order's id")?
        .parse()?;
    customer
        .wait_for(&format!(
            r#"[data-order-id="{order_id}"] [data-step="confirmed"]"#
        ))
        .await?;
    ensure!(
        storefront::stock_of(t, id).await? == 4,
        "the order took one of the five units"
    );

    // The admin ships it from the orders section.
    admin.click(r#"[data-testid="admin-tab-orders"]"#).await?;
    admin
        .click(r#"[data-testid="admin-filter-confirmed"]"#)
        .await?;
    let ship = format!(
        r#"[data-testid="admin-order"][data-order-id="{order_id}"] [data-testid="admin-move"][data-to="shipped"]"#
    );
    admin.wait_for(&ship).await?;
    admin.click(&ship).await?;
    admin
        .wait_for_text(
            r#"[data-testid="admin-outcome"]"#,
            &format!("Order #{order_id} is now shipped"),
        )
        .await?;
    admin
        .click(r#"[data-testid="admin-filter-shipped"]"#)
        .await?;
    admin
        .wait_for(&format!(
            r#"[data-testid="admin-order"][data-order-id="{order_id}"][data-status="shipped"]"#
        ))
        .await?;
    admin.screenshot("admin-orders").await?;

    // The customer gets the toast and the new step, without a reload.
    customer
        .wait_for(&format!(
            r#"[data-testid="toast"][data-order-id="{order_id}"]"#
        ))
        .await?;
    customer
        .wait_for(&format!(
            r#"[data-order-id="{order_id}"] [data-step="shipped"]"#
        ))
        .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn a_customer_sees_no_admin_console_and_every_admin_call_is_403() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = refused(&platform, &browser).await;
    conclude("admin-refused", outcome, vec![browser], platform).await
}

async fn refused(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let token = t.sign_up("nosy@example.com", "nosy").await;
    storefront::sign_in(browser, &web, "nosy@example.com", PASSWORD).await?;
    ensure!(
        browser.count(r#"[data-testid="admin-link"]"#).await? == 0,
        "a customer's header shows no admin link"
    );
    browser.open(&format!("{web}/admin")).await?;
    browser
        .wait_for(r#"[data-testid="admin-forbidden"]"#)
        .await?;

    let gw = t.gateway();
    let product =
        serde_json::json!({"name": "Nope", "price": "1.00", "stock_quantity": 1, "sku": "NOPE-1"});
    let calls: Vec<(&str, String, Option<serde_json::Value>)> = vec![
        ("POST", "/products".into(), Some(product.clone())),
        ("PUT", "/products/1".into(), Some(product)),
        (
            "PATCH",
            "/products/1".into(),
            Some(serde_json::json!({"is_active": false})),
        ),
        ("DELETE", "/products/1".into(), None),
        (
            "PATCH",
            "/products/1/stock".into(),
            Some(serde_json::json!({"stock_quantity": 9})),
        ),
        (
            "POST",
            "/products/1/stock/adjust".into(),
            Some(serde_json::json!({"delta": 1})),
        ),
        ("GET", "/products/reservations".into(), None),
        ("GET", "/orders?all=true".into(), None),
        (
            "PATCH",
            "/orders/1/status".into(),
            Some(serde_json::json!({"status": "shipped"})),
        ),
        ("GET", "/orders/outbox".into(), None),
        ("POST", "/orders/outbox/1/requeue".into(), None),
        ("GET", "/notifications?recipient=a@example.com".into(), None),
        ("POST", "/notifications/retry/1".into(), None),
        ("GET", "/users".into(), None),
        ("POST", "/users/1/deactivate".into(), None),
        ("POST", "/users/1/reactivate".into(), None),
    ];
    for (method, path, body) in calls {
        let mut req = t
            .client()
            .request(method.parse()?, format!("{gw}{path}"))
            .bearer_auth(&token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let status = req.send().await?.status().as_u16();
        ensure!(status == 403, "{method} {path}: {status}, not 403");
    }
    // Each service refuses on its own too, whatever the gateway does.
    let direct: Vec<(&str, &str, String)> = vec![
        ("products", "POST", "/products/1/stock/adjust".into()),
        ("products", "DELETE", "/products/1".into()),
        ("orders", "GET", "/orders/outbox".into()),
        ("orders", "PATCH", "/orders/1/status".into()),
        ("notifications", "POST", "/notifications/retry/1".into()),
        ("users", "GET", "/users".into()),
        ("users", "POST", "/users/1/deactivate".into()),
    ];
    for (service, method, path) in direct {
        let url = t.stack.url(service).context("a service")?;
        let mut req = t
            .client()
            .request(method.parse()?, format!("{url}{path}"))
            .bearer_auth(&token);
        // The role is checked before the body is read.
        if matches!(method, "POST" | "PATCH") {
            req = req.json(&serde_json::json!({}));
        }
        let status = req.send().await?.status().as_u16();
        ensure!(
            status == 403,
            "{service} {method} {path}: {status}, not 403"
        );
    }
    Ok(())
}

/// The console is a bundle of its own (console.html). An admin signing in on
/// the way to it (`/login?next=/admin/products`) is taken there by the
/// storefront's app, which hands the address over to the console's page.
#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn signing_in_on_the_way_to_the_console_lands_in_it() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let admin = Browser::launch().await?;
    let outcome = async {
        let web = platform.stack.url("web").context("web front runs")?;
        admin
            .open(&format!("{web}/login?next=/admin/products"))
            .await?;
        storefront::sign_in_here(&admin, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
        admin
            .wait_for(r#"[data-testid="admin-new-product"]"#)
            .await?;
        let url = admin.client.current_url().await?;
        ensure!(url.path() == "/admin/products", "landed on {url}");
        Ok(())
    }
    .await;
    conclude("admin-handover", outcome, vec![admin], platform).await
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn an_admin_gives_a_product_a_picture_that_the_shop_shows() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let admin = Browser::launch().await?;
    let outcome = picture(&platform, &admin).await;
    conclude("admin-picture", outcome, vec![admin], platform).await
}

async fn picture(t: &TestStack, admin: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let token = t.admin_token().await;
    let id = storefront::create_product(
        t,
        &token,
        &storefront::NewProduct {
            sku: "LAMP-PIC",
            name: "Reading Lamp",
            category: "Home",
            price: "39.00",
            stock: 4,
        },
    )
    .await?;
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../services/products/demo-images/HM-LAMP-LED.webp")
        .canonicalize()?;

    storefront::sign_in(admin, &web, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    admin.open(&format!("{web}/admin/products")).await?;
    let input = admin
        .wait_for(&format!(
            r#"[data-product-id="{id}"] [data-testid="admin-picture-input"]"#
        ))
        .await?;
    input
        .send_keys(file.to_str().context("a UTF-8 path")?)
        .await
        .context("choosing the file")?;
    admin
        .wait_for_text(
            r#"[data-testid="admin-outcome"]"#,
            "The picture of Reading Lamp is set",
        )
        .await?;
    let (status, product) = t.get_json(&format!("{}/products/{id}", t.gateway())).await;
    ensure!(status == 200, "the product reads: {status}");
    let url = product["image"]["url"]
        .as_str()
        .context("the product has a picture")?
        .to_owned();

    // The shop shows it, at its size, from the product's own address.
    admin.open(&format!("{web}/products/{id}")).await?;
    let shown = admin
        .wait_until("the picture has loaded", || async {
            let size = admin
                .eval(
                    "const i = document.querySelector('[data-testid=\"product-detail\"] img'); \
                     return i && i.complete ? [i.naturalWidth, i.getAttribute('src'), i.getAttribute('width')] : null;",
                )
                .await?;
            Ok((!size.is_null()).then_some(size))
        })
        .await?;
    ensure!(
        shown == serde_json::json!([640, format!("/api{url}"), "640"]),
        "shown: {shown}"
    );
    let title = admin.eval("return document.title").await?;
    ensure!(title == "Reading Lamp · Shop", "the tab names it: {title}");

    // What a crawler that runs the page reads: schema.org data with the
    // price and availability, the canonical address and a preview card.
    let head = admin
        .eval(
            "return [document.querySelector('script[type=\"application/ld+json\"]')?.textContent, \
                     document.querySelector('link[rel=canonical]')?.href, \
                     document.querySelector('meta[property=\"og:image\"]')?.content];",
        )
        .await?;
    let data: serde_json::Value =
        serde_json::from_str(head[0].as_str().context("JSON-LD on the page")?)?;
    let page = format!("{web}/products/{id}");
    ensure!(
        data["@type"] == "Product"
            && data["name"] == "Reading Lamp"
            && data["offers"]["price"] == "39.00"
            && data["offers"]["priceCurrency"] == "USD"
            && data["offers"]["availability"] == "https://schema.org/InStock"
            && data["image"] == format!("{web}/api{url}"),
        "JSON-LD: {data}"
    );
    ensure!(head[1] == page.as_str(), "canonical: {}", head[1]);
    ensure!(
        head[2] == format!("{web}/api{url}").as_str(),
        "og:image: {}",
        head[2]
    );
    // Leaving the page takes the product's tags with it, and the
    // catalogue's own stay: the product's page is cleaned up only after the
    // catalogue has rendered.
    admin.click(r#"a[href="/"]"#).await?;
    storefront::wait_for_grid(admin, &[id]).await?;
    let left = admin
        .wait_until("the product's data is gone", || async {
            let left = admin
                .eval(
                    "return [document.querySelectorAll('script[type=\"application/ld+json\"]').length, \
                             document.querySelector('link[rel=canonical]')?.href ?? null];",
                )
                .await?;
            Ok((left[0] == 0).then_some(left))
        })
        .await?;
    ensure!(
        left[1] == format!("{web}/").as_str(),
        "the catalogue's canonical address: {left}"
    );
    Ok(())
}
