//! What the orders service's rules can refuse, and the one place where each
//! refusal becomes an HTTP answer.

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use shop_platform::ApiError;
use shop_types::{FieldError, Order, OrderStatus};

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
    #[error("Only admins may list everyone's orders")]
    EveryonesOrders,
    #[error("No dead event {0}")]
    NoDeadEvent(i64),
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

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Self::Invalid(vec![e])
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let text = e.to_string();
        match e {
            Error::OrderNotFound(_) | Error::NoDeadEvent(_) => ApiError::NotFound(text),
            Error::EveryonesOrders => ApiError::Forbidden(text),
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

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

/// A checkout's answer, as the buyer gets it and as it is kept under its
/// `Idempotency-Key` for a retry: a status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// 201 with the order, or the refusal's answer.
    pub fn of(placed: Result<Order, Error>) -> Self {
        let placed = placed
            .and_then(|order| serde_json::to_string(&order).map_err(|e| Error::Internal(e.into())));
        match placed {
            Ok(body) => Self {
                status: StatusCode::CREATED.as_u16(),
                body,
            },
            Err(e) => {
                let refusal = ApiError::from(e);
                let body = serde_json::to_string(&refusal.body())
                    .unwrap_or_else(|_| r#"{"detail":"Internal server error"}"#.into());
                Self {
                    status: refusal.status().as_u16(),
                    body,
                }
            }
        }
    }

    /// An earlier request's answer, kept under its key.
    pub fn replay(status: u16, body: String) -> Self {
        Self { status, body }
    }

    /// A failure worth retrying: the key is freed, not kept.
    pub fn is_server_error(&self) -> bool {
        self.status >= 500
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response()
    }
}
