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

pub const ORDER_CREATED: &str = "order.created";
pub const ORDER_STATUS_UPDATED: &str = "order.status.updated";

/// `order.created` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCreated {
    pub order_id: i64,
    pub user_id: i64,
    pub user_email: String,
    pub total_amount: crate::Money,
    pub status: crate::OrderStatus,
    pub items: Vec<OrderCreatedItem>,
    /// The title of the email and the toast, written once by the orders
    /// service (empty in events from before it was carried).
    #[serde(default)]
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCreatedItem {
    pub product_id: i64,
    pub product_name: String,
    pub quantity: i32,
    pub price: crate::Money,
}

impl OrderCreatedItem {
    /// The line's frozen price times its quantity.
    pub fn subtotal(&self) -> crate::Money {
        self.price.times(self.quantity)
    }
}

/// `order.status.updated` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderStatusUpdated {
    pub order_id: i64,
    pub user_id: i64,
    pub user_email: String,
    pub old_status: crate::OrderStatus,
    pub new_status: crate::OrderStatus,
    pub updated_by: String,
    /// As in [`OrderCreated::subject`].
    #[serde(default)]
    pub subject: String,
}
