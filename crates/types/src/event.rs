//! The envelope of every event on the `order-events` topic.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `{event_id, event_type, timestamp, correlation_id, data}`. Consumers treat a
/// repeated `event_id` as already handled (delivery is at least once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope<T> {
    pub event_id: Uuid,
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    /// The request id of the request that caused the event.
    pub correlation_id: String,
    pub data: T,
}
