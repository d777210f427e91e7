//! `GET /health`: every service checked in parallel, always answered 200.

use crate::AppState;
use crate::proxy::Upstream;
use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use shop_platform::{RequestId, telemetry::REQUEST_ID_HEADER};
use shop_types::{GatewayHealth, HealthReport, OverallStatus, ServiceHealth, ServiceStatus};
use std::time::Instant;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        // The orchestrator's probes: alive while it answers; ready unless
        // shutting down. Neither asks the services, so one slow service
        // never takes the gateway out of its load balancer.
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "alive"}))
}

async fn ready() -> (StatusCode, Json<serde_json::Value>) {
    if shop_platform::shutdown::draining() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "unhealthy", "error": "shutting down"})),
        )
    } else {
        (StatusCode::OK, Json(serde_json::json!({"status": "ready"})))
    }
}

#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = HealthReport, description = "Always 200; `status` is healthy, degraded or unhealthy")))]
#[tracing::instrument(skip_all)]
pub async fn health(State(state): State<AppState>, request_id: RequestId) -> Json<HealthReport> {
    let checks = state
        .upstreams
        .all()
        .map(|upstream| check(&state.health_client, upstream, &request_id));
    let results = futures::future::join_all(checks).await;
    let status = OverallStatus::from_statuses(results.iter().map(|(_, h)| h.status));
    Json(HealthReport {
        status,
        timestamp: chrono::Utc::now(),
        gateway: GatewayHealth {
            status: ServiceStatus::Up,
        },
        services: results.into_iter().collect(),
    })
}

async fn check(
    client: &reqwest::Client,
    upstream: &Upstream,
    request_id: &RequestId,
) -> (String, ServiceHealth) {
    let started = Instant::now();
    let url = upstream.url().to_owned();
    let span = tracing::info_span!(
        "health",
        otel.name = "GET /health",
        otel.kind = "client",
        url.full = url,
    );
    let mut trace = reqwest::header::HeaderMap::new();
    shop_platform::traces::inject_headers(&span, &mut trace);
    let outcome = tracing::Instrument::instrument(
        client
            .get(format!("{url}/health"))
            .header(REQUEST_ID_HEADER, request_id.header_value())
            .headers(trace)
            .send(),
        span.clone(),
    )
    .await;
    match &outcome {
        Ok(resp) => shop_platform::traces::record_status(&span, resp.status()),
        Err(_) => shop_platform::traces::record_error(&span, "health check failed"),
    }
    let health = match outcome {
        Ok(resp) if resp.status().is_success() => ServiceHealth {
            status: ServiceStatus::Up,
            response_time_ms: Some(started.elapsed().as_millis().try_into().unwrap_or(u64::MAX)),
            error: None,
            url,
        },
        Ok(resp) => down(
            url,
            format!("health check answered HTTP {}", resp.status().as_u16()),
        ),
        Err(e) if e.is_timeout() => down(url, "health check timed out".into()),
        Err(e) if e.is_connect() => down(url, "connection refused".into()),
        Err(e) => down(url, format!("health check failed: {e}")),
    };
    (upstream.name.to_string(), health)
}

fn down(url: String, error: String) -> ServiceHealth {
    ServiceHealth {
        status: ServiceStatus::Down,
        response_time_ms: None,
        error: Some(error),
        url,
    }
}
