//! Each service's own `GET /health`: up only when its database answers; and
//! the two probes an orchestrator asks: `GET /health/live` (the process
//! answers at all, nothing else checked, so a slow database never gets a
//! pod restarted) and `GET /health/ready` (it can serve: its database
//! answers and it is not shutting down).

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

#[derive(Clone)]
struct HealthState {
    pool: PgPool,
    service: &'static str,
}

/// `GET /health` → 200 `{status: "healthy", ...}`, or 503 when the database
/// does not answer within a second.
pub fn router<S: Clone + Send + Sync + 'static>(pool: PgPool, service: &'static str) -> Router<S> {
    Router::new()
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(HealthState { pool, service })
}

/// `GET /health/live`: 200 while the process serves requests at all.
pub async fn live() -> impl IntoResponse {
    Json(json!({"status": "alive"}))
}

/// `GET /health/ready`: `/health`, and 503 once shutdown has begun.
async fn ready(state: State<HealthState>) -> impl IntoResponse {
    if crate::shutdown::draining() {
        return unhealthy(state.service, "shutting down").into_response();
    }
    health(state).await.into_response()
}

async fn health(State(state): State<HealthState>) -> impl IntoResponse {
    let check = tokio::time::timeout(
        Duration::from_secs(1),
        sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.pool),
    )
    .await;
    match check {
        Ok(Ok(_)) => (
            StatusCode::OK,
            Json(json!({"status": "healthy", "service": state.service, "database": "up"})),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: database error");
            unhealthy(state.service, "database error")
        }
        Err(_) => unhealthy(state.service, "database timed out"),
    }
}

fn unhealthy(service: &str, error: &str) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(
            json!({"status": "unhealthy", "service": service, "database": "down", "error": error}),
        ),
    )
}
