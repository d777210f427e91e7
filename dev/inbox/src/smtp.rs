//! The SMTP listener: each connection is driven through `mailin`'s session
//! state machine line by line; every completed `DATA` is stored.

use crate::store::{Inbox, Received};
use anyhow::Result;
use mailin::{Action, Handler, Response, SessionBuilder, response};
use std::{io, net::IpAddr, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::CancellationToken;

/// The longest line a client may send (RFC 5321 allows 1000 with CRLF; the
/// margin is for clients that fold carelessly).
const MAX_LINE: usize = 64 * 1024;
/// The largest message accepted.
const MAX_MESSAGE: usize = 10 * 1024 * 1024;
/// A client silent for this long is disconnected.
const IDLE: Duration = Duration::from_secs(60);
/// Sessions open at once; more wait to be accepted.
const MAX_SESSIONS: usize = 64;

/// One session's envelope and data, handed to the inbox at `DATA`'s end.
struct Session {
    inbox: Inbox,
    current: Received,
    size: usize,
}

impl Handler for Session {
    fn helo(&mut self, _ip: IpAddr, domain: &str) -> Response {
        self.current.helo = domain.to_owned();
        response::OK
    }

    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        self.current.from = from.to_owned();
        self.current.to.clear();
        self.current.raw.clear();
        self.size = 0;
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        self.current.to.push(to.to_owned());
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.size += buf.len();
        if self.size <= MAX_MESSAGE {
            self.current.raw.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if self.size > MAX_MESSAGE {
            return response::Response::custom(552, "Message too large".into());
        }
        let received = Received {
            helo: self.current.helo.clone(),
            from: std::mem::take(&mut self.current.from),
            to: std::mem::take(&mut self.current.to),
            raw: std::mem::take(&mut self.current.raw),
        };
        let id = self.inbox.deliver(received);
        tracing::info!(message_id = %id, "mail received");
        response::OK
    }
}

/// Accepts SMTP connections until `shutdown`; at most [`MAX_SESSIONS`] at
/// once, each closed after [`IDLE`] without a line.
pub async fn serve(listener: TcpListener, inbox: Inbox, shutdown: CancellationToken) -> Result<()> {
    let sessions = Arc::new(tokio::sync::Semaphore::new(MAX_SESSIONS));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            permit = sessions.clone().acquire_owned() => permit?,
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            // Out of descriptors, say: the listener stays, and tries again.
            Err(e) => {
                tracing::warn!(error = %e, "accepting an SMTP connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let inbox = inbox.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tokio::select! {
                _ = shutdown.cancelled() => {}
                done = session(socket, peer.ip(), inbox) => {
                    if let Err(e) = done {
                        tracing::debug!(error = %e, "SMTP session ended with an error");
                    }
                }
            }
        });
    }
}

async fn session(socket: TcpStream, ip: IpAddr, inbox: Inbox) -> io::Result<()> {
    let handler = Session {
        inbox,
        current: Received::default(),
        size: 0,
    };
    let mut session = SessionBuilder::new("shop-inbox").build(ip, handler);
    let mut stream = BufReader::new(socket);
    stream.write_all(&session.greeting().buffer()?).await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = tokio::time::timeout(
            IDLE,
            (&mut stream)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut line),
        )
        .await;
        let read = match read {
            Ok(read) => read?,
            Err(_) => {
                stream
                    .write_all(b"421 4.4.2 Idle for too long, closing\r\n")
                    .await?;
                return Ok(());
            }
        };
        if read == 0 {
            return Ok(());
        }
        // A line cut at the limit must not reach the session as if it were
        // whole: a piece reading "." would end the message early.
        if !line.ends_with(b"\n") {
            stream
                .write_all(b"500 5.5.2 Line too long, closing\r\n")
                .await?;
            return Ok(());
        }
        let reply = session.process(&line);
        match reply.action {
            Action::NoReply => {}
            Action::Close => {
                stream.write_all(&reply.buffer()?).await?;
                return Ok(());
            }
            _ => stream.write_all(&reply.buffer()?).await?,
        }
    }
}
