//! Forged identities and bad tokens are refused by the gateway and by every
//! service reached directly.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use shop_auth::{Claims, SigningKey};
use shop_testkit::{Shop, TestStack, unique_tag};
use shop_types::Role;

async fn users_key(t: &TestStack) -> SigningKey {
    let pool = t.db("users").await;
    let stored: String = sqlx::query_scalar("SELECT private_key FROM signing_keys")
        .fetch_one(&pool)
        .await
        .expect("the development key");
    pool.close().await;
    SigningKey::from_base64(&stored).expect("key")
}

fn claims(user_id: i64, role: Role, exp_offset: i64) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: user_id.to_string(),
        email: "mallory@example.com".into(),
        role,
        iat: now,
        exp: now + exp_offset,
        iss: "shop-users".into(),
        aud: "shop".into(),
        jti: uuid::Uuid::new_v4().to_string(),
    }
}

fn unsigned(kid: &str, alg: &str, c: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{kid}"}}"#));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).expect("claims"));
    format!("{header}.{payload}")
}

/// Every kind of bad token, by name.
async fn bad_tokens(t: &TestStack, valid: &str) -> Vec<(&'static str, String)> {
    let key = users_key(t).await;
    let admin = claims(1, Role::Admin, 600);
    // The same claims signed by the real key, with an admin role swapped in.
    let parts: Vec<&str> = valid.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&admin).expect("json")),
        parts[2]
    );
    let hs256 = {
        let secret = key.public_jwk().x;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(key.kid().to_owned());
        jsonwebtoken::encode(
            &header,
            &admin,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("hs256")
    };
    vec![
        (
            "expired",
            key.sign(&claims(1, Role::Admin, -3600)).expect("sign"),
        ),
        ("tampered payload", tampered),
        (
            "signed by another key",
            SigningKey::generate()
                .expect("key")
                .sign(&admin)
                .expect("sign"),
        ),
        (
            "alg none",
            format!("{}.", unsigned(key.kid(), "none", &admin)),
        ),
        ("HS256 with the public key", hs256),
        ("garbage", "not.a.token".to_owned()),
    ]
}

#[tokio::test]
async fn bad_tokens_are_refused_by_the_gateway_and_every_service() {
    let t = TestStack::start().await;
    let tag = unique_tag();
    let valid = t
        .sign_up(&format!("sec-{tag}@example.com"), &format!("sec-{tag}"))
        .await;
    let gw = t.gateway();
    let svc = |name: &str| t.stack.url(name).expect("service runs");
    let targets = [
        ("GET", format!("{gw}/orders")),
        ("GET", format!("{gw}/users/me")),
        ("GET", format!("{gw}/notifications")),
        ("POST", format!("{gw}/products")),
        ("GET", format!("{}/orders", svc("orders"))),
        ("GET", format!("{}/users/me", svc("users"))),
        ("GET", format!("{}/notifications", svc("notifications"))),
        ("POST", format!("{}/products", svc("products"))),
    ];
    for (name, token) in bad_tokens(&t, &valid).await {
        for (method, url) in &targets {
            let req = t
                .client
                .request(method.parse().expect("method"), url)
                .bearer_auth(&token);
            let req = if *method == "POST" {
                req.json(&serde_json::json!({"name": "Evil", "price": "1.00", "stock_quantity": 1, "sku": "EVIL-1"}))
            } else {
                req
            };
            let status = req.send().await.expect("answered").status();
            assert_eq!(status, 401, "{name} token at {method} {url}");
        }
    }
    let ok = t
        .client
        .get(format!("{gw}/orders"))
        .bearer_auth(&valid)
        .send()
        .await
        .expect("answered");
    assert_eq!(ok.status(), 200, "the valid token still works");
    t.finish().await;
}

#[tokio::test]
async fn forged_identity_headers_without_a_token_are_refused() {
    let t = TestStack::start().await;
    let forged = [
        ("x-user-id", "1"),
        ("x-user-role", "admin"),
        ("x-user-email", "admin@test.shop"),
    ];
    let targets = [
        ("GET", format!("{}/orders", t.gateway())),
        ("POST", format!("{}/products", t.gateway())),
        (
            "GET",
            format!("{}/orders", t.stack.url("orders").expect("orders")),
        ),
        (
            "POST",
            format!("{}/products", t.stack.url("products").expect("products")),
        ),
        (
            "GET",
            format!(
                "{}/notifications",
                t.stack.url("notifications").expect("notifications")
            ),
        ),
    ];
    for (method, url) in &targets {
        let mut req = t.client.request(method.parse().expect("method"), url);
        for (k, v) in forged {
            req = req.header(k, v);
        }
        let req = req.json(&serde_json::json!({"name": "Evil", "price": "1.00", "stock_quantity": 1, "sku": "EVIL-1"}));
        assert_eq!(
            req.send().await.expect("answered").status(),
            401,
            "{method} {url}"
        );
    }
    t.finish().await;
}

#[tokio::test]
async fn a_customer_token_cannot_write_the_catalogue() {
    let t = TestStack::start().await;
    let tag = unique_tag();
    let token = t
        .sign_up(&format!("cust-{tag}@example.com"), &format!("cust-{tag}"))
        .await;
    for base in [t.gateway(), t.stack.url("products").expect("products")] {
        let r = t
            .client
            .post(format!("{base}/products"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "Mine", "price": "1.00", "stock_quantity": 1, "sku": format!("C-{tag}")}))
            .send()
            .await
            .expect("answered");
        assert_eq!(r.status(), 403, "{base}");
    }
    t.finish().await;
}

#[tokio::test]
async fn a_cookie_authenticated_socket_from_another_site_is_refused() {
    use tokio_tungstenite::{connect_async, tungstenite::client::IntoClientRequest};
    let t = TestStack::start().await;
    let tag = unique_tag();
    let token = t
        .sign_up(&format!("ws-{tag}@example.com"), &format!("ws-{tag}"))
        .await;
    let gateway = t.gateway();
    let open = |origin: String| {
        let mut req = format!("{}/ws/notifications", gateway.replacen("http", "ws", 1))
            .into_client_request()
            .expect("request");
        let headers = req.headers_mut();
        headers.insert(
            "cookie",
            format!("shop_session={token}").parse().expect("cookie"),
        );
        headers.insert("origin", origin.parse().expect("origin"));
        connect_async(req)
    };

    let foreign = open("https://evil.example".into()).await;
    let ours = open(gateway.clone()).await;

    match foreign {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 403)
        }
        other => panic!(
            "a foreign page must not open the socket: {:?}",
            other.map(|_| ())
        ),
    }
    assert!(ours.is_ok(), "the shop's own page opens it");
    t.finish().await;
}

#[tokio::test]
async fn password_guessing_is_answered_429_with_retry_after() {
    let t = TestStack::start().await;
    let tag = unique_tag();
    let email = format!("guess-{tag}@example.com");
    t.sign_up(&email, &format!("guess-{tag}")).await;
    let other = format!("bystander-{tag}@example.com");
    t.sign_up(&other, &format!("bystander-{tag}")).await;
    let attempt = |email: String, password: &'static str| {
        t.client()
            .post(format!("{}/users/login", t.gateway()))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
    };

    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            attempt(email.clone(), "wrong-password")
                .await
                .expect("answered")
                .status()
                .as_u16(),
        );
    }
    let throttled = attempt(email.clone(), "wrong-password")
        .await
        .expect("answered");
    let status = throttled.status().as_u16();
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    let body: serde_json::Value = throttled.json().await.expect("json");
    let right_password_meanwhile = attempt(email.clone(), "correct-horse")
        .await
        .expect("answered")
        .status();
    let bystander = attempt(other, "correct-horse")
        .await
        .expect("answered")
        .status();

    assert_eq!(statuses, [401; 5]);
    assert_eq!(status, 429, "{body}");
    assert!(
        (1..=900).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Too many")),
        "{body}"
    );
    assert_eq!(
        right_password_meanwhile, 429,
        "the account waits out the window"
    );
    assert_eq!(bystander, 200, "other accounts are not affected");
    eprintln!("throttle: 5 × 401, then 429 with Retry-After {retry_after} s");
    t.finish().await;
}

/// Per-address limits, with the address the gateway works out: behind the
/// web front (a trusted proxy) the one it appended to `X-Forwarded-For`,
/// never one a client wrote there itself.
#[tokio::test]
async fn sign_in_failures_and_registrations_are_limited_per_client_address() {
    let t = TestStack::start_with(&[
        ("LOGIN_FAILURES_PER_ADDRESS", "3"),
        ("REGISTRATIONS_PER_ADDRESS", "2"),
    ])
    .await;
    let tag = unique_tag();
    let gw = t.gateway();
    let register = |from: &'static str, n: u32| {
        t.client()
            .post(format!("{gw}/users/register"))
            .header("x-forwarded-for", from)
            .json(&serde_json::json!({
                "email": format!("n{n}-{tag}@example.com"),
                "username": format!("n{n}{tag}"),
                "password": "correct-horse",
            }))
            .send()
    };
    let mut statuses = Vec::new();
    for n in 0..3 {
        statuses.push(register("198.51.100.7", n).await.expect("answered"));
    }
    let codes: Vec<u16> = statuses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        codes,
        [201, 201, 429],
        "two registrations an hour from one address"
    );
    let retry_after = statuses[2].headers()["retry-after"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(
        retry_after
            .parse::<u64>()
            .is_ok_and(|s| (1..=3600).contains(&s)),
        "{retry_after}"
    );
    let other = register("198.51.100.8", 3).await.expect("answered");
    assert_eq!(other.status(), 201, "another address is not affected");

    // Failed sign-ins, spread over accounts, from one address.
    let login = |from: &'static str, email: String, password: &'static str| {
        t.client()
            .post(format!("{gw}/users/login"))
            .header("x-forwarded-for", from)
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
    };
    let mut codes = Vec::new();
    for n in 0..3 {
        let r = login(
            "203.0.113.5",
            format!("n{n}-{tag}@example.com"),
            "wrong-password",
        )
        .await;
        codes.push(r.expect("answered").status().as_u16());
    }
    let blocked = login(
        "203.0.113.5",
        format!("n3-{tag}@example.com"),
        "correct-horse",
    )
    .await
    .expect("answered");
    assert_eq!(codes, [401, 401, 401]);
    assert_eq!(
        blocked.status(),
        429,
        "the address has used up its failures"
    );
    assert!(blocked.headers().contains_key("retry-after"));
    let elsewhere = login(
        "203.0.113.6",
        format!("n3-{tag}@example.com"),
        "correct-horse",
    )
    .await
    .expect("answered");
    assert_eq!(
        elsewhere.status(),
        200,
        "the same account from another address"
    );

    // Through the web front, a client-written X-Forwarded-For does not count:
    // the address is the one the web front saw (127.0.0.1 here).
    let web = t.stack.url("web").expect("web front");
    let forged = t
        .client()
        .post(format!("{web}/api/users/login"))
        .header("x-forwarded-for", "203.0.113.99")
        .json(
            &serde_json::json!({"email": format!("n0-{tag}@example.com"), "password": "nope-nope"}),
        )
        .send()
        .await
        .expect("answered");
    assert_eq!(forged.status(), 401);
    let db = t.db("users").await;
    let addresses: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT host(address) FROM login_failures ORDER BY 1")
            .fetch_all(&db)
            .await
            .expect("addresses");
    assert_eq!(addresses, ["127.0.0.1", "203.0.113.5"]);
    t.finish().await;
}

#[tokio::test]
async fn a_client_s_x_forwarded_host_is_believed_only_from_a_trusted_proxy() {
    // The test client (127.0.0.1) is no trusted proxy here.
    let t = TestStack::start_with(&[("TRUSTED_PROXIES", "192.0.2.1/32")]).await;
    let tag = unique_tag();
    let token = t
        .sign_up(&format!("xfh-{tag}@example.com"), &format!("xfh-{tag}"))
        .await;
    let gateway = t.gateway();
    let host = gateway.trim_start_matches("http://").to_owned();
    // A page on another site posts with the shop's cookie and claims, in
    // X-Forwarded-Host, to have reached the host it names.
    let forged = t
        .client
        .post(format!("{gateway}/users/logout"))
        .header("cookie", format!("shop_session={token}"))
        .header("origin", "https://evil.example")
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .expect("answered");
    assert_eq!(forged.status(), 403, "a foreign page's write is refused");
    let body: serde_json::Value = forged.json().await.expect("an error body");
    assert!(body["detail"].is_string(), "{body}");
    // The session is still alive.
    let (status, _) = t.get_as(&token, "/users/me").await;
    assert_eq!(status, 200);
    // The shop's own page still signs out with its cookie.
    let own = t
        .client
        .post(format!("{gateway}/users/logout"))
        .header("cookie", format!("shop_session={token}"))
        .header("origin", format!("http://{host}"))
        .send()
        .await
        .expect("answered");
    assert_eq!(own.status(), 204);
    t.finish().await;
}

/// From a trusted proxy (the test client, under the default
/// `TRUSTED_PROXIES`), `X-Forwarded-Host` names the host the browser
/// reached: a page of that origin may write with the cookie.
#[tokio::test]
async fn a_trusted_proxy_s_forwarded_host_is_believed() {
    let t = TestStack::start().await;
    let tag = unique_tag();
    let token = t
        .sign_up(
            &format!("xfh-ok-{tag}@example.com"),
            &format!("xfh-ok-{tag}"),
        )
        .await;
    let logout = |origin: &'static str| {
        t.client
            .post(format!("{}/users/logout", t.gateway()))
            .header("cookie", format!("shop_session={token}"))
            .header("origin", origin)
            .header("x-forwarded-host", "shop.example")
            .header("x-forwarded-proto", "https")
            .send()
    };
    // Another origin is still another origin.
    let foreign = logout("https://evil.example").await.expect("answered");
    assert_eq!(foreign.status(), 403);
    let own = logout("https://shop.example").await.expect("answered");
    assert_eq!(own.status(), 204, "the proxied shop page signs out");
    let (status, _) = t.get_as(&token, "/users/me").await;
    assert_eq!(status, 401, "the session ended");
    t.finish().await;
}

/// Sign-in attempts for one account from one client address, answered by
/// the gateway with the address in `X-Forwarded-For` (the test client is a
/// trusted proxy of the default `TRUSTED_PROXIES`).
async fn sign_in_from(t: &TestStack, from: &str, email: &str, password: &str) -> u16 {
    t.client()
        .post(format!("{}/users/login", t.gateway()))
        .header("x-forwarded-for", from)
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .expect("answered")
        .status()
        .as_u16()
}

#[tokio::test]
async fn guesses_sent_at_once_are_checked_no_more_than_the_limit() {
    let t = TestStack::start().await;
    let tag = unique_tag();
    let email = format!("burst-{tag}@example.com");
    t.sign_up(&email, &format!("burst-{tag}")).await;
    let unknown = format!("nobody-{tag}@example.com");
    for target in [&email, &unknown] {
        let answers = futures::future::join_all(
            (0..24).map(|_| sign_in_from(&t, "203.0.113.40", target, "wrong-password")),
        )
        .await;
        let checked = answers.iter().filter(|s| **s == 401).count();
        let throttled = answers.iter().filter(|s| **s == 429).count();
        assert_eq!(
            (checked, throttled),
            (5, 19),
            "{target}: 24 guesses at once: {answers:?}"
        );
    }
    t.finish().await;
}

#[tokio::test]
async fn guesses_from_elsewhere_do_not_lock_the_owner_out() {
    let t = TestStack::start().await;
    let tag = unique_tag();
    let email = format!("owner-{tag}@example.com");
    t.sign_up(&email, &format!("owner-{tag}")).await;
    for _ in 0..5 {
        assert_eq!(
            sign_in_from(&t, "203.0.113.50", &email, "wrong-password").await,
            401
        );
    }
    assert_eq!(
        sign_in_from(&t, "203.0.113.50", &email, "wrong-password").await,
        429,
        "the guessing address is throttled"
    );
    assert_eq!(
        sign_in_from(&t, "198.51.100.60", &email, "correct-horse").await,
        200,
        "the owner, elsewhere, still signs in"
    );
    t.finish().await;
}

/// Sends a login that claims an `Upgrade` and drips its body a byte every
/// half second; returns the head of the answer, if one came within 8 s.
async fn drip_fed_login(base: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connects");
    let (mut read, mut write) = stream.into_split();
    write
        .write_all(
            b"POST /users/login HTTP/1.1\r\nHost: shop\r\nUpgrade: websocket\r\n\
              Connection: upgrade\r\nContent-Type: application/json\r\n\
              Content-Length: 4096\r\n\r\n{",
        )
        .await
        .expect("sent");
    // The client sends its body a byte at a time, slowly, for as long as
    // the connection lets it.
    let dripping = tokio::spawn(async move {
        while write.write_all(b" ").await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    });
    let mut head = Vec::new();
    let answered = tokio::time::timeout(std::time::Duration::from_secs(8), async {
        let mut buf = [0u8; 512];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    dripping.abort();
    answered
        .ok()
        .map(|()| String::from_utf8_lossy(&head).into_owned())
}

#[tokio::test]
async fn a_drip_fed_request_claiming_an_upgrade_is_timed_out() {
    let t = TestStack::start_with(&[("REQUEST_TIMEOUT_SECS", "2")]).await;
    let users = t.stack.url("users").expect("running");
    for base in [t.gateway(), users] {
        let head = drip_fed_login(&base)
            .await
            .unwrap_or_else(|| panic!("{base}: still open after 8 s with a 2 s request timeout"));
        // Abandoned by the part's own limit (503), or by the gateway's wait
        // for the upstream, which gave up the same way (504).
        assert!(
            head.starts_with("HTTP/1.1 503") || head.starts_with("HTTP/1.1 504"),
            "{base}: {head}"
        );
    }
    t.finish().await;
}
