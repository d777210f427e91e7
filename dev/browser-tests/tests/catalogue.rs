//! The catalogue page: stock rules, sorting and pages, and how quickly it
//! becomes usable.

use anyhow::{Context, Result, ensure};
use fantoccini::key::Key;
use shop_browser_tests::{
    Browser, artifacts_dir, conclude, start_platform,
    storefront::{self, NewProduct},
};
use shop_testkit::{Shop, TestStack};

/// Generous for a page that becomes usable in about 0.3 s here: the test
/// machines are small and shared, and this guards against regressions of
/// seconds, not milliseconds.
const FIRST_VISIT_BUDGET_MS: f64 = 2_000.0;

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn a_sold_out_product_cannot_be_added_to_the_cart() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = sold_out(&platform, &browser).await;
    conclude("sold-out", outcome, vec![browser], platform).await
}

async fn sold_out(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let admin = t.admin_token().await;
    let gone = storefront::create_product(
        t,
        &admin,
        &NewProduct {
            sku: "GONE",
            name: "Vintage radio",
            category: "Audio",
            price: "80.00",
            stock: 0,
        },
    )
    .await?;

    browser.open(&format!("{web}/")).await?;
    let card = storefront::card(gone);
    let stock = browser
        .text(&format!(r#"{card} [data-testid="stock"]"#))
        .await?;
    ensure!(stock == "Out of stock", "stock shown: {stock}");
    let button = browser
        .wait_for(&format!(r#"{card} [data-testid="add-to-cart"]"#))
        .await?;
    ensure!(!button.is_enabled().await?, "the add button is disabled");
    ensure!(
        button.text().await? == "Out of stock",
        "the button says why"
    );

    browser.open(&format!("{web}/products/{gone}")).await?;
    browser
        .wait_for_text(
            r#"[data-testid="product-detail"]"#,
            "This product is sold out.",
        )
        .await?;
    ensure!(
        browser.count(r#"[data-testid="add-to-cart"]"#).await? == 0,
        "the detail page offers no way to add it"
    );
    ensure!(
        storefront::cart_count(browser).await? == 0,
        "the cart stays empty"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn the_cart_never_holds_more_than_the_stock() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = capped(&platform, &browser).await;
    conclude("capped", outcome, vec![browser], platform).await
}

async fn capped(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let admin = t.admin_token().await;
    let last = storefront::create_product(
        t,
        &admin,
        &NewProduct {
            sku: "LAST",
            name: "Signed poster",
            category: "Art",
            price: "40.00",
            stock: 2,
        },
    )
    .await?;

    browser.open(&format!("{web}/")).await?;
    storefront::add_from_grid(browser, last).await?;
    storefront::add_from_grid(browser, last).await?;
    let card = storefront::card(last);
    let button = browser
        .wait_for(&format!(r#"{card} [data-testid="add-to-cart"]"#))
        .await?;
    ensure!(!button.is_enabled().await?, "no third poster can be added");

    browser.open(&format!("{web}/cart")).await?;
    let line = storefront::cart_line(last);
    let more = browser
        .wait_for(&format!(r#"{line} button[aria-label^="One more"]"#))
        .await?;
    ensure!(!more.is_enabled().await?, "the + button stops at the stock");
    // Typing a larger number is brought back to the stock.
    let quantity = format!(r#"{line} [data-testid="quantity"]"#);
    browser.fill(&quantity, "9\t").await?;
    browser
        .wait_until("the quantity is capped at 2", || async {
            let value = browser.wait_for(&quantity).await?.prop("value").await?;
            Ok((value.as_deref() == Some("2")).then_some(()))
        })
        .await?;
    browser
        .wait_for_text(r#"[data-testid="cart-total"]"#, "$80.00")
        .await?;
    ensure!(
        storefront::cart_count(browser).await? == 2,
        "two posters in the cart"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn products_sort_by_price_and_split_into_pages() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = sorted_pages(&platform, &browser).await;
    conclude("sort-pages", outcome, vec![browser], platform).await
}

async fn sorted_pages(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let admin = t.admin_token().await;
    // 14 products: one page of 12 and a second of 2. Prices fall as they
    // are created, so the default (newest first) shows the cheapest first
    // and "dearest first" must turn the order around.
    let mut by_price = Vec::new();
    for n in 0..14_i32 {
        let sku = format!("PEN{n:02}");
        let name = format!("Pen {n:02}");
        let price = format!("{}.00", 30 - n);
        let id = storefront::create_product(
            t,
            &admin,
            &NewProduct {
                sku: &sku,
                name: &name,
                category: "Office",
                price: &price,
                stock: 3,
            },
        )
        .await?;
        by_price.push((30 - n, id));
    }
    by_price.sort_unstable();
    let cheapest_first: Vec<i64> = by_price.iter().map(|(_, id)| *id).collect();

    browser.open(&format!("{web}/")).await?;
    browser
        .wait_for_text(r#"[data-testid="result-count"]"#, "14 products")
        .await?;
    browser
        .wait_for(r#"[data-testid="sort-select"]"#)
        .await?
        .select_by_value("-price")
        .await?;
    // Dearest first: the last created (cheapest) are on page 2.
    browser
        .wait_until("the grid is sorted dearest first", || async {
            let ids = storefront::grid_ids(browser).await?;
            let want: Vec<i64> = cheapest_first.iter().rev().take(12).copied().collect();
            Ok((ids == want).then_some(()))
        })
        .await?;
    browser.click(r#"[data-testid="page-next"]"#).await?;
    browser
        .wait_until("page 2 holds the two cheapest, dearer first", || async {
            let ids = storefront::grid_ids(browser).await?;
            Ok((ids == [cheapest_first[1], cheapest_first[0]]).then_some(()))
        })
        .await?;
    let url = browser.client.current_url().await?;
    ensure!(
        url.query() == Some("sort=-price&page=2"),
        "sort and page are in the address: {url}"
    );
    browser
        .wait_for_text(r#"[data-testid="pagination"]"#, "Page 2 of 2")
        .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn a_first_visit_makes_the_catalogue_usable_within_two_seconds() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = usable_quickly(&platform, &browser).await;
    conclude("first-visit", outcome, vec![browser], platform).await
}

async fn usable_quickly(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let admin = t.admin_token().await;
    for (sku, name) in [("CUP", "Cup"), ("PLATE", "Plate"), ("BOWL", "Bowl")] {
        storefront::create_product(
            t,
            &admin,
            &NewProduct {
                sku,
                name,
                category: "Kitchen",
                price: "5.00",
                stock: 9,
            },
        )
        .await?;
    }

    // A fresh browser profile: nothing cached, the wasm is fetched and
    // compiled as on a first visit.
    browser.open(&format!("{web}/")).await?;
    let first_visit_ms = storefront::products_interactive_ms(browser).await?;
    ensure!(
        storefront::grid_ids(browser).await?.len() == 3,
        "the grid is rendered when the page marks itself interactive"
    );
    ensure!(
        storefront::add_buttons_enabled(browser).await?,
        "its add buttons are enabled"
    );
    browser.client.refresh().await?;
    let reload_ms = storefront::products_interactive_ms(browser).await?;
    record_timings(first_visit_ms, reload_ms)?;
    ensure!(
        first_visit_ms < FIRST_VISIT_BUDGET_MS,
        "usable after {first_visit_ms:.0} ms, budget {FIRST_VISIT_BUDGET_MS} ms"
    );
    Ok(())
}

/// Written next to the screenshots so a reviewer sees the figures.
fn record_timings(first_visit_ms: f64, reload_ms: f64) -> Result<()> {
    println!(
        "products page usable {first_visit_ms:.0} ms after navigation start (first visit), \
         {reload_ms:.0} ms (reload)"
    );
    let dir = artifacts_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("products-interactive.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "mark": storefront::INTERACTIVE_MARK,
            "from": "navigation start",
            "first_visit_ms": first_visit_ms.round(),
            "reload_ms": reload_ms.round(),
        }))?,
    )?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn the_keyboard_alone_reaches_and_presses_add_to_cart_with_a_visible_focus_ring() -> Result<()>
{
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = keyboard_only(&platform, &browser).await;
    conclude("keyboard", outcome, vec![browser], platform).await
}

async fn keyboard_only(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    let admin = t.admin_token().await;
    let globe = storefront::create_product(
        t,
        &admin,
        &NewProduct {
            sku: "GLOBE",
            name: "Desk globe",
            category: "Office",
            price: "35.00",
            stock: 4,
        },
    )
    .await?;
    browser.open(&format!("{web}/")).await?;
    browser.wait_for(&storefront::card(globe)).await?;

    let tab = char::from(Key::Tab).to_string();
    let mut reached = false;
    // Header links, search, filters, then the card: well under 30 stops.
    for _ in 0..30 {
        browser
            .client
            .active_element()
            .await?
            .send_keys(&tab)
            .await?;
        let focused = browser
            .eval("return document.activeElement.dataset.testid || null")
            .await?;
        if focused == "add-to-cart" {
            reached = true;
            break;
        }
    }
    ensure!(reached, "Tab reaches the add button");
    let ring = browser
        .eval(
            "const s = getComputedStyle(document.activeElement); \
             return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;",
        )
        .await?;
    ensure!(ring == true, "the focused button shows a focus ring");

    browser
        .client
        .active_element()
        .await?
        .send_keys(&char::from(Key::Enter).to_string())
        .await?;
    browser
        .wait_until("Enter added the globe", || async {
            Ok((storefront::cart_count(browser).await? == 1).then_some(()))
        })
        .await?;
    Ok(())
}
