//! Serving connections: what happens below the router.
//!
//! hyper parses each request head; this module bounds what a client can do
//! before a request reaches the router:
//! - at most [`ConnectionLimits::max_connections`] open connections per
//!   process (WebSockets included); past that, new ones wait in the
//!   kernel's backlog until one closes;
//! - a request head must arrive whole within
//!   [`ConnectionLimits::header_read_timeout`] of its first byte, else the
//!   client gets 408, and a new connection must send its first head within
//!   it too; a kept-alive connection that sends nothing for
//!   [`ConnectionLimits::idle_timeout`] after an answer is closed;
//! - a head larger than [`MAX_HEAD_BYTES`] gets 431, a malformed one 400.
//!
//! Every one of those answers carries `{"detail": ...}` like every answer of
//! the router. hyper writes its own answers to a bad head (empty, with
//! `content-length: 0`); [`Guarded`] recognises exactly those on their way
//! out and writes the JSON one instead.

use axum::{Router, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Sleep,
};
use tokio_util::sync::CancellationToken;

/// The largest request head (request line and headers) read.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From a request head's first byte to its last (`HEADER_READ_TIMEOUT_SECS`).
    pub header_read_timeout: Duration,
    /// A keep-alive connection waiting for its next request (`IDLE_TIMEOUT_SECS`):
    /// longer than any of the platform's own client pools keep one.
    pub idle_timeout: Duration,
    /// Open connections per process (`MAX_CONNECTIONS`).
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_connections: 4096,
        }
    }
}

impl ConnectionLimits {
    /// Reads `HEADER_READ_TIMEOUT_SECS`, `IDLE_TIMEOUT_SECS` and `MAX_CONNECTIONS`.
    pub fn from_env(env: &crate::config::Env) -> anyhow::Result<Self> {
        let d = Self::default();
        let limits = Self {
            header_read_timeout: Duration::from_secs(
                env.parse_or("HEADER_READ_TIMEOUT_SECS", d.header_read_timeout.as_secs())?,
            ),
            idle_timeout: Duration::from_secs(
                env.parse_or("IDLE_TIMEOUT_SECS", d.idle_timeout.as_secs())?,
            ),
            max_connections: env.parse_or("MAX_CONNECTIONS", d.max_connections)?,
        };
        anyhow::ensure!(
            limits.max_connections > 0
                && !limits.header_read_timeout.is_zero()
                && !limits.idle_timeout.is_zero(),
            "MAX_CONNECTIONS, HEADER_READ_TIMEOUT_SECS and IDLE_TIMEOUT_SECS must be above 0"
        );
        Ok(limits)
    }
}

/// Accepts and serves connections until `shutdown`, then lets each finish
/// its request in flight and returns once all are closed.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Each connection's task holds a receiver: all are dropped once every
    // task has ended. A connection that became a WebSocket has left its task
    // (its service closes it at shutdown) but keeps its slot while open.
    let (tasks_done, task_alive) = tokio::sync::watch::channel(());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(MAX_HEAD_BYTES);
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let (stream, remote) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!(service = name, error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        metrics::gauge!("http_connections_open", "service" => name).increment(1.0);
        let in_request = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(tokio::sync::Notify::new());
        let io = Guarded::new(
            stream,
            limits,
            in_request.clone(),
            refused.clone(),
            permit,
            name,
        );
        let router = router.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            // From the head hyper hands over until the answer's body is
            // written (or abandoned), no connection deadline runs: the
            // router's request timeout does.
            in_request.store(true, Ordering::Release);
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(ConnectInfo(remote));
            let answered = Answered(in_request.clone());
            let answer = tower::ServiceExt::oneshot(router.clone(), req);
            async move {
                let Ok(response) = answer.await;
                Ok::<_, std::convert::Infallible>(response.map(|body| Tracked {
                    body,
                    _answered: answered,
                }))
            }
        });
        let conn = http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let shutdown = shutdown.clone();
        let alive = task_alive.clone();
        tokio::spawn(async move {
            let _alive = alive;
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                // The JSON answer to a bad head is out: the connection is
                // over, whatever hyper still waits for.
                () = refused.notified() => {}
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    // No new connection waits in the backlog while the others finish.
    drop(listener);
    drop(task_alive);
    tasks_done.closed().await;
}

/// Clears the connection's in-request mark when dropped: hyper drops an
/// answer's body once it is written whole, or abandoned.
struct Answered(Arc<AtomicBool>);

impl Drop for Answered {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// An answer's body, carrying its [`Answered`] mark.
struct Tracked {
    body: axum::body::Body,
    _answered: Answered,
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection's socket, with the head and idle deadlines and the JSON
/// answers to a bad head. Holds its slot of `max_connections` until closed.
struct Guarded {
    inner: TcpStream,
    limits: ConnectionLimits,
    /// Set while a request is being answered (see [`serve`]): no deadline
    /// runs meanwhile (the router's request timeout does).
    in_request: Arc<AtomicBool>,
    /// Told once the JSON answer to a bad head has been written whole.
    refused: Arc<tokio::sync::Notify>,
    /// A request has been answered here: until then, waiting counts as
    /// waiting for a head.
    answered_one: bool,
    /// The start of a request head came since the last request: bytes that
    /// begin with a method's first letter (what hyper drains of an unread
    /// body after an answer does not count).
    partial: bool,
    /// The connection became a WebSocket: its own protocol rules it now.
    upgraded: bool,
    /// The head deadline while a head is due, else the idle one.
    timer: Option<Pin<Box<Sleep>>>,
    /// A head was cut off by its deadline: 408 is written as the socket closes.
    timed_out: bool,
    /// Bytes read since the last request was handed over: past
    /// [`MAX_HEAD_BYTES`] without a complete head, 431 is written as the
    /// socket closes (hyper's own buffer limit is looser).
    head_bytes: usize,
    too_large: bool,
    /// The JSON answer that replaces hyper's own, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
    service: &'static str,
    _slot: OwnedSemaphorePermit,
}

impl Guarded {
    fn new(
        inner: TcpStream,
        limits: ConnectionLimits,
        in_request: Arc<AtomicBool>,
        refused: Arc<tokio::sync::Notify>,
        slot: OwnedSemaphorePermit,
        service: &'static str,
    ) -> Self {
        Self {
            inner,
            limits,
            in_request,
            refused,
            answered_one: false,
            partial: false,
            upgraded: false,
            timer: None,
            timed_out: false,
            head_bytes: 0,
            too_large: false,
            replacement: None,
            service,
            _slot: slot,
        }
    }

    /// Notes an answer's head on its way out; returns the JSON answer that
    /// replaces it when it is hyper's own answer to a bad head.
    fn outgoing(&mut self, buf: &[u8]) -> Option<Vec<u8>> {
        let status = response_status(buf)?;
        // 101 ends HTTP on this socket: the WebSocket's own rules hold now.
        self.upgraded |= status == 101;
        if self.in_request.load(Ordering::Acquire) {
            return None;
        }
        hyper_error_answer(status, buf)
    }

    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                self.replacement = None;
                // hyper may wait on after its answer to a bad head (it has
                // closed its reading side); the connection ends here.
                let _ = Pin::new(&mut self.inner).poll_shutdown(cx);
                self.refused.notify_one();
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.upgraded || this.in_request.load(Ordering::Acquire) {
            this.timer = None;
            this.partial = false;
            this.answered_one = true;
            this.head_bytes = 0;
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if !this.partial && new.first().is_some_and(u8::is_ascii_uppercase) {
                    this.partial = true;
                    this.timer = None;
                }
                if this.partial {
                    this.head_bytes += new.len();
                    if this.head_bytes > MAX_HEAD_BYTES {
                        this.too_large = true;
                        return Poll::Ready(Err(io::Error::other("request head too large")));
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                // A head is due once its first bytes came, and from a new
                // connection; otherwise the connection is idle between requests.
                let limit = if this.partial || !this.answered_one {
                    this.limits.header_read_timeout
                } else {
                    this.limits.idle_timeout
                };
                let sleep = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.timer = None;
                if this.partial {
                    this.timed_out = true;
                    metrics::counter!("http_header_timeouts_total", "service" => this.service)
                        .increment(1);
                }
                Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        if let Some(answer) = this.outgoing(buf) {
            this.replacement = Some((answer, 0));
            let _ = this.poll_replacement(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && let Some(answer) = this.outgoing(first)
        {
            this.replacement = Some((answer, 0));
            let _ = this.poll_replacement(cx)?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // Small enough for any socket buffer; the socket closes next.
        let answer = if self.too_large {
            Some(json_answer(
                431,
                "Request Header Fields Too Large",
                "The request's headers are too large",
            ))
        } else if self.timed_out {
            Some(json_answer(
                408,
                "Request Timeout",
                "The request head did not arrive in time",
            ))
        } else {
            None
        };
        if let Some(answer) = answer {
            let _ = self.inner.try_write(&answer);
        }
        metrics::gauge!("http_connections_open", "service" => self.service).decrement(1.0);
    }
}

/// The status of an HTTP/1.1 answer's head at the start of `buf`.
fn response_status(buf: &[u8]) -> Option<u16> {
    let rest = buf
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| buf.strip_prefix(b"HTTP/1.0 "))?;
    let digits = rest.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || rest.get(3) != Some(&b' ') {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// hyper's own answer to a head it could not read is a whole head alone,
/// with an empty body: `content-length: 0`. The router never answers these
/// statuses without a JSON body.
fn hyper_error_answer(status: u16, buf: &[u8]) -> Option<Vec<u8>> {
    let (reason, detail) = match status {
        400 => ("Bad Request", "The request could not be read as HTTP/1.1"),
        414 => ("URI Too Long", "The request's URI is too long"),
        431 => (
            "Request Header Fields Too Large",
            "The request's headers are too large",
        ),
        _ => return None,
    };
    let whole_head =
        buf.ends_with(b"\r\n\r\n") && buf.windows(4).filter(|w| w == b"\r\n\r\n").count() == 1;
    let empty = buf
        .windows(19)
        .any(|w| w.eq_ignore_ascii_case(b"\r\ncontent-length: 0"));
    (whole_head && empty).then(|| json_answer(status, reason, detail))
}

fn json_answer(status: u16, reason: &str, detail: &str) -> Vec<u8> {
    let body = serde_json::json!({ "detail": detail }).to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyper_s_own_empty_answers_are_replaced() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sat, 05 Dec 2026 10:00:00 GMT\r\n\r\n";
        let answer = hyper_error_answer(431, hyper_431).expect("replaced");
        let text = String::from_utf8(answer).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 "));
        assert!(text.ends_with(r#"{"detail":"The request's headers are too large"}"#));

        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n";
        assert_eq!(hyper_error_answer(400, ours), None);
        let with_body =
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(hyper_error_answer(400, with_body), None);
        assert_eq!(response_status(b"HTTP/1.1 101 Switching"), Some(101));
        assert_eq!(response_status(b"HTTP/1.0 200 OK"), Some(200));
        assert_eq!(response_status(b"{\"HTTP/1.1 200"), None);
    }
}
