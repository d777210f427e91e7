//! Sign-in with Google in headless Chromium against oidc-provider-mock: the
//! button on the sign-in and register pages, the provider's page, and back
//! to the shop signed in — as a new account, and as an account linked by its
//! email; declining brings the visitor back to the sign-in page, told so. Saves `sign-in-with-google.png` of the sign-in page.

use anyhow::{Context, Result, ensure};
use shop_browser_tests::{Browser, conclude, start_platform};
use shop_testkit::{Shop, TestStack, oidc_issuer, unique_tag};

/// The web front's port is chosen first: the callback URL the provider sends
/// the browser to must name it.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn provider_user(sub: &str, email: &str, name: &str) -> Result<()> {
    let r = reqwest::Client::new()
        .put(format!("{}/users/{sub}", oidc_issuer()))
        .json(&serde_json::json!({"email": email, "email_verified": true, "name": name}))
        .send()
        .await
        .context("the mock provider answers")?;
    ensure!(r.status() == 204, "PUT /users/{sub}: {}", r.status());
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium, the built web app and oidc-provider-mock: run by `cargo xtask test`"]
async fn google_sign_in_creates_an_account_or_links_one_by_email() -> Result<()> {
    let port = free_port()?.to_string();
    let web = format!("http://127.0.0.1:{port}");
    let callback = format!("{web}/api/auth/google/callback");
    let issuer = oidc_issuer();
    let platform = start_platform(&[
        ("WEB_PORT", &port),
        ("PUBLIC_URL", &web),
        ("GOOGLE_CLIENT_ID", "shop-browser-test"),
        ("GOOGLE_CLIENT_SECRET", "shop-browser-secret"),
        ("GOOGLE_ISSUER_URL", &issuer),
        ("GOOGLE_REDIRECT_URL", &callback),
    ])
    .await?;
    let newcomer = Browser::launch().await?;
    let returning = Browser::launch().await?;
    let outcome = flow(&platform, &web, &newcomer, &returning).await;
    conclude(
        "google-sign-in",
        outcome,
        vec![newcomer, returning],
        platform,
    )
    .await
}

/// Button → the provider's page → consent as `sub` → back, signed in.
async fn sign_in_with_google(browser: &Browser, web: &str, sub: &str) -> Result<String> {
    browser.open(&format!("{web}/login")).await?;
    browser.click(r#"[data-testid="google-sign-in"]"#).await?;
    browser.fill(r#"input[name="sub"]"#, sub).await?;
    browser
        .click(r#"button[type="submit"]:not([name])"#)
        .await?;
    browser
        .wait_until("back in the shop, signed in", || async {
            let url = browser.eval("return location.href").await?;
            let name = browser.text(r#"[data-testid="account-name"]"#).await.ok();
            Ok(name.filter(|_| url.as_str().is_some_and(|u| u == format!("{web}/"))))
        })
        .await
}

async fn flow(t: &TestStack, web: &str, newcomer: &Browser, returning: &Browser) -> Result<()> {
    let tag = unique_tag();
    newcomer.open(&format!("{web}/register")).await?;
    newcomer
        .wait_for(r#"[data-testid="google-sign-in"]"#)
        .await?;
    newcomer.open(&format!("{web}/login")).await?;
    let button = newcomer
        .wait_for_text(r#"[data-testid="google-sign-in"]"#, "Sign in with Google")
        .await?;
    let shot = newcomer.screenshot("sign-in-with-google").await?;
    eprintln!(
        "the sign-in page with its Google button: {} ({button})",
        shot.display()
    );

    // A new customer: an account is made from the Google profile.
    let sub = format!("kay-{tag}");
    provider_user(&sub, &format!("kay-{tag}@example.com"), "Kay Newcomer").await?;
    let shown = sign_in_with_google(newcomer, web, &sub).await?;
    ensure!(
        shown.contains("kay.newcomer"),
        "the header names the new account: {shown}"
    );
    let db = t.db("users").await;
    let (email, linked): (String, Option<String>) =
        sqlx::query_as("SELECT email, google_sub FROM users WHERE username = 'kay.newcomer'")
            .fetch_one(&db)
            .await?;
    ensure!(email == format!("kay-{tag}@example.com") && linked.as_deref() == Some(sub.as_str()));

    // Declining on the provider's page: back on the sign-in page, told so.
    returning.open(&format!("{web}/login")).await?;
    returning.click(r#"[data-testid="google-sign-in"]"#).await?;
    returning
        .click(r#"button[name="action"][value="deny"]"#)
        .await?;
    returning
        .wait_for_text(
            r#"[data-testid="sign-in-problem"]"#,
            "Sign-in with Google was cancelled",
        )
        .await?;

    // A customer who registered with a password: the same account.
    let email = format!("lin-{tag}@example.com");
    let token = t.sign_up(&email, &format!("lin{tag}")).await;
    let (_, me) = t.get_as(&token, "/users/me").await;
    let lin = format!("lin-{tag}");
    provider_user(&lin, &email, "Lin Registered").await?;
    let shown = sign_in_with_google(returning, web, &lin).await?;
    ensure!(
        shown.contains(&format!("lin{tag}")),
        "signed in as the registered account {me}: {shown}"
    );
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&db)
        .await?;
    ensure!(accounts == 1, "linked, not duplicated: {accounts} accounts");
    Ok(())
}
