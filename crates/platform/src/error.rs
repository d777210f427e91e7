//! The error type every handler returns, rendered as API.md's error body, and
//! `AppJson`, a JSON extractor whose rejections use that body too.

use axum::{
    extract::{FromRequest, Request},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};
use shop_types::{ErrorBody, FieldError};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: a rule was broken.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no or bad credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 402: payment declined.
    #[error("{0}")]
    PaymentRequired(String),
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// 409: duplicate, not enough stock, wrong state.
    #[error("{0}")]
    Conflict(String),
    /// 422: malformed input, field by field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 413: the body is too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: a body of a type the endpoint does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 409 with `Retry-After` seconds: the same request is still being handled.
    #[error("{message}")]
    Busy {
        message: String,
        retry_after_secs: u64,
    },
    /// 429 with `Retry-After` seconds.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// 502: an upstream answered with something unusable.
    #[error("{0}")]
    BadGateway(String),
    /// 503: a dependency is down.
    #[error("{0}")]
    Unavailable(String),
    /// 504: a dependency timed out.
    #[error("{0}")]
    GatewayTimeout(String),
    /// 500: logged in full, answered opaquely.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    /// A single-field validation failure located at `loc` (e.g. `["body", "email"]`).
    pub fn invalid_field(loc: &[&str], msg: impl Into<String>) -> Self {
        FieldError::value_error(loc.iter().copied(), msg).into()
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::Busy { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::Validation(vec![e])
    }
}

/// A whole-number query parameter in `min..=max`; `None` when absent.
pub fn int_param(
    name: &str,
    raw: Option<&str>,
    min: i64,
    max: i64,
) -> Result<Option<i64>, FieldError> {
    let Some(raw) = raw else { return Ok(None) };
    // Digits with an optional minus, nothing around them: what the
    // documents' `integer` means.
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    let plain = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    match raw.parse::<i64>().ok().filter(|_| plain) {
        Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
        _ => {
            let msg = if (min, max) == (i64::MIN, i64::MAX) {
                format!("{name} must be a whole number")
            } else if max == i64::MAX {
                format!("{name} must be a whole number of at least {min}")
            } else {
                format!("{name} must be a whole number from {min} to {max}")
            };
            Err(FieldError::value_error(["query", name], msg))
        }
    }
}

#[cfg(feature = "database")]
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut => Self::Unavailable("Database is unavailable".into()),
            e => Self::Internal(anyhow::Error::new(e).context("database query failed")),
        }
    }
}

impl ApiError {
    /// The `{"detail": ...}` body; an internal error is logged in full
    /// here (the request span carries the request id into the line) and
    /// answered opaquely.
    pub fn body(&self) -> ErrorBody {
        match self {
            Self::Validation(fields) => ErrorBody::fields(fields.clone()),
            Self::Internal(e) => {
                tracing::error!(error = ?e, "request failed");
                ErrorBody::message("Internal server error")
            }
            other => ErrorBody::message(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = self.body();
        let mut response = (status, axum::Json(body)).into_response();
        match self {
            Self::TooManyRequests {
                retry_after_secs, ..
            }
            | Self::Busy {
                retry_after_secs, ..
            } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after_secs.into());
            }
            // RFC 6750: say which scheme the credentials are for.
            Self::Unauthorized(_) => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
            }
            _ => {}
        }
        response
    }
}

/// JSON in and out. Malformed bodies are answered `422` with the failing
/// field's location, like the system this replaces.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let mime = ct.split(';').next().unwrap_or("").trim();
                mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::Validation(vec![FieldError {
                loc: vec!["body".into()],
                msg: "Expected a JSON body with Content-Type: application/json".into(),
                kind: "model_attributes_type".into(),
            }]));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                return ApiError::PayloadTooLarge(e.body_text());
            }
            ApiError::Validation(vec![FieldError {
                loc: vec!["body".into()],
                msg: e.body_text(),
                kind: "body_read".into(),
            }])
        })?;
        // Every request body of the API is an object; serde would also read
        // a struct from an array.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::Validation(vec![FieldError {
                loc: vec!["body".into()],
                msg: "Expected a JSON object".into(),
                kind: "model_attributes_type".into(),
            }]));
        }
        parse_json(&bytes).map(AppJson)
    }
}

/// Deserialises a body, turning serde's error into located field errors.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|err| {
        let mut loc: Vec<serde_json::Value> = vec!["body".into()];
        for seg in err.path().iter() {
            use serde_path_to_error::Segment;
            match seg {
                Segment::Seq { index } => loc.push((*index).into()),
                Segment::Map { key } => loc.push(key.clone().into()),
                Segment::Enum { variant } => loc.push(variant.clone().into()),
                Segment::Unknown => {}
            }
        }
        let inner = err.into_inner();
        let text = inner.to_string();
        let (kind, msg) = if inner.is_syntax() || inner.is_eof() {
            ("json_invalid", format!("Invalid JSON: {text}"))
        } else if let Some(field) = backticked(&text, "missing field `") {
            loc.push(field.into());
            ("missing", "Field required".to_owned())
        } else if let Some(field) = backticked(&text, "unknown field `") {
            // The path already ends at the unknown key.
            if loc.last().and_then(|l| l.as_str()) != Some(field) {
                loc.push(field.into());
            }
            (
                "extra_forbidden",
                "Extra inputs are not permitted".to_owned(),
            )
        } else {
            ("value_error", strip_position(&text))
        };
        ApiError::Validation(vec![FieldError {
            loc,
            msg,
            kind: kind.into(),
        }])
    })?;
    // One JSON value and nothing after it.
    de.end().map_err(|_| {
        ApiError::Validation(vec![FieldError {
            loc: vec!["body".into()],
            msg: "Invalid JSON: unexpected data after the value".into(),
            kind: "json_invalid".into(),
        }])
    })?;
    Ok(value)
}

fn backticked<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(prefix)?;
    rest.split('`').next()
}

/// serde_json appends " at line 1 column 20", which means nothing to clients.
fn strip_position(text: &str) -> String {
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text.to_owned(),
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        items: Vec<Line>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        product_id: i64,
        quantity: i32,
    }

    fn fields(r: Result<Order>) -> serde_json::Value {
        match r {
            Err(ApiError::Validation(f)) => serde_json::to_value(f).unwrap(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_type_is_located_in_the_list() {
        let r = parse_json::<Order>(br#"{"items":[{"product_id":1,"quantity":"x"}]}"#);
        let f = fields(r);
        assert_eq!(f[0]["loc"], json!(["body", "items", 0, "quantity"]));
        assert_eq!(f[0]["type"], "value_error");
    }

    #[test]
    fn missing_field_names_the_field() {
        let f = fields(parse_json::<Order>(br#"{"items":[{"product_id":1}]}"#));
        assert_eq!(f[0]["loc"], json!(["body", "items", 0, "quantity"]));
        assert_eq!(f[0]["type"], "missing");
    }

    #[test]
    fn unknown_field_is_rejected() {
        let f = fields(parse_json::<Order>(br#"{"items":[],"coupon":"FREE"}"#));
        assert_eq!(f[0]["loc"], json!(["body", "coupon"]));
        assert_eq!(f[0]["type"], "extra_forbidden");
    }

    #[test]
    fn data_after_the_value_is_refused() {
        let f = fields(parse_json::<Order>(br#"{"items":[]} {"items":[]}"#));
        assert_eq!(f[0]["type"], "json_invalid");
        assert!(
            parse_json::<Order>(b"{\"items\":[]}\n  ").is_ok(),
            "whitespace is fine"
        );
    }

    #[test]
    fn broken_json_is_422_not_500() {
        let f = fields(parse_json::<Order>(b"{\"items\": ["));
        assert_eq!(f[0]["type"], "json_invalid");
    }

    #[tokio::test]
    async fn internal_errors_are_opaque() {
        let resp = ApiError::Internal(anyhow::anyhow!("password=hunter2 leaked")).into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        assert_eq!(body, r#"{"detail":"Internal server error"}"#);
    }

    #[test]
    fn too_many_requests_sets_retry_after() {
        let resp = ApiError::TooManyRequests {
            message: "slow down".into(),
            retry_after_secs: 7,
        }
        .into_response();
        assert_eq!(resp.headers()[header::RETRY_AFTER], "7");
    }
}

/// axum's `Path`, whose rejection is a 422 naming the parameter (`loc`
/// `["path", "id"]`), like every other malformed input. Named `Path` so the
/// OpenAPI derive still documents the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        use axum::extract::{path::ErrorKind, rejection::PathRejection};
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let (key, msg) = match e.kind() {
                    ErrorKind::ParseErrorAtKey { key, .. } => {
                        (key.clone(), format!("{key} must be a whole number"))
                    }
                    ErrorKind::ParseError { .. } => {
                        ("id".to_owned(), "id must be a whole number".to_owned())
                    }
                    other => ("id".to_owned(), other.to_string()),
                };
                Err(FieldError::value_error(["path", key.as_str()], msg).into())
            }
            Err(other) => Err(ApiError::Internal(anyhow::anyhow!("path: {other}"))),
        }
    }
}

/// axum's `Query`, whose rejection (a repeated or malformed parameter) is a
/// 422 at `["query"]` like every other malformed input.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(e) => Err(FieldError {
                loc: vec!["query".into()],
                msg: e.body_text(),
                kind: "value_error".into(),
            }
            .into()),
        }
    }
}
