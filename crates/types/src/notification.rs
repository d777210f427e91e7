//! Notifications and the live push messages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationType {
    OrderConfirmation,
    OrderStatusUpdate,
}

impl NotificationType {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::OrderConfirmation => "order_confirmation",
            Self::OrderStatusUpdate => "order_status_update",
        }
    }
}

/// For database rows (`#[sqlx(try_from = "String")]`): an unknown type is
/// an error, never a guess.
impl TryFrom<String> for NotificationType {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Ok(match s.as_str() {
            "order_confirmation" => Self::OrderConfirmation,
            "order_status_update" => Self::OrderStatusUpdate,
            other => return Err(format!("unknown notification type `{other}`")),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    Sent,
    Failed,
    /// Claimed by a sender that has not recorded how it went; a sender that
    /// died leaves it so until its claim runs out, after which an admin may
    /// retry it.
    Sending,
}

impl NotificationStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Sending => "sending",
        }
    }
}

impl std::str::FromStr for NotificationStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            "sending" => Self::Sending,
            other => return Err(format!("unknown notification status `{other}`")),
        })
    }
}

/// For database rows, as [`NotificationType`].
impl TryFrom<String> for NotificationStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub recipient_email: String,
    pub subject: String,
    pub order_id: Option<i64>,
    pub user_id: Option<i64>,
    pub status: NotificationStatus,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct NotificationList {
    pub notifications: Vec<Notification>,
    pub total: i64,
}

/// What the server pushes over `/ws/notifications`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMessage {
    Connected { message: String },
    Pong,
    Notification { data: PushNotification },
}

/// The largest message a client may send on `/ws/notifications` (a ping is
/// 15 bytes); a larger one closes the socket with 1009.
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 4096;
/// What the WebSocket layer reads at most before giving up on a frame.
pub const MAX_WS_FRAME_BYTES: usize = 64 * 1024;

/// What a client sends: only the keepalive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMessage {
    Ping,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushNotification {
    pub event_type: String,
    pub subject: String,
    pub message: String,
    pub order_id: Option<i64>,
    pub timestamp: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_messages_match_the_contract() {
        let pong = serde_json::to_value(ServerMessage::Pong).unwrap();
        assert_eq!(pong, serde_json::json!({"type": "pong"}));
        let ping: ClientMessage = serde_json::from_str(r#"{"type":"ping"}"#).unwrap();
        assert_eq!(ping, ClientMessage::Ping);
        let connected = serde_json::to_value(ServerMessage::Connected {
            message: "hi".into(),
        })
        .unwrap();
        assert_eq!(
            connected,
            serde_json::json!({"type": "connected", "message": "hi"})
        );
    }
}
