//! One error shape everywhere: an unknown route, a wrong method, a path the
//! route cannot parse and a body over the limit all answer `{"detail": ...}`
//! — from the gateway, the web front and each service reached directly.

use reqwest::{Method, header};
use shop_testkit::{Shop, TestStack};

async fn call(
    t: &TestStack,
    method: Method,
    url: &str,
    body: Option<Vec<u8>>,
) -> reqwest::Response {
    let mut req = t.client().request(method, url);
    if let Some(body) = body {
        req = req
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
    }
    req.send().await.expect("answered")
}

async fn detail_of(resp: reqwest::Response) -> (u16, String, Option<String>) {
    let status = resp.status().as_u16();
    let allow = resp
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        ct.starts_with("application/json"),
        "{status}: content-type {ct:?}"
    );
    let body: serde_json::Value = resp.json().await.expect("a JSON body");
    let detail = body["detail"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| {
            body["detail"]
                .is_array()
                .then(|| body["detail"].to_string())
        })
        .unwrap_or_else(|| panic!("{status}: no detail in {body}"));
    (status, detail, allow)
}

#[tokio::test]
async fn every_part_answers_errors_with_a_detail() {
    let t = TestStack::start().await;
    let url = |part: &str| t.stack.url(part).expect("running");
    let big = vec![b' '; 2 * 1024 * 1024];
    for base in [
        t.gateway(),
        format!("{}/api", url("web")),
        url("users"),
        url("products"),
        url("orders"),
        url("notifications"),
    ] {
        let (status, _, _) =
            detail_of(call(&t, Method::GET, &format!("{base}/no/such/route"), None).await).await;
        assert_eq!(status, 404, "unknown route on {base}");

        let (status, detail, _) = detail_of(
            call(
                &t,
                Method::POST,
                &format!("{base}/users/register"),
                Some(big.clone()),
            )
            .await,
        )
        .await;
        assert_eq!(status, 413, "2 MiB body on {base}: {detail}");
    }
    for base in [t.gateway(), url("products")] {
        let (status, _, allow) = detail_of(
            call(
                &t,
                Method::DELETE,
                &format!("{base}/products/categories"),
                None,
            )
            .await,
        )
        .await;
        assert!(
            status == 405 || status == 401,
            "wrong method on {base}: {status}"
        );
        if status == 405 {
            assert!(allow.is_some_and(|a| a.contains("GET")), "Allow on {base}");
        }
        let (status, detail, _) = detail_of(
            call(
                &t,
                Method::GET,
                &format!("{base}/products/not-a-number"),
                None,
            )
            .await,
        )
        .await;
        assert!(
            (400..500).contains(&status),
            "bad path id on {base}: {status} {detail}"
        );
    }
    let (status, _, allow) = detail_of(
        call(
            &t,
            Method::PUT,
            &format!("{}/users/login", url("users")),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 405);
    assert!(allow.is_some_and(|a| a.contains("POST")));

    // Strict JSON: data after the object, or an array for the object.
    let good =
        br#"{"email": "strict@example.com", "username": "strict", "password": "correct-horse"}"#;
    let mut trailing = good.to_vec();
    trailing.extend_from_slice(b" garbage");
    let array = br#"["strict@example.com", "strict", "correct-horse"]"#.to_vec();
    for (what, body) in [("trailing data", trailing), ("an array", array)] {
        for base in [t.gateway(), url("users")] {
            let (status, detail, _) = detail_of(
                call(
                    &t,
                    Method::POST,
                    &format!("{base}/users/register"),
                    Some(body.clone()),
                )
                .await,
            )
            .await;
            assert_eq!(status, 422, "{what} on {base}: {detail}");
        }
    }

    // Nothing was written by the refused bodies.
    let db = t.db("users").await;
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'customer'")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(users, 0);
    t.finish().await;
}
