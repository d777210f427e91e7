//! Sign-in with Google against oidc-provider-mock (the stand-in `cargo xtask
//! test` starts on :9400), through the gateway: the whole code flow, and each
//! way it must be refused — bringing the browser back to the sign-in page
//! with a message, and never setting a session.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Url, header};
use shop_testkit::{Shop, TestStack, oidc_issuer, unique_tag};
use std::sync::{Arc, Mutex};

const WEB: &str = "http://web.test";
const CLIENT_ID: &str = "shop-test-client";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn stack_with_issuer(issuer: &str) -> TestStack {
    TestStack::start_with(&[
        ("PUBLIC_URL", WEB),
        ("GOOGLE_CLIENT_ID", CLIENT_ID),
        ("GOOGLE_CLIENT_SECRET", "shop-test-secret"),
        ("GOOGLE_ISSUER_URL", issuer),
        (
            "GOOGLE_REDIRECT_URL",
            "http://web.test/api/auth/google/callback",
        ),
    ])
    .await
}

/// A cookie's value from a response's `Set-Cookie` headers.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
}

fn location(resp: &reqwest::Response) -> Url {
    let raw = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("a redirect, got {}", resp.status()));
    Url::parse(raw).expect("an absolute URL")
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The first leg: where the browser is sent, and the `oauth_state` cookie.
struct Started {
    authorize: Url,
    cookie: String,
}

async fn start(t: &TestStack) -> Started {
    let r = no_redirects()
        .get(format!("{}/auth/google", t.gateway()))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 302);
    let cookie = set_cookie(&r, "oauth_state").expect("the oauth_state cookie");
    let raw = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .find(|c| c.starts_with("oauth_state="))
        .unwrap_or_default();
    assert!(raw.contains("HttpOnly"), "{raw}");
    assert!(raw.contains("SameSite=Lax"), "{raw}");
    Started {
        authorize: location(&r),
        cookie,
    }
}

/// Sets the claims the provider will put in the next ID token for `sub`.
async fn provider_user(sub: &str, email: &str, verified: bool, name: &str) {
    let r = reqwest::Client::new()
        .put(format!("{}/users/{sub}", oidc_issuer()))
        .json(&serde_json::json!({"email": email, "email_verified": verified, "name": name}))
        .send()
        .await
        .expect("the mock provider answers");
    assert_eq!(r.status(), 204);
}

/// The user consents on the provider's page: the redirect back.
async fn consent(authorize: &Url, sub: &str) -> Url {
    let r = no_redirects()
        .post(authorize.clone())
        .form(&[("sub", sub)])
        .send()
        .await
        .expect("the mock provider answers");
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap_or_default());
    location(&r)
}

/// The second leg, as the browser makes it: the provider's redirect back to
/// our callback, with the cookie (if any). Returns where we send the browser
/// and the session cookie we set, if any.
async fn callback(t: &TestStack, back: &Url, cookie: Option<&str>) -> (Url, Option<String>) {
    let mut req = no_redirects().get(format!(
        "{}/auth/google/callback?{}",
        t.gateway(),
        back.query().unwrap_or("")
    ));
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, format!("oauth_state={c}"));
    }
    let r = req.send().await.expect("answered");
    assert_eq!(r.status(), 302, "always a redirect, never an error page");
    let session = set_cookie(&r, "shop_session").filter(|v| !v.is_empty());
    (location(&r), session)
}

/// Asserts a refusal: back to the sign-in page with `message`, no session.
fn refused(outcome: (Url, Option<String>), message: &str) {
    let (to, session) = outcome;
    assert!(
        to.as_str().starts_with(&format!("{WEB}/login?")),
        "back to sign-in, got {to}"
    );
    let shown = param(&to, "error").unwrap_or_default();
    assert!(
        shown.contains(message),
        "message {shown:?} should say {message:?}"
    );
    assert!(session.is_none(), "no session on a refusal");
}

async fn me(t: &TestStack, session: &str) -> serde_json::Value {
    let (status, body) = t.get_as(session, "/users/me").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A TCP relay to the provider that keeps what the client sent, to check
/// this service's half of PKCE (the mock does not enforce it).
async fn recording_relay(target: &str) -> (String, Arc<Mutex<Vec<u8>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let target = Url::parse(target).expect("issuer URL");
    let target = format!(
        "{}:{}",
        target.host_str().expect("host"),
        target.port().expect("port")
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let (target, log) = (target.clone(), log.clone());
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let (mut in_r, mut in_w) = inbound.into_split();
                let (mut out_r, mut out_w) = outbound.into_split();
                let up = async {
                    let mut buf = [0u8; 8192];
                    while let Ok(n) = in_r.read(&mut buf).await {
                        if n == 0 || out_w.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        log.lock().expect("log").extend_from_slice(&buf[..n]);
                    }
                    let _ = out_w.shutdown().await;
                };
                let down = async {
                    let _ = tokio::io::copy(&mut out_r, &mut in_w).await;
                    let _ = in_w.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn a_new_google_user_gets_an_account_and_a_returning_one_the_same_with_pkce_state_and_nonce()
{
    // Through a relay that records what the platform sends the provider
    // (the mock takes its issuer from the Host header: the relay's).
    let (issuer, sent) = recording_relay(&oidc_issuer()).await;
    let t = stack_with_issuer(&issuer).await;
    let tag = unique_tag();
    let sub = format!("new-{tag}");
    provider_user(
        &sub,
        &format!("Ada.{tag}@Example.com"),
        true,
        "Ada Lovelace",
    )
    .await;

    let s = start(&t).await;
    let (state, verifier, nonce) = {
        let mut parts = s.cookie.split('.');
        let mut next = || parts.next().expect("three parts").to_owned();
        (next(), next(), next())
    };
    let a = &s.authorize;
    assert!(a.as_str().starts_with(&issuer), "to the provider: {a}");
    assert_eq!(param(a, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(param(a, "response_type").as_deref(), Some("code"));
    assert_eq!(param(a, "state"), Some(state));
    assert_eq!(param(a, "nonce"), Some(nonce));
    assert_eq!(param(a, "code_challenge_method").as_deref(), Some("S256"));
    let challenge = URL_SAFE_NO_PAD
        .encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref());
    assert_eq!(
        param(a, "code_challenge"),
        Some(challenge),
        "S256 of the verifier"
    );
    assert!(param(a, "scope").unwrap_or_default().contains("email"));

    let back = consent(a, &sub).await;
    let (to, session) = callback(&t, &back, Some(&s.cookie)).await;
    assert_eq!(to.as_str(), format!("{WEB}/auth/callback"));
    let session = session.expect("signed in");
    let user = me(&t, &session).await;
    assert_eq!(user["email"], format!("ada.{tag}@example.com"));
    assert_eq!(user["username"], "ada.lovelace");
    assert_eq!(user["role"], "customer");
    let sent = String::from_utf8_lossy(&sent.lock().expect("log")).into_owned();
    assert!(
        sent.contains(&format!("code_verifier={verifier}")),
        "the token request carries the PKCE verifier"
    );

    // Signing in again is the same account; a second user with the same
    // profile name gets a username of its own.
    let s2 = start(&t).await;
    let (_, again) = callback(&t, &consent(&s2.authorize, &sub).await, Some(&s2.cookie)).await;
    assert_eq!(me(&t, &again.expect("signed in")).await["id"], user["id"]);
    let twin = format!("twin-{tag}");
    provider_user(
        &twin,
        &format!("twin.{tag}@example.com"),
        true,
        "Ada Lovelace",
    )
    .await;
    let s3 = start(&t).await;
    let (_, other) = callback(&t, &consent(&s3.authorize, &twin).await, Some(&s3.cookie)).await;
    let other = me(&t, &other.expect("signed in")).await;
    assert_ne!(other["id"], user["id"]);
    assert!(
        other["username"]
            .as_str()
            .unwrap_or("")
            .starts_with("ada.lovelace-")
    );

    let db = t.db("users").await;
    let (count, password): (i64, Option<String>) =
        sqlx::query_as("SELECT count(*) OVER (), password_hash FROM users WHERE google_sub = $1")
            .bind(&sub)
            .fetch_one(&db)
            .await
            .expect("the linked account");
    assert_eq!((count, password), (1, None), "one account, no password");
    t.finish().await;
}

#[tokio::test]
async fn a_google_account_with_a_registered_verified_email_is_linked_to_that_user() {
    let t = stack_with_issuer(&oidc_issuer()).await;
    let tag = unique_tag();
    let email = format!("grace-{tag}@example.com");
    let password_session = t.sign_up(&email, &format!("grace{tag}")).await;
    let registered = me(&t, &password_session).await;

    let sub = format!("grace-{tag}");
    provider_user(&sub, &email.to_uppercase(), true, "Grace Hopper").await;
    let s = start(&t).await;
    let (_, session) = callback(&t, &consent(&s.authorize, &sub).await, Some(&s.cookie)).await;
    let linked = me(&t, &session.expect("signed in")).await;
    assert_eq!(linked["id"], registered["id"], "the same account");
    assert_eq!(linked["username"], registered["username"]);

    // Another Google account claiming the same email is not let in.
    let intruder = format!("intruder-{tag}");
    provider_user(&intruder, &email, true, "Someone Else").await;
    let s = start(&t).await;
    refused(
        callback(&t, &consent(&s.authorize, &intruder).await, Some(&s.cookie)).await,
        "linked to a different Google account",
    );
    let db = t.db("users").await;
    let linked_sub: Option<String> =
        sqlx::query_scalar("SELECT google_sub FROM users WHERE email = $1")
            .bind(&email)
            .fetch_one(&db)
            .await
            .expect("the user");
    assert_eq!(linked_sub, Some(sub));
    t.finish().await;
}

#[tokio::test]
async fn each_bad_sign_in_is_refused_with_a_message_and_no_session() {
    let t = stack_with_issuer(&oidc_issuer()).await;
    let tag = unique_tag();
    let sub = format!("user-{tag}");
    provider_user(&sub, &format!("user-{tag}@example.com"), true, "Some User").await;

    // State mismatch: the redirect back names a state this browser never had.
    let s = start(&t).await;
    let back = consent(&s.authorize, &sub).await;
    let mut forged = back.clone();
    let code = param(&back, "code").expect("code");
    forged.set_query(Some(&format!("code={code}&state=not-the-state-we-sent")));
    refused(
        callback(&t, &forged, Some(&s.cookie)).await,
        "expired or was already used",
    );
    // No cookie at all (another browser, or it expired).
    refused(
        callback(&t, &back, None).await,
        "expired or was already used",
    );

    // Nonce mismatch: the ID token was issued for another nonce.
    let s = start(&t).await;
    let mut swapped = s.authorize.clone();
    let pairs: Vec<(String, String)> = s
        .authorize
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "nonce" {
                "a-nonce-we-never-made".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    swapped.query_pairs_mut().clear().extend_pairs(pairs);
    refused(
        callback(&t, &consent(&swapped, &sub).await, Some(&s.cookie)).await,
        "did not confirm",
    );

    // Unverified email.
    let unverified = format!("unverified-{tag}");
    provider_user(
        &unverified,
        &format!("unverified-{tag}@example.com"),
        false,
        "U",
    )
    .await;
    let s = start(&t).await;
    refused(
        callback(
            &t,
            &consent(&s.authorize, &unverified).await,
            Some(&s.cookie),
        )
        .await,
        "not verified",
    );

    // A code (and its state) used twice: the replay is refused before the
    // provider is asked; the same code under a fresh state, by the provider.
    let s = start(&t).await;
    let back = consent(&s.authorize, &sub).await;
    let (_, first) = callback(&t, &back, Some(&s.cookie)).await;
    assert!(first.is_some(), "the first use signs in");
    refused(
        callback(&t, &back, Some(&s.cookie)).await,
        "expired or was already used",
    );
    let fresh = start(&t).await;
    let state = param(&fresh.authorize, "state").expect("state");
    let mut reused = back.clone();
    reused.set_query(Some(&format!(
        "code={}&state={state}",
        param(&back, "code").expect("code")
    )));
    refused(
        callback(&t, &reused, Some(&fresh.cookie)).await,
        "did not confirm",
    );

    // Denied consent on the provider's page.
    let s = start(&t).await;
    let r = no_redirects()
        .post(s.authorize.clone())
        .form(&[("action", "deny")])
        .send()
        .await
        .expect("the mock provider answers");
    refused(
        callback(&t, &location(&r), Some(&s.cookie)).await,
        "cancelled",
    );

    let db = t.db("users").await;
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(sessions, 1, "only the one good sign-in opened a session");
    t.finish().await;
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused() {
    // A real token from the provider, issued to another client.
    let issuer = oidc_issuer();
    let tag = unique_tag();
    let sub = format!("aud-{tag}");
    provider_user(&sub, &format!("aud-{tag}@example.com"), true, "A").await;
    let mut authorize = Url::parse(&format!("{issuer}/oauth2/authorize")).expect("url");
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "another-shop")
        .append_pair("redirect_uri", "http://127.0.0.1:9/cb")
        .append_pair("scope", "openid email profile")
        .append_pair("state", "s")
        .append_pair("nonce", "the-nonce");
    let code = param(&consent(&authorize, &sub).await, "code").expect("code");
    let tokens: serde_json::Value = reqwest::Client::new()
        .post(format!("{issuer}/oauth2/token"))
        .basic_auth("another-shop", Some("its-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let id_token = tokens["id_token"].as_str().expect("an ID token");

    let verifier = |client_id: &str| {
        shop_users::clients::google::Google::new(shop_users::clients::google::GoogleSettings {
            client_id: client_id.into(),
            client_secret: "unused".to_owned().into(),
            issuer_url: issuer.clone(),
            redirect_url: "http://127.0.0.1:9/cb".into(),
        })
        .expect("client")
    };
    let err = verifier(CLIENT_ID)
        .verify(id_token, "the-nonce")
        .await
        .expect_err("not for us");
    assert!(
        format!("{:#}", anyhow_chain(&err)).contains("InvalidAudience"),
        "{err:?}"
    );
    // The same token is good for the client it was issued to.
    let claims = verifier("another-shop")
        .verify(id_token, "the-nonce")
        .await
        .expect("valid for its own audience");
    assert_eq!(claims.sub, sub);
}

fn anyhow_chain(e: &shop_users::clients::google::Refusal) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

#[tokio::test]
async fn an_unreachable_provider_brings_the_user_back_with_a_message() {
    let t = stack_with_issuer("http://127.0.0.1:9").await;
    let r = no_redirects()
        .get(format!("{}/auth/google", t.gateway()))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 302);
    refused((location(&r), None), "could not be reached");

    // The second leg, when the provider went away after the first.
    let up = stack_with_issuer(&oidc_issuer()).await;
    let sub = format!("late-{}", unique_tag());
    provider_user(&sub, &format!("{sub}@example.com"), true, "Late").await;
    let s = start(&up).await;
    let back = consent(&s.authorize, &sub).await;
    refused(
        callback(&t, &back, Some(&s.cookie)).await,
        "could not be reached",
    );
    up.finish().await;
    t.finish().await;
}

#[tokio::test]
async fn without_a_client_id_google_sign_in_is_404_and_the_button_is_hidden() {
    let t = TestStack::start().await;
    let (status, body) = t.get_json(&format!("{}/auth/google", t.gateway())).await;
    assert_eq!(status, 404);
    assert_eq!(body["detail"], "Sign-in with Google is not configured");
    let (status, body) = t.get_json(&format!("{}/auth/providers", t.gateway())).await;
    assert_eq!((status, &body["google"]), (200, &serde_json::json!(false)));
    t.finish().await;
}
