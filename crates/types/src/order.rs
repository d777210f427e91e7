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

/// The rules of an order's lines: checked by the orders service at its edge
/// and again, with the same words, by the products service's reservation
/// API (which anyone holding the internal token can call).
pub mod lines {
    use crate::FieldError;
    use std::collections::BTreeMap;

    pub const MAX_LINES: usize = 100;
    pub const MAX_QUANTITY: i32 = 1000;

    fn at(index: usize, field: &str, msg: &str) -> FieldError {
        let loc: [serde_json::Value; 4] =
            ["body".into(), "items".into(), index.into(), field.into()];
        FieldError::value_error(loc, msg)
    }

    /// How many lines an order may have.
    pub fn count(lines: usize) -> Result<(), FieldError> {
        let msg = match lines {
            0 => "an order needs at least one item".to_owned(),
            n if n > MAX_LINES => format!("an order has at most {MAX_LINES} items"),
            _ => return Ok(()),
        };
        Err(FieldError::value_error(["body", "items"], msg))
    }

    /// Each line's `(product_id, quantity)` as sent: every broken rule,
    /// located at `body.items[i]`, or the lines merged by product, sorted
    /// by product id.
    pub fn merge(
        items: impl Iterator<Item = (i64, i32)>,
    ) -> Result<Vec<(i64, i32)>, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut merged: BTreeMap<i64, i32> = BTreeMap::new();
        for (i, (product_id, quantity)) in items.enumerate() {
            if product_id < 1 {
                errors.push(at(i, "product_id", "product_id must be a positive id"));
            }
            if !(1..=MAX_QUANTITY).contains(&quantity) {
                let msg = format!("quantity must be from 1 to {MAX_QUANTITY}");
                errors.push(at(i, "quantity", &msg));
            }
            let q = merged.entry(product_id).or_insert(0);
            *q = q.saturating_add(quantity);
        }
        if errors.is_empty() {
            Ok(merged.into_iter().collect())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus;

    #[test]
    fn the_rules_of_an_orders_lines() {
        use super::lines::{count, merge};
        assert!(count(0).is_err());
        assert!(count(1).is_ok() && count(100).is_ok());
        assert_eq!(
            count(101).unwrap_err().msg,
            "an order has at most 100 items"
        );
        assert_eq!(
            merge([(3, 1), (1, 2), (3, 4)].into_iter()).unwrap(),
            [(1, 2), (3, 5)]
        );
        let errors = merge([(1, 1), (0, 0), (2, 1001)].into_iter()).unwrap_err();
        let located: Vec<_> = errors
            .iter()
            .map(|e| (serde_json::Value::from(e.loc.clone()), e.msg.as_str()))
            .collect();
        assert_eq!(
            located,
            [
                (
                    serde_json::json!(["body", "items", 1, "product_id"]),
                    "product_id must be a positive id"
                ),
                (
                    serde_json::json!(["body", "items", 1, "quantity"]),
                    "quantity must be from 1 to 1000"
                ),
                (
                    serde_json::json!(["body", "items", 2, "quantity"]),
                    "quantity must be from 1 to 1000"
                ),
            ]
        );
    }

    #[test]
    fn a_stored_status_reads_back_or_is_refused() {
        for s in ["pending", "confirmed", "shipped", "delivered", "cancelled"] {
            assert_eq!(OrderStatus::try_from(s.to_owned()).unwrap().as_str(), s);
        }
        assert!(OrderStatus::try_from("paid".to_owned()).is_err());
    }
}
