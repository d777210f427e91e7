//! Limits on the live connection: a client message over 4 KiB closes the
//! socket with 1009 (through the gateway and directly), one user has at most
//! `WS_MAX_SOCKETS_PER_USER` open, and a socket whose client is silent for
//! `WS_IDLE_SECS` is closed while one that pings stays open.

use futures::{SinkExt, StreamExt};
use shop_testkit::{Shop, TestStack, unique_tag};
use std::time::{Duration, Instant};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Error, Message, client::IntoClientRequest, protocol::CloseFrame},
};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(base: &str, token: &str) -> Result<Socket, Error> {
    let url = format!("{}/ws/notifications", base.replacen("http", "ws", 1));
    let mut req = url.into_client_request()?;
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (mut ws, _) = connect_async(req).await?;
    let hello = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
    assert!(
        matches!(hello, Ok(Some(Ok(Message::Text(ref t)))) if t.contains("connected")),
        "greeting: {hello:?}"
    );
    Ok(ws)
}

/// The close frame the server sends within `limit`, skipping other messages.
async fn closed_with(ws: &mut Socket, limit: Duration) -> Option<CloseFrame> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, ws.next()).await.ok()? {
            Some(Ok(Message::Close(frame))) => return frame,
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

#[tokio::test]
async fn a_client_message_over_four_kib_closes_the_socket_with_1009() {
    let t = TestStack::start().await;
    let tag = unique_tag();
    let token = t
        .sign_up(&format!("big-{tag}@example.com"), &format!("big{tag}"))
        .await;
    let direct = t.stack.url("notifications").expect("running");
    for base in [t.gateway(), direct] {
        let mut ws = open(&base, &token).await.expect("opens");
        // A small message is fine.
        ws.send(Message::Text(r#"{"type":"ping"}"#.into()))
            .await
            .expect("sent");
        let _ = ws.send(Message::Text("x".repeat(8 * 1024).into())).await;
        let frame = closed_with(&mut ws, Duration::from_secs(5)).await;
        assert_eq!(frame.map(|f| u16::from(f.code)), Some(1009), "via {base}");

        // A frame past the 64 KiB the WebSocket layer reads at all: the
        // server stops at its header and closes (with 1009 when the client
        // is still there to read it; else the connection just ends).
        let mut ws = open(&base, &token).await.expect("opens");
        let _ = ws.send(Message::Text("x".repeat(1024 * 1024).into())).await;
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break None,
                }
            }
        })
        .await;
        assert!(
            matches!(ended, Ok(None | Some(1009))),
            "1 MiB via {base}: the socket must end, got {ended:?}"
        );
    }
    t.finish().await;
}

#[tokio::test]
async fn one_user_gets_at_most_the_cap_of_open_sockets() {
    let t = TestStack::start_with(&[("WS_MAX_SOCKETS_PER_USER", "3")]).await;
    let tag = unique_tag();
    let token = t
        .sign_up(&format!("many-{tag}@example.com"), &format!("many{tag}"))
        .await;
    let other = t
        .sign_up(&format!("one-{tag}@example.com"), &format!("one{tag}"))
        .await;
    let gw = t.gateway();
    let mut open_ones = Vec::new();
    for _ in 0..3 {
        open_ones.push(open(&gw, &token).await.expect("under the cap"));
    }
    match open(&gw, &token).await {
        Err(Error::Http(resp)) => {
            assert_eq!(resp.status(), 429);
            let body: serde_json::Value =
                serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).expect("json");
            assert!(
                body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("at most 3")),
                "{body}"
            );
        }
        other => panic!(
            "the fourth socket must be refused with 429, got {:?}",
            other.map(|_| ())
        ),
    }
    let _theirs = open(&gw, &other)
        .await
        .expect("another user is not affected");

    // Closing one makes room.
    let mut first = open_ones.remove(0);
    first.close(None).await.expect("closed");
    let started = Instant::now();
    let reopened = loop {
        match open(&gw, &token).await {
            Ok(ws) => break ws,
            Err(_) if started.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("no room after a close: {e}"),
        }
    };
    drop(reopened);
    t.finish().await;
}

#[tokio::test]
async fn a_silent_socket_is_closed_and_a_pinging_one_stays_open() {
    let t = TestStack::start_with(&[("WS_IDLE_SECS", "1")]).await;
    let tag = unique_tag();
    let token = t
        .sign_up(&format!("idle-{tag}@example.com"), &format!("idle{tag}"))
        .await;
    let mut silent = open(&t.gateway(), &token).await.expect("opens");

    let frame = closed_with(&mut silent, Duration::from_secs(5)).await;
    let frame = frame.expect("the silent socket is closed");
    assert_eq!(
        (u16::from(frame.code), frame.reason.as_str()),
        (1000, "idle")
    );

    // Pinging more often than the idle limit, for more than twice of it.
    let mut chatty = open(&t.gateway(), &token).await.expect("opens");
    let started = Instant::now();
    let mut pongs = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        chatty
            .send(Message::Text(r#"{"type":"ping"}"#.into()))
            .await
            .expect("open");
        match tokio::time::timeout(Duration::from_secs(2), chatty.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.contains("pong") => pongs += 1,
            other => panic!("expected a pong, got {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(pongs >= 5, "{pongs} pongs");
    t.finish().await;
}

/// `REVOCATION_POLL_MS` of the test platforms (the default) and the second
/// the rule allows on top of it.
const SESSION_END_LIMIT: Duration = Duration::from_millis(1000 + 1000);

async fn user_id(t: &TestStack, token: &str) -> i64 {
    let (status, me) = t.get_as(token, "/users/me").await;
    assert_eq!(status, 200);
    me["id"].as_i64().expect("an id")
}

fn ended_with(frame: Option<CloseFrame>, reason: &str, via: &str) {
    let frame = frame.unwrap_or_else(|| panic!("via {via}: no close frame in time"));
    assert_eq!(u16::from(frame.code), 1008, "via {via}: {frame:?}");
    assert_eq!(frame.reason.as_str(), reason, "via {via}");
}

/// One socket through the gateway and one straight to the service.
async fn both_sockets(t: &TestStack, token: &str) -> (Socket, Socket) {
    let direct = t.stack.url("notifications").expect("running");
    let through_gateway = open(&t.gateway(), token).await.expect("opens");
    let at_the_service = open(&direct, token).await.expect("opens");
    (through_gateway, at_the_service)
}

/// Both sockets are closed within `limit` with 1008 and `reason`.
async fn both_ended(sockets: &mut (Socket, Socket), limit: Duration, reason: &str) {
    let (a, b) = tokio::join!(
        closed_with(&mut sockets.0, limit),
        closed_with(&mut sockets.1, limit),
    );
    ended_with(a, reason, "the gateway");
    ended_with(b, reason, "the service");
}

#[tokio::test]
async fn a_logout_closes_the_session_s_sockets_and_the_gateway_refuses_it_at_once() {
    let t = TestStack::start().await;
    let tag = unique_tag();
    let token = t
        .sign_up(&format!("out-{tag}@example.com"), &format!("out{tag}"))
        .await;
    let mut sockets = both_sockets(&t, &token).await;

    let out = t
        .client
        .post(format!("{}/users/logout", t.gateway()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 204);
    // The gateway that forwarded the logout knows at once; no poll to wait.
    let (status, _) = t.get_as(&token, "/orders").await;
    assert_eq!(status, 401, "the logged-out token is refused at once");

    both_ended(&mut sockets, SESSION_END_LIMIT, "session ended").await;
    t.finish().await;
}

#[tokio::test]
async fn deactivating_an_account_closes_its_sockets() {
    let t = TestStack::start().await;
    let tag = unique_tag();
    let admin = t.admin_token().await;
    let token = t
        .sign_up(&format!("gone-{tag}@example.com"), &format!("gone{tag}"))
        .await;
    let id = user_id(&t, &token).await;
    let mut sockets = both_sockets(&t, &token).await;

    let off = t
        .client
        .post(format!("{}/users/{id}/deactivate", t.gateway()))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("deactivate");
    assert!(off.status().is_success(), "deactivate: {}", off.status());
    both_ended(&mut sockets, SESSION_END_LIMIT, "session ended").await;
    t.finish().await;
}

#[tokio::test]
async fn a_socket_closes_when_its_token_expires() {
    let t = TestStack::start_with(&[("ACCESS_TOKEN_TTL_SECS", "3")]).await;
    let tag = unique_tag();
    let token = t
        .sign_up(&format!("late-{tag}@example.com"), &format!("late{tag}"))
        .await;
    let mut sockets = both_sockets(&t, &token).await;
    // Within the token's three seconds and one more.
    let limit = Duration::from_secs(4);
    both_ended(&mut sockets, limit, "token expired").await;
    t.finish().await;
}
