//! What the orders service's rules can refuse, and the one place where each
//! refusal becomes an HTTP answer.

use shop_platform::ApiError;
use shop_types::{FieldError, OrderStatus};

/// The products service said no; its answer is passed on to the buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not enough stock, an inactive product, or a settled reservation.
    Conflict(String),
    /// An unknown product.
    NotFound(String),
    /// A line the products service found invalid.
    Invalid(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Conflict(d) | Self::NotFound(d) | Self::Invalid(d) => f.write_str(d),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Order {0} not found")]
    OrderNotFound(i64),
    #[error("Cannot change order status from {from} to {to}")]
    Move { from: OrderStatus, to: OrderStatus },
    #[error("Payment declined")]
    PaymentDeclined,
    #[error("{0}")]
    Refused(Refusal),
    #[error("Product service is unavailable")]
    ProductsUnavailable,
    #[error("Product service did not answer in time")]
    ProductsTimedOut,
    /// The checkout ran past its time and the repair loop undid it.
    #[error("The checkout took too long and was undone; nothing was charged or reserved")]
    CheckoutAbandoned,
    #[error("Idempotency-Key must be 1 to 255 characters of text")]
    BadKey,
    #[error("This Idempotency-Key was already used with a different request")]
    KeyReused,
    #[error(
        "A request with this Idempotency-Key is still being processed; retry after {retry_after_secs} s"
    )]
    KeyBusy { retry_after_secs: u64 },
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn invalid_field(loc: &[&str], msg: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::value_error(loc.iter().copied(), msg)])
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let text = e.to_string();
        match e {
            Error::OrderNotFound(_) => ApiError::NotFound(text),
            Error::Move { .. } | Error::KeyReused => ApiError::Conflict(text),
            Error::KeyBusy { retry_after_secs } => ApiError::Busy {
                message: text,
                retry_after_secs,
            },
            Error::PaymentDeclined => ApiError::PaymentRequired(text),
            Error::Refused(Refusal::Conflict(d)) => ApiError::Conflict(d),
            Error::Refused(Refusal::NotFound(d)) => ApiError::NotFound(d),
            Error::Refused(Refusal::Invalid(d)) => ApiError::invalid_field(&["body", "items"], d),
            Error::BadKey => ApiError::BadRequest(text),
            Error::ProductsUnavailable | Error::CheckoutAbandoned => ApiError::Unavailable(text),
            Error::ProductsTimedOut => ApiError::GatewayTimeout(text),
            Error::Invalid(fields) => ApiError::Validation(fields),
            Error::Database(e) => e.into(),
            Error::Internal(e) => ApiError::Internal(e),
        }
    }
}
