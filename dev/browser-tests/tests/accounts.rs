//! Registration: the server's reasons for refusing appear by their fields.

use anyhow::{Context, Result, ensure};
use shop_browser_tests::{Browser, conclude, start_platform};
use shop_testkit::{Shop, TestStack};

#[tokio::test]
#[ignore = "needs Chromium and the built web app: run by `cargo xtask test`"]
async fn registration_shows_each_refusal_next_to_its_field() -> Result<()> {
    let platform = start_platform(&[]).await?;
    let browser = Browser::launch().await?;
    let outcome = refusals(&platform, &browser).await;
    conclude("register-refusals", outcome, vec![browser], platform).await
}

async fn refusals(t: &TestStack, browser: &Browser) -> Result<()> {
    let web = t.stack.url("web").context("web front runs")?;
    t.sign_up("taken@example.com", "taken").await;

    browser.open(&format!("{web}/register")).await?;
    browser.fill("#register-email", "new@example.com").await?;
    browser.fill("#register-username", "newcomer").await?;
    browser.fill("#register-password", "short").await?;
    browser.click(r#"[data-testid="register-submit"]"#).await?;
    let message = browser
        .wait_for_text("#register-password-error", "at least 8 characters")
        .await?;
    let password = browser.wait_for("#register-password").await?;
    ensure!(
        password.attr("aria-invalid").await?.as_deref() == Some("true"),
        "the password field is marked invalid ({message})"
    );
    ensure!(
        password
            .attr("aria-describedby")
            .await?
            .is_some_and(|ids| ids.contains("register-password-error")),
        "the message is tied to the field"
    );

    browser.fill("#register-email", "taken@example.com").await?;
    browser
        .fill("#register-password", "long-enough-password")
        .await?;
    browser.click(r#"[data-testid="register-submit"]"#).await?;
    browser
        .wait_for_text("#register-email-error", "Email already registered")
        .await?;
    let password_error = browser.wait_for("#register-password-error").await?;
    ensure!(
        !password_error.is_displayed().await?,
        "the fixed field's message is gone"
    );
    Ok(())
}
