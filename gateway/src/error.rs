//! What the gateway refuses on its own (a service's refusals pass through
//! as they are), and the one place each becomes an answer.

use axum::response::{IntoResponse, Response};
use shop_platform::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No row of the route table matches.
    #[error("Not Found")]
    NoRoute,
    #[error("Admin privileges required")]
    AdminOnly,
    #[error("Invalid request path")]
    BadPath,
    #[error("Request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("The request body could not be read")]
    UnreadableBody,
    /// A `/ws/*` request that is not a WebSocket upgrade.
    #[error("{0}")]
    NotAnUpgrade(String),
    /// The named service could not be reached.
    #[error("{0} is unavailable")]
    Unavailable(String),
    /// The named service answered with something unusable.
    #[error("{0} failed to answer")]
    Failed(String),
    #[error("{0} did not answer in time")]
    TimedOut(String),
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        let text = r.to_string();
        match r {
            Refusal::NoRoute => ApiError::NotFound(text),
            Refusal::AdminOnly => ApiError::Forbidden(text),
            Refusal::BadPath | Refusal::UnreadableBody | Refusal::NotAnUpgrade(_) => {
                ApiError::BadRequest(text)
            }
            Refusal::BodyTooLarge(_) => ApiError::PayloadTooLarge(text),
            Refusal::Unavailable(_) => ApiError::Unavailable(text),
            Refusal::Failed(_) => ApiError::BadGateway(text),
            Refusal::TimedOut(_) => ApiError::GatewayTimeout(text),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
