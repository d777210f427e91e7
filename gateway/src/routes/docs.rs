//! `GET /openapi.json` — one document for every public endpoint, the
//! services' own documents merged — and Swagger UI over it at `/docs`.

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

/// The merged document. The reservation API is internal and not in it.
pub fn document() -> openapi::OpenApi {
    let mut doc = GatewayDoc::openapi();
    doc.merge(shop_users::ApiDoc::openapi());
    doc.merge(shop_products::ApiDoc::openapi());
    doc.merge(shop_orders::ApiDoc::openapi());
    doc.merge(shop_notifications::ApiDoc::openapi());
    doc
}

/// The page fetches the document by a relative URL, so Swagger UI also
/// works behind a front that serves the gateway under a prefix (the web
/// front's `/api/docs/` fetches `/api/openapi.json`).
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    SwaggerUi::new("/docs")
        .url("/openapi.json", document())
        .config(Config::new(["../openapi.json"]))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_covers_every_public_endpoint() {
        let doc = serde_json::to_value(document()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/health",
            "/users/register",
            "/users/login",
            "/users/logout",
            "/users/me",
            "/.well-known/jwks.json",
            "/products",
            "/products/{id}",
            "/products/categories",
            "/products/{id}/stock",
            "/orders",
            "/orders/{id}",
            "/orders/{id}/cancel",
            "/orders/{id}/status",
            "/notifications",
            "/notifications/{id}",
            "/notifications/retry/{id}",
            "/ws/notifications",
        ] {
            assert!(
                paths.contains_key(path),
                "{path} is missing from /openapi.json"
            );
        }
        assert!(
            !paths.keys().any(|p| p.starts_with("/internal")),
            "the internal API stays out"
        );
        assert!(doc["components"]["schemas"]["Order"].is_object());
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    }
}
