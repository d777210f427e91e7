//! Every HTTP call the app makes. All of them go to the same origin under
//! `/api`, which the web server forwards to the gateway, so the app needs no
//! CORS and no configuration.

use std::fmt;

use gloo_net::http::{Request, Response};
use gloo_timers::callback::Timeout;
use serde::de::DeserializeOwned;
use shop_types::{ErrorBody, HealthReport};
use web_sys::AbortController;

const API_BASE: &str = "/api";

/// A hung connection would otherwise pin one of the browser's few
/// connections per host for minutes while polling keeps adding requests.
const TIMEOUT_MS: u32 = 5_000;

/// Why a call produced no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No answer from the gateway: the network failed, the request timed
    /// out, or the web server in front of the gateway could not reach it.
    Unreachable(String),
    /// The gateway answered with an error status.
    Status { code: u16, detail: String },
    /// The answer did not have the shape of the contract.
    Decode(String),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(why) => write!(f, "Cannot reach the gateway ({why})."),
            Self::Status { code, detail } => write!(f, "The gateway answered {code}: {detail}"),
            Self::Decode(why) => write!(f, "Unexpected answer from the gateway ({why})."),
        }
    }
}

impl std::error::Error for ApiError {}

/// `GET /health`: the gateway's view of every service.
pub async fn health() -> Result<HealthReport, ApiError> {
    get_json("/health").await
}

async fn get_json<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    let controller =
        AbortController::new().map_err(|_| ApiError::Unreachable("fetch unavailable".into()))?;
    // Dropping the timer on return cancels it; until then it aborts the
    // request and the body read alike.
    let _deadline = Timeout::new(TIMEOUT_MS, {
        let controller = controller.clone();
        move || controller.abort()
    });
    let response = Request::get(&format!("{API_BASE}{path}"))
        .header("accept", "application/json")
        .abort_signal(Some(&controller.signal()))
        .send()
        .await
        .map_err(|e| ApiError::Unreachable(unreachable_reason(&e)))?;
    if !response.ok() {
        return Err(error_from(response).await);
    }
    response
        .json::<T>()
        .await
        .map_err(|e| ApiError::Decode(e.to_string()))
}

fn unreachable_reason(error: &gloo_net::Error) -> String {
    match error {
        gloo_net::Error::JsError(js) if js.name == "AbortError" => "timed out".into(),
        gloo_net::Error::JsError(js) => js.message.clone(),
        other => other.to_string(),
    }
}

/// Our services always send an `ErrorBody`; a 502–504 without one comes from
/// the web server in front, which means the gateway itself is not answering.
async fn error_from(response: Response) -> ApiError {
    let code = response.status();
    match response.json::<ErrorBody>().await {
        Ok(body) => ApiError::Status {
            code,
            detail: body.summary(),
        },
        Err(_) if (502..=504).contains(&code) => ApiError::Unreachable(format!("HTTP {code}")),
        Err(_) => ApiError::Status {
            code,
            detail: response.status_text(),
        },
    }
}
