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
        // The gateway passes a method no route takes on to the service.
        assert_eq!(status, 405, "wrong method on {base}");
        assert!(allow.is_some_and(|a| a.contains("GET")), "Allow on {base}");
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
        assert_eq!(status, 422, "bad path id on {base}: {detail}");
        assert!(detail.contains(r#"["path","id"]"#), "{detail}");
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

/// A chunked body declares no length, so it cannot be refused before it is
/// read: the gateway reads it up to the limit and answers 413, never a
/// half-forwarded upload.
#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_at_the_gateway() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = TestStack::start().await;
    let addr = t.gateway().trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("gateway");
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST /users/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    // Written alongside the read: the gateway answers before it has it all.
    let upload = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..32 {
            write
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            write.write_all(&chunk).await?;
            write.write_all(b"\r\n").await?;
        }
        write.write_all(b"0\r\n\r\n").await
    });
    let mut answer = Vec::new();
    let _ = read.read_to_end(&mut answer).await;
    let _ = upload.await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "{}",
        answer.lines().next().unwrap_or("")
    );
    assert!(answer.contains(r#"{"detail":"#), "{answer}");
    t.finish().await;
}
