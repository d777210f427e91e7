//! The products service's reservation API, as the orders service sees it:
//! the [`Products`] trait and its HTTP client.

use crate::error::{Error, Refusal};
use async_trait::async_trait;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use shop_platform::{RequestId, telemetry::REQUEST_ID_HEADER};
use shop_types::{
    ErrorBody,
    internal::{INTERNAL_TOKEN_HEADER, Reservation, ReserveLine, ReserveRequest},
};
use std::{sync::Arc, time::Duration};

/// Reservations at the products service. Every call is idempotent per order.
#[async_trait]
pub trait Products: std::fmt::Debug + Send + Sync {
    /// Holds every line or none; with `confirm`, for the order for good at
    /// once (the answer says whether it is). `Error::Refused` carries the
    /// products service's answer; a timeout or failure means the
    /// reservation may or may not have happened.
    async fn reserve(
        &self,
        order_id: i64,
        items: &[ReserveLine],
        confirm: bool,
        request_id: &RequestId,
    ) -> Result<Reservation, Error>;

    /// Makes a hold the order's for good.
    async fn confirm(&self, order_id: i64, request_id: &RequestId) -> Result<(), Error>;

    /// Returns an order's stock, or leaves the mark that refuses a late
    /// reservation.
    async fn release(&self, order_id: i64, request_id: &RequestId) -> anyhow::Result<()>;
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

    /// A call from inside one of the client spans below: the products
    /// service continues the trace from that span.
    fn post(&self, path: &str, request_id: &RequestId) -> reqwest::RequestBuilder {
        let mut trace = reqwest::header::HeaderMap::new();
        shop_platform::traces::inject_headers(&tracing::Span::current(), &mut trace);
        self.http
            .post(format!("{}{path}", self.base))
            .header(INTERNAL_TOKEN_HEADER, self.token.expose_secret())
            .header(REQUEST_ID_HEADER, request_id.header_value())
            .headers(trace)
    }
}

#[async_trait]
impl Products for ProductsClient {
    #[tracing::instrument(skip_all, fields(order_id, otel.kind = "client"))]
    async fn reserve(
        &self,
        order_id: i64,
        items: &[ReserveLine],
        confirm: bool,
        request_id: &RequestId,
    ) -> Result<Reservation, Error> {
        let resp = self
            .post("/internal/reservations", request_id)
            .json(&ReserveRequest {
                order_id,
                items: items.to_vec(),
                confirm,
            })
            .send()
            .await
            .map_err(classify)?;
        let resp = refusal(resp).await?;
        resp.json().await.map_err(|e| {
            tracing::error!(error = %e, "unreadable reservation");
            Error::ProductsUnavailable
        })
    }

    #[tracing::instrument(skip_all, fields(order_id, otel.kind = "client"))]
    async fn confirm(&self, order_id: i64, request_id: &RequestId) -> Result<(), Error> {
        let resp = self
            .post(
                &format!("/internal/reservations/{order_id}/confirm"),
                request_id,
            )
            .send()
            .await
            .map_err(classify)?;
        refusal(resp).await.map(drop)
    }

    #[tracing::instrument(skip_all, fields(order_id, otel.kind = "client"))]
    async fn release(&self, order_id: i64, request_id: &RequestId) -> anyhow::Result<()> {
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

/// A successful answer, or the products service's refusal.
async fn refusal(resp: reqwest::Response) -> Result<reqwest::Response, Error> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let detail = resp
        .json::<ErrorBody>()
        .await
        .map(|b| b.summary())
        .unwrap_or_else(|_| "Reservation refused".into());
    Err(match status {
        StatusCode::CONFLICT => Error::Refused(Refusal::Conflict(detail)),
        StatusCode::NOT_FOUND => Error::Refused(Refusal::NotFound(detail)),
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
            Error::Refused(Refusal::Invalid(detail))
        }
        other => {
            tracing::error!(status = %other, detail, "products service failed");
            Error::ProductsUnavailable
        }
    })
}

fn classify(e: reqwest::Error) -> Error {
    if e.is_timeout() {
        Error::ProductsTimedOut
    } else {
        tracing::warn!(error = %e, "products service unreachable");
        Error::ProductsUnavailable
    }
}
