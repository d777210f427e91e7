//! The signed-in state and the cart across reloads, and where the session
//! lives: in an httpOnly cookie that page scripts cannot read.

use anyhow::{Context, Result, ensure};
use shop_browser_tests::{
    Browser, conclude, start_platform,
    storefront::{self, NewProduct, PASSWORD},
};
use shop_testkit::{Shop, TestStack};

async fn a_product(t: &TestStack) -> Result<i64> {
    let admin = t.admin_token().await;
    storefront::create_product(
        t,
        &admin,
        &NewProduct {
            sku: "SCARF",
            name: "Wool scarf",
            category: "Clothing",
            price: "19.90",
            stock: 7,
        },
    )
    .await
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn a_reload_keeps_the_cart_and_the_signed_in_state() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = reload_keeps(&platform, &browser).await;
    conclude("reload", outcome, vec![browser], platform).await
}

async fn reload_keeps(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let scarf = a_product(t).await?;
    t.sign_up("dee@example.com", "dee").await;
    storefront::sign_in(browser, &web, "dee@example.com", PASSWORD).await?;
    browser.open(&format!("{web}/")).await?;
    storefront::add_from_grid(browser, scarf).await?;
    storefront::add_from_grid(browser, scarf).await?;

    browser.client.refresh().await?;
    browser
        .wait_for_text(r#"[data-testid="account-name"]"#, "dee")
        .await?;
    browser
        .wait_until("the cart badge reads 2", || async {
            Ok((storefront::cart_count(browser).await? == 2).then_some(()))
        })
        .await?;
    browser.open(&format!("{web}/cart")).await?;
    let line = storefront::cart_line(scarf);
    browser
        .wait_for_text(
            &format!(r#"{line} [data-testid="line-subtotal"]"#),
            "$39.80",
        )
        .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn the_session_token_is_never_readable_by_page_scripts() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = token_hidden(&platform, &browser).await;
    conclude("token-hidden", outcome, vec![browser], platform).await
}

async fn token_hidden(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let scarf = a_product(t).await?;
    t.sign_up("eve@example.com", "eve").await;
    storefront::sign_in(browser, &web, "eve@example.com", PASSWORD).await?;
    browser.open(&format!("{web}/")).await?;
    storefront::add_from_grid(browser, scarf).await?;

    let cookies = browser.eval("return document.cookie").await?;
    ensure!(
        !cookies
            .as_str()
            .unwrap_or_default()
            .contains("shop_session"),
        "the session cookie is hidden from scripts: {cookies}"
    );
    // Every value in both storages; a JWT starts with "eyJ" (`{"` in base64).
    let stored = browser
        .eval(
            "const all = []; for (const s of [localStorage, sessionStorage]) \
             for (let i = 0; i < s.length; i++) all.push(s.key(i) + '=' + s.getItem(s.key(i))); \
             return all;",
        )
        .await?;
    let stored: Vec<String> = serde_json::from_value(stored)?;
    ensure!(
        !stored.is_empty(),
        "the cart is stored, so storage was read"
    );
    for entry in &stored {
        ensure!(
            !entry.contains("eyJ") && !entry.to_lowercase().contains("token"),
            "no token in web storage: {entry}"
        );
    }
    // The cart holds ids and quantities only: prices are always re-read.
    ensure!(
        stored
            .iter()
            .all(|e| !e.contains("19.90") && !e.contains("price")),
        "no prices in web storage: {stored:?}"
    );
    // And yet the session works: the cookie does it.
    let me = browser
        .eval("return fetch('/api/users/me').then(r => r.status)")
        .await?;
    ensure!(me == 200, "signed in through the cookie: {me}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn an_anonymous_visit_makes_no_failing_request() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = quiet_visit(&platform, &browser).await;
    conclude("quiet-visit", outcome, vec![browser], platform).await
}

/// Every request the page made that failed: its address and status, from the
/// resource timings (a status of 0 is a request that got no answer).
async fn failed_requests(browser: &Browser) -> Result<Vec<(String, u64)>> {
    let entries = browser
        .eval(
            "return performance.getEntriesByType('resource') \
             .filter(e => e.initiatorType === 'fetch' || e.initiatorType === 'xmlhttprequest') \
             .map(e => [e.name, e.responseStatus]);",
        )
        .await?;
    let entries: Vec<(String, u64)> = serde_json::from_value(entries)?;
    Ok(entries
        .into_iter()
        .filter(|(_, status)| *status == 0 || *status >= 400)
        .collect())
}

async fn quiet_visit(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let scarf = a_product(t).await?;
    for page in ["/".to_owned(), format!("/products/{scarf}"), "/cart".into()] {
        browser.open(&format!("{web}{page}")).await?;
        browser
            .wait_for(r#"[data-testid="sign-in-link"]"#)
            .await
            .with_context(|| format!("{page} shows the visitor as signed out"))?;
        let failed = failed_requests(browser).await?;
        ensure!(failed.is_empty(), "{page}: failing requests {failed:?}");
        let errors: Vec<_> = browser
            .console()
            .await?
            .into_iter()
            .filter(|(level, _)| level == "SEVERE")
            .collect();
        ensure!(errors.is_empty(), "{page}: console errors {errors:?}");
    }

    // An unknown address or product still loads the app, which says so and
    // tells crawlers that run it not to index the page.
    for (page, shown) in [
        ("/no-such-page".to_owned(), r#"[data-testid="not-found"]"#),
        (
            format!("/products/{}", scarf + 1000),
            r#"[data-testid="product-missing"]"#,
        ),
    ] {
        browser.open(&format!("{web}{page}")).await?;
        browser.wait_for(shown).await?;
        let robots = browser
            .eval("return document.querySelector('meta[name=robots]')?.content ?? null")
            .await?;
        ensure!(robots == "noindex", "{page}: robots {robots}");
    }
    browser.open(&format!("{web}/products/{scarf}")).await?;
    browser
        .wait_for(r#"[data-testid="product-detail"]"#)
        .await?;
    let robots = browser
        .eval("return document.querySelector('meta[name=robots]')?.content ?? null")
        .await?;
    ensure!(
        robots.is_null(),
        "a product's page may be indexed: {robots}"
    );

    // Signed in, the hint is there and a reload still knows the visitor.
    t.sign_up("fay@example.com", "fay").await;
    storefront::sign_in(browser, &web, "fay@example.com", PASSWORD).await?;
    browser.client.refresh().await?;
    browser
        .wait_for_text(r#"[data-testid="account-name"]"#, "fay")
        .await?;
    Ok(())
}
