//! `GET /openapi.json`: each service publishes its own document; the gateway
//! merges them into the one it serves.

use axum::{Json, Router, routing::get};
use std::sync::Arc;

pub fn router<S: Clone + Send + Sync + 'static>(doc: utoipa::openapi::OpenApi) -> Router<S> {
    let doc = Arc::new(doc);
    Router::new().route(
        "/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}
