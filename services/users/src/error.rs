//! What the users service's rules can refuse, and the one place where each
//! refusal becomes an HTTP answer.

use shop_platform::ApiError;
use shop_types::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Email already registered")]
    EmailTaken,
    #[error("Username already taken")]
    UsernameTaken,
    /// Too many attempts for an account or from an address.
    #[error("Too many {what}; try again in {retry_after_secs} s")]
    Throttled {
        what: &'static str,
        retry_after_secs: u64,
    },
    /// Input that breaks a rule, field by field.
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    #[error("User not found")]
    UserNotFound,
    #[error("You cannot deactivate your own account")]
    OwnAccount,
    #[error("Invalid email or password")]
    InvalidLogin,
    /// A valid token whose account is gone or inactive.
    #[error("Could not validate credentials")]
    NotSignedIn,
    #[error("Sign-in with Google is not configured")]
    GoogleOff,
    #[error("cannot sign a token")]
    Signing(#[source] anyhow::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Self::Invalid(vec![e])
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::EmailTaken | Error::UsernameTaken => ApiError::Conflict(e.to_string()),
            Error::Throttled {
                retry_after_secs, ..
            } => ApiError::TooManyRequests {
                message: e.to_string(),
                retry_after_secs,
            },
            Error::Invalid(fields) => ApiError::Validation(fields),
            Error::UserNotFound | Error::GoogleOff => ApiError::NotFound(e.to_string()),
            Error::InvalidLogin | Error::NotSignedIn => ApiError::Unauthorized(e.to_string()),
            Error::OwnAccount => ApiError::BadRequest(e.to_string()),
            Error::Signing(e) | Error::Internal(e) => ApiError::Internal(e),
            Error::Database(e) => e.into(),
        }
    }
}

impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        ApiError::from(self).into_response()
    }
}
