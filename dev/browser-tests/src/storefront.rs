//! The storefront as a shopper uses it: flows over the web app's stable
//! `data-testid` hooks, and catalogue set-up through the API.

use crate::Browser;
use anyhow::{Context, Result, bail};
use fantoccini::Locator;
use shop_testkit::{Shop, TestStack};

/// The password `TestStack::sign_up` gives every account.
pub const PASSWORD: &str = "correct-horse";

/// The User Timing mark the app sets when the catalogue first became usable.
pub const INTERACTIVE_MARK: &str = "shop:products-interactive";

pub struct NewProduct<'a> {
    pub sku: &'a str,
    pub name: &'a str,
    pub category: &'a str,
    pub price: &'a str,
    pub stock: i32,
}

/// Creates a product as admin through the gateway; returns its id.
pub async fn create_product(t: &TestStack, admin: &str, p: &NewProduct<'_>) -> Result<i64> {
    let response = t
        .client
        .post(format!("{}/products", t.gateway()))
        .bearer_auth(admin)
        .json(&serde_json::json!({
            "name": p.name,
            "description": format!("{} for the browser tests.", p.name),
            "price": p.price,
            "stock_quantity": p.stock,
            "sku": p.sku,
            "category": p.category,
        }))
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    if status != 201 {
        bail!("creating {}: {status} {body}", p.sku);
    }
    body["id"].as_i64().context("the new product's id")
}

/// A product's current stock, as the API reports it.
pub async fn stock_of(t: &TestStack, product_id: i64) -> Result<i64> {
    let (status, body) = t
        .get_json(&format!("{}/products/{product_id}", t.gateway()))
        .await;
    if status != 200 {
        bail!("product {product_id}: {status} {body}");
    }
    body["stock_quantity"].as_i64().context("stock_quantity")
}

pub fn card(product_id: i64) -> String {
    format!(r#"[data-testid="product-card"][data-product-id="{product_id}"]"#)
}

pub fn cart_line(product_id: i64) -> String {
    format!(r#"[data-testid="cart-line"][data-product-id="{product_id}"]"#)
}

pub async fn register(
    browser: &Browser,
    web: &str,
    email: &str,
    username: &str,
    password: &str,
) -> Result<()> {
    browser.open(&format!("{web}/register")).await?;
    browser.fill("#register-email", email).await?;
    browser.fill("#register-username", username).await?;
    browser.fill("#register-password", password).await?;
    browser.click(r#"[data-testid="register-submit"]"#).await?;
    browser
        .wait_until("the sign-in page follows registration", || async {
            let url = browser.client.current_url().await?;
            Ok((url.path() == "/login").then_some(()))
        })
        .await
}

/// Signs in through the login form and waits until the header shows the user.
pub async fn sign_in(browser: &Browser, web: &str, email: &str, password: &str) -> Result<()> {
    browser.open(&format!("{web}/login")).await?;
    sign_in_here(browser, email, password).await
}

/// Fills and submits the login form already on screen.
pub async fn sign_in_here(browser: &Browser, email: &str, password: &str) -> Result<()> {
    browser.fill("#login-email", email).await?;
    browser.fill("#login-password", password).await?;
    browser.click(r#"[data-testid="login-submit"]"#).await?;
    browser.wait_for(r#"[data-testid="account-name"]"#).await?;
    Ok(())
}

/// Waits until the tab's live socket is open.
pub async fn wait_live(browser: &Browser) -> Result<()> {
    browser
        .wait_for(r#"[data-testid="toast-region"][data-live="connected"]"#)
        .await
        .map(drop)
}

/// The number in the header's cart badge.
pub async fn cart_count(browser: &Browser) -> Result<i64> {
    let text = browser.text(r#"[data-testid="cart-count"]"#).await?;
    text.trim()
        .parse()
        .with_context(|| format!("cart count `{text}`"))
}

/// Clicks a product's "Add to cart" in the grid and waits until the cart has
/// one more unit of it.
pub async fn add_from_grid(browser: &Browser, product_id: i64) -> Result<()> {
    let card = card(product_id);
    let before = browser
        .text(&format!(r#"{card} [data-testid="in-cart"]"#))
        .await?;
    browser
        .click(&format!(r#"{card} [data-testid="add-to-cart"]"#))
        .await?;
    browser
        .wait_until("the card shows the added unit", || async {
            let now = browser
                .client
                .find(Locator::Css(&format!(r#"{card} [data-testid="in-cart"]"#)))
                .await?
                .text()
                .await?;
            Ok((now != before).then_some(()))
        })
        .await
}

/// The product ids of the cards in the grid, in order.
pub async fn grid_ids(browser: &Browser) -> Result<Vec<i64>> {
    let mut ids = Vec::new();
    for card in browser
        .client
        .find_all(Locator::Css(r#"[data-testid="product-card"]"#))
        .await?
    {
        let id = card.attr("data-product-id").await?.context("card id")?;
        ids.push(id.parse()?);
    }
    Ok(ids)
}

/// Waits until the grid shows exactly `expected` (in any order).
pub async fn wait_for_grid(browser: &Browser, expected: &[i64]) -> Result<()> {
    let mut want = expected.to_vec();
    want.sort_unstable();
    browser
        .wait_until(&format!("the grid shows exactly {want:?}"), || async {
            let mut ids = grid_ids(browser).await?;
            ids.sort_unstable();
            Ok((ids == want).then_some(()))
        })
        .await
}

/// Milliseconds from navigation start until the catalogue was usable (the
/// app's User Timing mark), once the mark exists.
pub async fn products_interactive_ms(browser: &Browser) -> Result<f64> {
    let script = format!(
        "const m = performance.getEntriesByName('{INTERACTIVE_MARK}')[0]; return m ? m.startTime : null;"
    );
    browser
        .wait_until("the catalogue marks itself interactive", || async {
            Ok(browser.eval(&script).await?.as_f64())
        })
        .await
}

/// Every add button in the grid is enabled (none of the products is sold out).
pub async fn add_buttons_enabled(browser: &Browser) -> Result<bool> {
    let buttons = browser
        .client
        .find_all(Locator::Css(r#"[data-testid="add-to-cart"]"#))
        .await?;
    if buttons.is_empty() {
        return Ok(false);
    }
    for button in buttons {
        if !button.is_enabled().await? {
            return Ok(false);
        }
    }
    Ok(true)
}
