//! The status dashboard, rendered by the wasm app from the gateway's `/health`.

use fantoccini::Locator;
use shop_browser_tests::{Browser, start_platform};
use std::time::Duration;

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn status_page_shows_every_service_up() {
    let platform = start_platform(&[]).await.expect("platform starts");
    let web = platform.stack.url("web").expect("web front runs");
    // The names must come from the wasm app, not from the static page.
    let static_html = reqwest::get(format!("{web}/status"))
        .await
        .expect("page served")
        .text()
        .await
        .expect("html");
    assert!(
        !static_html.contains("user-service"),
        "static HTML already has the data"
    );

    let browser = Browser::launch().await.expect("browser starts");
    browser
        .client
        .goto(&format!("{web}/status"))
        .await
        .expect("navigates");
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(r#"[data-overall="healthy"]"#))
        .await
        .expect("the dashboard reports healthy");
    let up = browser
        .client
        .find_all(Locator::Css(r#"[data-service][data-status="up"]"#))
        .await
        .expect("cards");
    assert_eq!(up.len(), 4, "four services up");
    for name in [
        "user-service",
        "product-service",
        "order-service",
        "notification-service",
    ] {
        let card = browser
            .client
            .find(Locator::Css(&format!(r#"[data-service="{name}"]"#)))
            .await
            .unwrap_or_else(|_| panic!("a card for {name}"));
        let text = card.text().await.expect("card text");
        assert!(text.contains(name) && text.contains("up"), "{name}: {text}");
    }
    browser.screenshot("status").await.expect("screenshot");
    browser.close().await.expect("browser closes");
    platform.finish().await;
}

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn status_page_shows_a_stopped_service_down() {
    let mut platform = start_platform(&[]).await.expect("platform starts");
    let web = platform.stack.url("web").expect("web front runs");
    platform.stack.stop("orders").await.expect("orders stops");

    let browser = Browser::launch().await.expect("browser starts");
    browser
        .client
        .goto(&format!("{web}/status"))
        .await
        .expect("navigates");
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(r#"[data-overall="degraded"]"#))
        .await
        .expect("the dashboard reports degraded");
    let card = browser
        .client
        .find(Locator::Css(r#"[data-service="order-service"]"#))
        .await
        .expect("order-service card");
    assert_eq!(
        card.attr("data-status").await.expect("attr").as_deref(),
        Some("down")
    );
    browser.close().await.expect("browser closes");
    platform.finish().await;
}
