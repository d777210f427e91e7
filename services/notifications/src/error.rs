//! What the notifications service's rules can refuse, and the one place
//! where each refusal becomes an HTTP answer.

use shop_platform::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Notification not found")]
    NotFound,
    #[error("Only failed notifications, or ones whose sender stopped, can be retried")]
    NotRetryable,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound => ApiError::NotFound(e.to_string()),
            Error::NotRetryable => ApiError::BadRequest(e.to_string()),
            Error::Database(e) => e.into(),
        }
    }
}
