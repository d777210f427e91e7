//! `GET /ws/notifications`: live pushes for the signed-in user. Credentials
//! come from the session cookie, the `Authorization` header or `?token=`;
//! without them the upgrade is refused with 401.

use crate::AppState;
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
use shop_types::{ClientMessage, ServerMessage};
use std::sync::Arc;
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
        (status = 101, description = "Upgraded. Server sends `connected`, answers `ping` with `pong`, and pushes `notification` messages about your own orders"),
        (status = 401, description = "No valid credentials"),
    ),
    security(("cookie" = []), ("bearer" = [])))]
pub async fn upgrade(
    State(state): State<AppState>,
    SocketUser(user): SocketUser,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| session(socket, state.hub, state.sockets, user))
}

fn text(message: &ServerMessage) -> Option<Message> {
    serde_json::to_string(message)
        .ok()
        .map(|t| Message::Text(t.into()))
}

async fn session(
    socket: WebSocket,
    hub: Arc<crate::hub::Hub>,
    stopping: CancellationToken,
    user: Identity,
) {
    let (mut sink, mut stream) = socket.split();
    let (_registration, mut pushes) = hub.register(user.user_id);
    tracing::info!(user_id = user.user_id, "socket connected");
    let hello = ServerMessage::Connected {
        message: format!("Connected as user {}", user.user_id),
    };
    if let Some(m) = text(&hello)
        && sink.send(m).await.is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            () = stopping.cancelled() => {
                // 1012: service restart — the client should come back later.
                let close = CloseFrame { code: 1012, reason: "service restarting".into() };
                let _ = sink.send(Message::Close(Some(close))).await;
                break;
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(t))) => {
                    if let Ok(ClientMessage::Ping) = serde_json::from_str(&t)
                        && let Some(m) = text(&ServerMessage::Pong)
                        && sink.send(m).await.is_err()
                    {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            push = pushes.recv() => match push.as_ref().and_then(text) {
                Some(m) => if sink.send(m).await.is_err() { break },
                None => break,
            },
        }
    }
    tracing::info!(user_id = user.user_id, "socket closed");
}
