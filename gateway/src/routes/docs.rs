//! `GET /openapi.json` — one document for every public endpoint, the
//! services' own documents merged at run time — and Swagger UI over it at
//! `/docs`. The gateway compiles no service's code.

use crate::{AppState, proxy::Upstream};
use axum::{Json, Router, extract::State, routing::get};
use futures::future::join_all;
use std::collections::HashMap;
use tokio::sync::Mutex;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self,
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_swagger_ui::{Config, SwaggerUi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shop API",
        description = "Everything is reached through the gateway. Authenticate with `Authorization: Bearer <token>` from `POST /users/login`, or the `shop_session` cookie it sets. Money is a decimal string with two places; errors are `{\"detail\": ...}`.",
        version = "1.0.0"
    ),
    // Relative to the document: `/` on the gateway, `/api/` behind the web
    // front, so "Try it out" reaches the API from either.
    servers((url = ".")),
    paths(super::health::health),
    modifiers(&Security),
    tags(
        (name = "health", description = "Platform health"),
        (name = "users", description = "Accounts, sign-in and token keys"),
        (name = "products", description = "Catalogue and stock"),
        (name = "orders", description = "Checkout and order history"),
        (name = "notifications", description = "Emails sent and live pushes"),
    )
)]
struct GatewayDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("shop_session"))),
        );
    }
}

/// The services' documents, each fetched from its `/openapi.json` when the
/// merged one is asked for. The last good copy of each is kept, so the
/// document stays whole while a service is down.
#[derive(Default)]
pub struct Documents {
    last_good: Mutex<HashMap<String, openapi::OpenApi>>,
}

impl std::fmt::Debug for Documents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Documents")
    }
}

async fn fetch(client: &reqwest::Client, upstream: &Upstream) -> anyhow::Result<openapi::OpenApi> {
    let resp = client
        .get(format!("{}/openapi.json", upstream.url()))
        .send()
        .await?
        .error_for_status()?;
    Ok(resp.json().await?)
}

/// The gateway's own document with every service's merged in, without any
/// `/internal/*` path.
pub async fn document(state: &AppState) -> openapi::OpenApi {
    let upstreams = state.upstreams.all();
    let fetched = join_all(upstreams.iter().map(|u| fetch(&state.health_client, u))).await;
    let mut doc = GatewayDoc::openapi();
    shop_platform::openapi::complete(&mut doc);
    let mut last_good = state.documents.last_good.lock().await;
    for (upstream, result) in upstreams.iter().zip(fetched) {
        let name = upstream.name.to_string();
        match result {
            Ok(part) => {
                last_good.insert(name.clone(), part);
            }
            Err(e) if last_good.contains_key(&name) => {
                tracing::warn!(service = %name, error = %e, "serving the last good OpenAPI document");
            }
            Err(e) => {
                tracing::warn!(service = %name, error = %e, "no OpenAPI document yet; its paths are missing");
            }
        }
        if let Some(part) = last_good.get(&name) {
            let mut part = part.clone();
            shop_platform::openapi::complete_forwarded(&mut part);
            doc.merge(part);
        }
    }
    // Never routed, so never documented, whatever a service lists.
    doc.paths
        .paths
        .retain(|path, _| !path.starts_with("/internal"));
    doc
}

async fn serve(State(state): State<AppState>) -> Json<openapi::OpenApi> {
    Json(document(&state).await)
}

/// `/openapi.json`, and Swagger UI at `/docs`. The page fetches the document
/// by a relative URL, so it also works behind a front that serves the
/// gateway under a prefix (the web front's `/api/docs/` fetches
/// `/api/openapi.json`).
pub fn router() -> Router<AppState> {
    let ui: Router<AppState> = SwaggerUi::new("/docs")
        .config(Config::new(["../openapi.json"]))
        .into();
    Router::new().route("/openapi.json", get(serve)).merge(ui)
}
