//! Below the router: a head too large or malformed, a head that never
//! finishes, and more connections than allowed. Raw TCP, as a hostile client
//! sends it.

use axum::{Router, routing::get};
use shop_platform::{Service, conn::ConnectionLimits};
use std::{net::SocketAddr, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_util::sync::CancellationToken;

struct Served {
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Served {
    async fn start(limits: ConnectionLimits) -> Self {
        let router = Router::new().route("/hello", get(|| async { "hello" }));
        let service = Service::bind_addr(
            "conn-test",
            [127, 0, 0, 1].into(),
            0,
            Duration::from_secs(30),
            router,
        )
        .await
        .unwrap()
        .with_limits(limits);
        let addr = service.local_addr();
        let stop = CancellationToken::new();
        let task = tokio::spawn(service.run(stop.clone()));
        Self { addr, stop, task }
    }

    async fn finish(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// Sends `bytes` and reads the answer until the server closes or 10 s pass.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // A server may close before reading everything sent.
    let _ = s.write_all(bytes).await;
    read_to_close(&mut s).await
}

async fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

fn assert_json_answer(answer: &str, status: &str) {
    assert!(
        answer.starts_with(&format!("HTTP/1.1 {status} ")),
        "expected {status}, got {answer:?}"
    );
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn a_head_too_large_or_malformed_is_answered_in_json() {
    let served = Served::start(ConnectionLimits::default()).await;

    let big = format!(
        "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    assert_json_answer(&exchange(served.addr, big.as_bytes()).await, "431");
    assert_json_answer(
        &exchange(served.addr, b"NOT AN HTTP REQUEST\r\n\r\n").await,
        "400",
    );
    assert_json_answer(
        &exchange(served.addr, b"GET /hello HTTP/1.1\r\nHo st: x\r\n\r\n").await,
        "400",
    );
    // A good request on the same server still works.
    let ok = exchange(
        served.addr,
        b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        ok.starts_with("HTTP/1.1 200 ") && ok.ends_with("hello"),
        "{ok}"
    );
    served.finish().await;
}

#[tokio::test]
async fn a_head_that_never_finishes_is_answered_408() {
    let served = Served::start(ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        ..ConnectionLimits::default()
    })
    .await;
    let mut s = TcpStream::connect(served.addr).await.unwrap();
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    let started = tokio::time::Instant::now();
    let answer = read_to_close(&mut s).await;

    assert_json_answer(&answer, "408");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed at the deadline"
    );
    served.finish().await;
}

#[tokio::test]
async fn connections_past_the_limit_wait_for_a_free_slot() {
    let served = Served::start(ConnectionLimits {
        max_connections: 2,
        ..ConnectionLimits::default()
    })
    .await;
    let request = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(served.addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        held.push(s);
    }

    // The kernel completes the handshake, but nobody serves the third.
    let mut third = TcpStream::connect(served.addr).await.unwrap();
    third.write_all(request).await.unwrap();
    let mut buf = [0u8; 12];
    let unserved =
        tokio::time::timeout(Duration::from_millis(500), third.read_exact(&mut buf)).await;
    assert!(
        unserved.is_err(),
        "a third connection was served past the limit of 2"
    );

    drop(held.pop());
    tokio::time::timeout(Duration::from_secs(10), third.read_exact(&mut buf))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    drop((held, third));
    served.finish().await;
}
