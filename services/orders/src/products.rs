//! The products service's reservation API, as the orders service sees it.

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use shop_platform::{ApiError, RequestId, telemetry::REQUEST_ID_HEADER};
use shop_types::{
    ErrorBody,
    internal::{INTERNAL_TOKEN_HEADER, Reservation, ReserveLine, ReserveRequest},
};
use std::{sync::Arc, time::Duration};

/// Why a reservation did not happen.
#[derive(Debug)]
pub enum ReserveError {
    /// The products service said no (unknown product, not enough stock): the
    /// answer is passed on to the buyer.
    Refused(ApiError),
    /// Unreachable, or answered with a server error.
    Unavailable,
    TimedOut,
}

#[derive(Debug, Clone)]
pub struct ProductsClient {
    http: reqwest::Client,
    base: Arc<str>,
    token: Arc<SecretString>,
}

impl ProductsClient {
    pub fn new(base: &str, token: SecretString, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(Duration::from_secs(2))
                .pool_max_idle_per_host(64)
                .build()?,
            base: base.trim_end_matches('/').into(),
            token: Arc::new(token),
        })
    }

    fn post(&self, path: &str, request_id: &RequestId) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .header(INTERNAL_TOKEN_HEADER, self.token.expose_secret())
            .header(REQUEST_ID_HEADER, request_id.header_value())
    }

    #[tracing::instrument(skip_all, fields(order_id))]
    pub async fn reserve(
        &self,
        order_id: i64,
        items: &[ReserveLine],
        request_id: &RequestId,
    ) -> Result<Reservation, ReserveError> {
        let resp = self
            .post("/internal/reservations", request_id)
            .json(&ReserveRequest {
                order_id,
                items: items.to_vec(),
            })
            .send()
            .await
            .map_err(classify)?;
        let status = resp.status();
        if status.is_success() {
            return resp.json().await.map_err(|e| {
                tracing::error!(error = %e, "unreadable reservation");
                ReserveError::Unavailable
            });
        }
        let detail = resp
            .json::<ErrorBody>()
            .await
            .map(|b| b.summary())
            .unwrap_or_else(|_| "Reservation refused".into());
        Err(match status {
            StatusCode::CONFLICT => ReserveError::Refused(ApiError::Conflict(detail)),
            StatusCode::NOT_FOUND => ReserveError::Refused(ApiError::NotFound(detail)),
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
                ReserveError::Refused(ApiError::BadRequest(detail))
            }
            other => {
                tracing::error!(status = %other, detail, "products service failed to reserve");
                ReserveError::Unavailable
            }
        })
    }

    /// Returns an order's stock. Idempotent.
    #[tracing::instrument(skip_all, fields(order_id))]
    pub async fn release(&self, order_id: i64, request_id: &RequestId) -> anyhow::Result<()> {
        self.post(
            &format!("/internal/reservations/{order_id}/release"),
            request_id,
        )
        .send()
        .await?
        .error_for_status()?;
        Ok(())
    }
}

fn classify(e: reqwest::Error) -> ReserveError {
    if e.is_timeout() {
        ReserveError::TimedOut
    } else {
        tracing::warn!(error = %e, "products service unreachable");
        ReserveError::Unavailable
    }
}
