//! Rotating the signing key: the users service signs with the new key and
//! publishes both; tokens signed with the previous key keep working on the
//! gateway and every service until they expire, and new tokens work too.

use reqwest::Method;
use shop_auth::SigningKey;
use shop_testkit::{Shop, TestStack, eventually, unique_tag};
use std::time::Duration;

fn pem(key: &SigningKey) -> String {
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        key.to_base64()
    )
}

/// Status of an authenticated read on every service, through the gateway and
/// directly.
async fn statuses(t: &TestStack, token: &str) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    let gw = t.gateway();
    let direct = |part: &str| t.stack.url(part).expect("running");
    for (base, path) in [
        (gw.clone(), "/users/me"),
        (gw.clone(), "/orders"),
        (gw, "/notifications"),
        (direct("users"), "/users/me"),
        (direct("orders"), "/orders"),
        (direct("notifications"), "/notifications"),
    ] {
        let status = t
            .client()
            .request(Method::GET, format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("answered")
            .status()
            .as_u16();
        out.push((format!("{base}{path}"), status));
    }
    out
}

async fn accepted_everywhere(t: &TestStack, token: &str) -> bool {
    statuses(t, token).await.iter().all(|(_, s)| *s == 200)
}

#[tokio::test]
async fn after_a_rotation_tokens_of_the_previous_key_stay_valid_and_new_ones_work() {
    let (old, new) = (
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
    );
    let mut t = TestStack::start_with(&[("JWT_PRIVATE_KEY", &pem(&old))]).await;
    let tag = unique_tag();
    let email = format!("rotate-{tag}@example.com");
    let before = t.sign_up(&email, &format!("rotate{tag}")).await;
    assert!(
        accepted_everywhere(&t, &before).await,
        "{:?}",
        statuses(&t, &before).await
    );

    t.restart_users(&[
        ("JWT_PRIVATE_KEY", &pem(&new)),
        ("JWT_PREVIOUS_PRIVATE_KEY", &pem(&old)),
    ])
    .await
    .expect("users restarts with the new key");

    let (status, jwks) = t
        .get_json(&format!("{}/.well-known/jwks.json", t.gateway()))
        .await;
    assert_eq!(status, 200);
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids, [new.kid(), old.kid()], "current first, then previous");

    let statuses_before = statuses(&t, &before).await;
    assert!(
        statuses_before.iter().all(|(_, s)| *s == 200),
        "a token of the previous key still works: {statuses_before:?}"
    );

    let after = t.log_in(&email, "correct-horse").await;
    let header = jsonwebtoken::decode_header(&after).expect("a JWT");
    assert_eq!(
        header.kid.as_deref(),
        Some(new.kid()),
        "signed with the new key"
    );
    // Verifiers learn the new key when a token names it (at most one JWKS
    // fetch per 5 s each).
    let learned = eventually(Duration::from_secs(15), || async {
        accepted_everywhere(&t, &after).await.then_some(())
    })
    .await;
    assert!(learned.is_some(), "{:?}", statuses(&t, &after).await);
    assert!(
        accepted_everywhere(&t, &before).await,
        "and the old one still works"
    );
    t.finish().await;
}
