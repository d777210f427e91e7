//! `GET /ws/notifications`: live pushes for the signed-in user. Credentials
//! come from the session cookie, the `Authorization` header or `?token=`;
//! without them the upgrade is refused with 401. Limits: a client message
//! over [`MAX_CLIENT_MESSAGE_BYTES`] closes the socket with 1009, a user has
//! at most `WS_MAX_SOCKETS_PER_USER` open (429 past it), and a socket whose
//! client sends nothing for `WS_IDLE_SECS` is closed.

use crate::{AppState, SocketLimits, error::Error};
use axum::{
    Router,
    extract::{
        FromRequestParts, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    http::request::Parts,
    response::Response,
    routing::get,
};
use futures::{SinkExt, StreamExt};
use shop_auth::Identity;
use shop_platform::ApiError;
use shop_types::{ClientMessage, MAX_CLIENT_MESSAGE_BYTES, MAX_WS_FRAME_BYTES, ServerMessage};
use std::sync::Arc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws/notifications", get(upgrade))
}

/// The identity behind an upgrade request.
pub struct SocketUser(pub Identity);

impl FromRequestParts<AppState> for SocketUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state.auth.authenticate_socket(parts).await.map(SocketUser)
    }
}

#[utoipa::path(get, path = "/ws/notifications", tag = "notifications",
    params(("token" = Option<String>, Query, description = "Access token, when neither the cookie nor the header can be sent")),
    responses(
        (status = 101, description = "Upgraded. Server sends `{\"type\":\"connected\",\"message\"}`, answers `{\"type\":\"ping\"}` with `{\"type\":\"pong\"}`, and pushes `{\"type\":\"notification\",\"data\":{event_type, subject, message, order_id, timestamp}}` about your own orders. A client message over 4 KiB closes the socket with 1009; a socket that sends nothing for `WS_IDLE_SECS` (90 s) is closed with 1000; a restart closes with 1012; the session's logout, the account's deactivation or the token's expiry closes it with 1008 (`session ended`, `token expired`) within `REVOCATION_POLL_MS` + 1 s"),
        (status = 401, description = "No valid credentials", body = shop_types::ErrorBody),
        (status = 403, description = "A cookie-authenticated upgrade from a foreign Origin", body = shop_types::ErrorBody),
        (status = 400, description = "Not a WebSocket upgrade (no `Connection: upgrade`, `Upgrade: websocket` or `Sec-WebSocket-Key`)", body = shop_types::ErrorBody),
        (status = 426, description = "The connection cannot be upgraded", body = shop_types::ErrorBody),
        (status = 429, description = "Too many open sockets for this user (`WS_MAX_SOCKETS_PER_USER`)", body = shop_types::ErrorBody),
    ),
    security(("cookie" = []), ("bearer" = [])))]
pub async fn upgrade(
    State(state): State<AppState>,
    SocketUser(user): SocketUser,
    ws: WebSocketUpgrade,
) -> Result<Response, Error> {
    let limits = state.socket_limits;
    if state.hub.connections(user.user_id) >= limits.per_user {
        return Err(Error::TooManySockets {
            cap: limits.per_user,
        });
    }
    Ok(ws
        .max_message_size(MAX_WS_FRAME_BYTES)
        .max_frame_size(MAX_WS_FRAME_BYTES)
        .on_upgrade(move |socket| {
            let revocations = state.auth.verifier.revocations().clone();
            session(socket, state.hub, state.sockets, limits, user, revocations)
        }))
}

fn text(message: &ServerMessage) -> Option<Message> {
    serde_json::to_string(message)
        .ok()
        .map(|t| Message::Text(t.into()))
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

async fn session(
    socket: WebSocket,
    hub: Arc<crate::app::hub::Hub>,
    stopping: CancellationToken,
    limits: SocketLimits,
    user: Identity,
    revocations: shop_auth::Revocations,
) {
    let (mut sink, mut stream) = socket.split();
    // Checked again under the hub's lock: upgrades racing past the first
    // check cannot overshoot the cap.
    let Some((_registration, mut pushes)) = hub.register(user.user_id, limits.per_user) else {
        let _ = sink.send(close(1008, "too many open connections")).await;
        return;
    };
    tracing::info!(user_id = user.user_id, "socket connected");
    let hello = ServerMessage::Connected {
        message: format!("Connected as user {}", user.user_id),
    };
    if let Some(m) = text(&hello)
        && sink.send(m).await.is_err()
    {
        return;
    }
    let mut idle_until = Instant::now() + limits.idle;
    // A logout, a deactivation or the token's expiry ends the socket too.
    let ended = revocations.ended(&user.session, user.expires_at);
    tokio::pin!(ended);
    loop {
        tokio::select! {
            why = &mut ended => {
                tracing::info!(user_id = user.user_id, reason = why.reason(), "socket's session ended");
                let _ = sink.send(close(why.code(), why.reason())).await;
                break;
            }
            () = stopping.cancelled() => {
                // 1012: service restart — the client should come back later.
                let _ = sink.send(close(1012, "service restarting")).await;
                break;
            }
            () = tokio::time::sleep_until(idle_until) => {
                let _ = sink.send(close(1000, "idle")).await;
                break;
            }
            incoming = stream.next() => {
                idle_until = Instant::now() + limits.idle;
                match incoming {
                    Some(Ok(Message::Text(t))) if t.len() > MAX_CLIENT_MESSAGE_BYTES => {
                        let _ = sink.send(close(1009, "message too big")).await;
                        break;
                    }
                    Some(Ok(Message::Binary(b))) if b.len() > MAX_CLIENT_MESSAGE_BYTES => {
                        let _ = sink.send(close(1009, "message too big")).await;
                        break;
                    }
                    Some(Ok(Message::Text(t))) => {
                        if let Ok(ClientMessage::Ping) = serde_json::from_str(&t)
                            && let Some(m) = text(&ServerMessage::Pong)
                            && sink.send(m).await.is_err()
                        {
                            break;
                        }
                    }
                    // A frame past the WebSocket layer's own limit.
                    Some(Err(e)) => {
                        tracing::info!(user_id = user.user_id, error = %e, "socket read failed");
                        let _ = sink.send(close(1009, "message too big")).await;
                        break;
                    }
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => {}
                }
            }
            push = pushes.recv() => match push.as_ref().and_then(text) {
                Some(m) => if sink.send(m).await.is_err() { break },
                None => break,
            },
        }
    }
    tracing::info!(user_id = user.user_id, "socket closed");
}
