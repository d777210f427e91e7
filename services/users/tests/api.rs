//! The users API over a real database (one throwaway database per test).

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shop_auth::{Auth, JwkSet, SigningKey, TokenRules, Verifier};
use shop_users::AppState;
use sqlx::PgPool;
use std::sync::Arc;
use tower::ServiceExt;

fn app(pool: PgPool) -> Router {
    // Not listening: every read goes to the database.
    app_with(
        pool,
        shop_platform::cache::Announced::new("private, no-cache", 100),
    )
}

fn app_with(pool: PgPool, accounts: shop_platform::cache::Announced) -> Router {
    let signer = SigningKey::generate().unwrap();
    let rules = TokenRules::default();
    let jwks = JwkSet {
        keys: vec![signer.public_jwk()],
    };
    let verifier = Verifier::with_keys(&jwks, &rules);
    shop_users::router(AppState {
        pool,
        signer: Arc::new(signer),
        jwks: Arc::new(jwks),
        rules,
        token_ttl_secs: 600,
        secure_cookies: false,
        auth: Auth::new(verifier, vec!["http://localhost:8080".into()]),
        public_url: "http://localhost:8080".into(),
        google: None,
        limits: shop_users::store::throttle::Limits::default(),
        accounts,
    })
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, header::HeaderMap, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, headers, body)
}

fn post(path: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn register(app: &Router, email: &str, username: &str) -> (StatusCode, Value) {
    let (s, _, b) = call(
        app,
        post(
            "/users/register",
            json!({"email": email, "username": username, "password": "s3cret-pass"}),
        ),
    )
    .await;
    (s, b)
}

async fn login(
    app: &Router,
    email: &str,
    password: &str,
) -> (StatusCode, header::HeaderMap, Value) {
    call(
        app,
        post(
            "/users/login",
            json!({"email": email, "password": password}),
        ),
    )
    .await
}

#[sqlx::test]
async fn register_stores_email_lower_case_as_a_customer(pool: PgPool) {
    let app = app(pool);
    let (status, user) = register(&app, "Ann@Example.com", "ann").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["role"], "customer");
    assert_eq!(user["is_active"], true);
    assert!(user.get("password_hash").is_none());
}

#[sqlx::test]
async fn duplicate_email_or_username_is_409(pool: PgPool) {
    let app = app(pool);
    register(&app, "ann@example.com", "ann").await;
    let (s1, b1) = register(&app, "ANN@example.com", "other").await;
    let (s2, b2) = register(&app, "new@example.com", "ann").await;
    assert_eq!((s1, s2), (StatusCode::CONFLICT, StatusCode::CONFLICT));
    assert_eq!(b1["detail"], "Email already registered");
    assert_eq!(b2["detail"], "Username already taken");
}

#[sqlx::test]
async fn malformed_registration_is_422_with_fields(pool: PgPool) {
    let app = app(pool);
    let (s, _, b) = call(
        &app,
        post(
            "/users/register",
            json!({"email": "x", "username": "ab", "password": "short"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["detail"].as_array().unwrap().len(), 3);
    let (s, _, b) = call(
        &app,
        post(
            "/users/register",
            json!({"email": "a@b.co", "username": "abc", "password": "12345678", "role": "admin"}),
        ),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused: {b}"
    );
}

#[sqlx::test]
async fn login_returns_a_token_and_sets_an_http_only_cookie_and_a_readable_hint(pool: PgPool) {
    let app = app(pool);
    register(&app, "ann@example.com", "ann").await;
    let (s, headers, b) = login(&app, "ANN@example.com", "s3cret-pass").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["token_type"], "bearer");
    assert_eq!(b["expires_in"], 600);
    let mut cookies = set_cookies(&headers);
    // The jar sends them in no fixed order.
    cookies.sort();
    let [session, hint] = cookies.as_slice() else {
        panic!("two cookies: {cookies:?}");
    };
    assert!(session.starts_with("shop_session="), "{session}");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    // The page reads the hint; it carries nothing but that a session exists,
    // and lives exactly as long.
    assert!(hint.starts_with("shop_signed_in=1;"), "{hint}");
    assert!(!hint.contains("HttpOnly"), "{hint}");
    assert!(
        hint.contains("Max-Age=600") && session.contains("Max-Age=600"),
        "{session} / {hint}"
    );
}

fn set_cookies(headers: &header::HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test]
async fn wrong_password_and_unknown_email_get_the_same_401(pool: PgPool) {
    let app = app(pool);
    register(&app, "ann@example.com", "ann").await;
    let (s1, _, b1) = login(&app, "ann@example.com", "wrong-password").await;
    let (s2, _, b2) = login(&app, "nobody@example.com", "s3cret-pass").await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(b1, b2);
    assert_eq!(b1["detail"], "Invalid email or password");
}

#[sqlx::test]
async fn inactive_accounts_cannot_log_in(pool: PgPool) {
    let app = app(pool.clone());
    register(&app, "ann@example.com", "ann").await;
    sqlx::query("UPDATE users SET is_active = FALSE")
        .execute(&pool)
        .await
        .unwrap();
    let (s, _, b) = login(&app, "ann@example.com", "s3cret-pass").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["detail"], "Invalid email or password");
}

#[sqlx::test]
async fn me_answers_with_bearer_or_cookie_and_401_without(pool: PgPool) {
    let app = app(pool);
    register(&app, "ann@example.com", "ann").await;
    let (_, headers, b) = login(&app, "ann@example.com", "s3cret-pass").await;
    let token = b["access_token"].as_str().unwrap();
    let (s, _, me) = call(
        &app,
        Request::get("/users/me")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["username"], "ann");
    let cookie = set_cookies(&headers)
        .into_iter()
        .find(|c| c.starts_with("shop_session="))
        .expect("the session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (s, _, _) = call(
        &app,
        Request::get("/users/me")
            .header("cookie", cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, b) = call(&app, Request::get("/users/me").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["detail"], "Not authenticated");
}

#[sqlx::test]
async fn logout_clears_both_cookies(pool: PgPool) {
    let app = app(pool);
    register(&app, "ann@example.com", "ann").await;
    let (_, _, b) = login(&app, "ann@example.com", "s3cret-pass").await;
    let token = b["access_token"].as_str().unwrap();
    let req = Request::post("/users/logout")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (s, headers, _) = call(&app, req).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let cookies = set_cookies(&headers);
    for name in ["shop_session", "shop_signed_in"] {
        assert!(
            cookies
                .iter()
                .any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0")),
            "{name} cleared: {cookies:?}"
        );
    }
}

#[sqlx::test]
async fn issued_tokens_verify_against_the_published_jwks(pool: PgPool) {
    let app = app(pool);
    register(&app, "ann@example.com", "ann").await;
    let (_, _, b) = login(&app, "ann@example.com", "s3cret-pass").await;
    let (s, _, jwks) = call(
        &app,
        Request::get("/.well-known/jwks.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let set: JwkSet = serde_json::from_value(jwks).unwrap();
    assert_eq!(set.keys[0].alg, "EdDSA");
    let claims = Verifier::with_keys(&set, &TokenRules::default())
        .verify(b["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims.email, "ann@example.com");
    assert_eq!(claims.iss, "shop-users");
    assert!(!claims.jti.is_empty());
}

/// `/users/me` is kept while the account is unchanged (an `ETag`, 304 when
/// it is sent back) and follows a change made anywhere: here straight in
/// the database, as another replica or an operator would.
#[sqlx::test]
async fn me_is_kept_and_follows_a_change_made_elsewhere(pool: PgPool) {
    let accounts = shop_platform::cache::Announced::new("private, no-cache", 100);
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(
        accounts
            .clone()
            .follow(pool.clone(), shop_users::CHANGES, stop),
    );
    let app = app_with(pool.clone(), accounts.clone());
    let (_, user) = register(&app, "ann@example.com", "ann").await;
    let id = user["id"].as_i64().unwrap();
    let (_, _, b) = login(&app, "ann@example.com", "s3cret-pass").await;
    let token = b["access_token"].as_str().unwrap().to_owned();
    let me = |tag: Option<String>| {
        let mut req = Request::get("/users/me").header("authorization", format!("Bearer {token}"));
        if let Some(tag) = tag {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        call(&app, req.body(Body::empty()).unwrap())
    };
    let started = std::time::Instant::now();
    let tag = loop {
        let (s, headers, body) = me(None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(body["username"], "ann");
        assert_eq!(headers[header::CACHE_CONTROL], "private, no-cache");
        if accounts.item(id).is_some() {
            break headers[header::ETAG].to_str().unwrap().to_owned();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "never kept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(me(Some(tag.clone())).await.0, StatusCode::NOT_MODIFIED);

    sqlx::query("UPDATE users SET username = 'renamed' WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let (s, _, body) = me(Some(tag.clone())).await;
        if s == StatusCode::OK && body["username"] == "renamed" {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "still {s} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
