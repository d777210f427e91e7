//! What the products service's rules can refuse, and the one place where
//! each refusal becomes an HTTP answer.

use shop_platform::ApiError;
use shop_types::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Product {0} not found")]
    ProductNotFound(i64),
    /// A catalogue path naming no product.
    #[error("Product not found")]
    NoSuchProduct,
    #[error("Product '{name}' (id {id}) is not available")]
    ProductInactive { id: i64, name: String },
    #[error(
        "Insufficient stock for product '{name}' (id {id}): requested {requested}, available {available}"
    )]
    InsufficientStock {
        id: i64,
        name: String,
        requested: i32,
        available: i32,
    },
    /// The order's reservation was released or expired: it can neither be
    /// made again nor confirmed.
    #[error("The reservation for order {order_id} was already {state}")]
    ReservationSettled {
        order_id: i64,
        /// The hold's state (`released` or `expired`).
        state: &'static str,
    },
    #[error("A product with this SKU already exists")]
    DuplicateSku,
    #[error("Order {0} was reserved before with other lines")]
    OrderIdReused(i64),
    #[error("No reservation for order {0}")]
    NoReservation(i64),
    /// Input that breaks a rule, field by field.
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    /// A query rule broken as a whole (e.g. `page` with `offset`).
    #[error("{0}")]
    BadQuery(String),
    /// A stock adjustment that would take the stock below zero.
    #[error("Only {available} units are available; {removed} cannot be removed")]
    StockBelowZero { available: i32, removed: u32 },
    /// A stock adjustment that would take the stock past the ceiling.
    #[error("{available} units and {added} more would pass the most one product may hold ({max})")]
    StockAboveMax {
        available: i32,
        added: i32,
        max: i32,
    },
    #[error("Internal API token required")]
    InternalOnly,
    /// A picture of a type the catalogue does not take.
    #[error("{0}")]
    UnsupportedImage(String),
    #[error("The picture is larger than 1,000,000 bytes")]
    ImageTooLarge,
    #[error("This product has no picture")]
    NoImage,
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
        match e {
            Error::UnsupportedImage(msg) => ApiError::UnsupportedMediaType(msg),
            Error::ImageTooLarge => ApiError::PayloadTooLarge(e.to_string()),
            Error::ProductNotFound(_)
            | Error::NoSuchProduct
            | Error::NoReservation(_)
            | Error::NoImage => ApiError::NotFound(e.to_string()),
            Error::ProductInactive { .. }
            | Error::InsufficientStock { .. }
            | Error::ReservationSettled { .. }
            | Error::DuplicateSku
            | Error::OrderIdReused(_)
            | Error::StockBelowZero { .. }
            | Error::StockAboveMax { .. } => ApiError::Conflict(e.to_string()),
            Error::InternalOnly => ApiError::Unauthorized(e.to_string()),
            Error::Invalid(fields) => ApiError::Validation(fields),
            Error::BadQuery(msg) => ApiError::BadRequest(msg),
            // `lock_timeout`: the rows stayed locked longer than a caller
            // should wait.
            Error::Database(sqlx::Error::Database(db)) if db.code().as_deref() == Some("55P03") => {
                ApiError::Unavailable("The product is busy; try again".into())
            }
            Error::Database(e) => e.into(),
            Error::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        ApiError::from(self).into_response()
    }
}
