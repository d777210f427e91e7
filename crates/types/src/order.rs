//! Orders: lines carry the name and price copied when the order was placed.

use crate::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OrderStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => Self::Pending,
            "confirmed" => Self::Confirmed,
            "shipped" => Self::Shipped,
            "delivered" => Self::Delivered,
            "cancelled" => Self::Cancelled,
            other => return Err(format!("unknown order status `{other}`")),
        })
    }
}

/// For database rows (`#[sqlx(try_from = "String")]`): an unknown status
/// is an error, never a guess.
impl TryFrom<String> for OrderStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct OrderItem {
    pub id: i64,
    pub order_id: i64,
    pub product_id: i64,
    pub product_name: String,
    pub product_price: Money,
    pub quantity: i32,
    pub subtotal: Money,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Order {
    pub id: i64,
    pub user_id: i64,
    pub status: OrderStatus,
    pub total_amount: Money,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub items: Vec<OrderItem>,
    /// Every status the order took, oldest first: `pending` is when it was
    /// placed. (An addition to API.md's order.)
    #[serde(default)]
    pub timeline: Vec<OrderEvent>,
}

/// One step of an order's life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct OrderEvent {
    pub status: OrderStatus,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrderLineRequest {
    #[cfg_attr(feature = "server", schema(minimum = 1))]
    #[serde(deserialize_with = "crate::whole::i64")]
    pub product_id: i64,
    #[cfg_attr(feature = "server", schema(minimum = 1, maximum = 1000))]
    #[serde(deserialize_with = "crate::whole::i32")]
    pub quantity: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// Digits, optionally grouped by single spaces or dashes. The simulated
    /// payment declines `4000000000000002` and approves any other number.
    #[cfg_attr(feature = "server", schema(schema_with = card_number_schema))]
    pub card_number: String,
}

#[cfg(feature = "server")]
fn card_number_schema() -> utoipa::openapi::Object {
    crate::text::schema(1, 64, crate::text::CARD_NUMBER)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    /// Repeated products are merged into one line.
    #[cfg_attr(feature = "server", schema(min_items = 1, max_items = 100))]
    pub items: Vec<OrderLineRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentRequest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StatusUpdateRequest {
    pub status: OrderStatus,
}

#[cfg(test)]
mod tests {
    use super::OrderStatus;

    #[test]
    fn a_stored_status_reads_back_or_is_refused() {
        for s in ["pending", "confirmed", "shipped", "delivered", "cancelled"] {
            assert_eq!(OrderStatus::try_from(s.to_owned()).unwrap().as_str(), s);
        }
        assert!(OrderStatus::try_from("paid".to_owned()).is_err());
    }
}
