//! What the notifications service's rules can refuse, and the one place
//! where each refusal becomes an HTTP answer.

use shop_platform::ApiError;
use shop_types::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Notification not found")]
    NotFound,
    #[error("Only failed notifications, or ones whose sender stopped, can be retried")]
    NotRetryable,
    #[error("Only admins may filter by recipient")]
    RecipientFilter,
    /// Another socket past the per-user cap.
    #[error("Too many open connections: at most {cap} per user")]
    TooManySockets { cap: usize },
    /// Input that breaks a rule, field by field.
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
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
            Error::NotFound => ApiError::NotFound(e.to_string()),
            Error::NotRetryable => ApiError::BadRequest(e.to_string()),
            Error::RecipientFilter => ApiError::Forbidden(e.to_string()),
            Error::TooManySockets { .. } => ApiError::TooManyRequests {
                message: e.to_string(),
                retry_after_secs: 5,
            },
            Error::Invalid(fields) => ApiError::Validation(fields),
            Error::Database(e) => e.into(),
        }
    }
}

impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        ApiError::from(self).into_response()
    }
}
