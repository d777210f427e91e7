//! The gateway's `/openapi.json`: the services' own documents merged at run
//! time, whole even while a service is down.

use shop_testkit::{Shop, TestStack};

const PUBLIC_PATHS: [&str; 26] = [
    "/health",
    "/users",
    "/users/register",
    "/users/login",
    "/users/logout",
    "/users/me",
    "/users/{id}/deactivate",
    "/users/{id}/reactivate",
    "/auth/providers",
    "/auth/google",
    "/auth/google/callback",
    "/.well-known/jwks.json",
    "/products",
    "/products/{id}",
    "/products/categories",
    "/products/{id}/stock",
    "/products/{id}/stock/adjust",
    "/orders",
    "/orders/{id}",
    "/orders/{id}/cancel",
    "/orders/{id}/status",
    "/notifications",
    "/notifications/{id}",
    "/notifications/retry/{id}",
    "/ws/notifications",
    "/sitemap.xml",
];

fn assert_whole(doc: &serde_json::Value) {
    let paths = doc["paths"].as_object().expect("paths");
    for path in PUBLIC_PATHS {
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

#[tokio::test]
async fn the_document_merges_every_services_public_endpoints() {
    let t = TestStack::start().await;

    let (status, doc) = t.get_json(&format!("{}/openapi.json", t.gateway())).await;

    assert_eq!(status, 200);
    assert_whole(&doc);
    t.finish().await;
}

#[tokio::test]
async fn the_document_keeps_a_stopped_services_paths() {
    let mut t = TestStack::start().await;
    let (_, before) = t.get_json(&format!("{}/openapi.json", t.gateway())).await;
    assert_whole(&before);

    t.stack
        .stop("products")
        .await
        .expect("products stops cleanly");
    let (status, after) = t.get_json(&format!("{}/openapi.json", t.gateway())).await;

    assert_eq!(status, 200);
    assert_whole(&after);
    assert_eq!(before["paths"], after["paths"]);
    t.finish().await;
}

#[tokio::test]
async fn each_service_publishes_only_its_own_document() {
    let t = TestStack::start().await;
    let products = t.stack.url("products").expect("products runs");

    let (status, doc) = t.get_json(&format!("{products}/openapi.json")).await;

    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/products/{id}"));
    assert!(
        !paths.contains_key("/orders"),
        "orders are another service's"
    );
    assert!(!paths.keys().any(|p| p.starts_with("/internal")));
    t.finish().await;
}

#[tokio::test]
async fn every_operation_lists_its_errors_and_requests_carry_their_rules() {
    let t = TestStack::start().await;
    let (_, doc) = t.get_json(&format!("{}/openapi.json", t.gateway())).await;

    let error_ref = serde_json::json!("#/components/schemas/ErrorBody");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let responses = op["responses"].as_object().expect("responses");
            let errors: Vec<_> = responses
                .iter()
                .filter(|(status, _)| status.starts_with('4') || status.starts_with('5'))
                .collect();
            assert!(
                responses.contains_key("503"),
                "{method} {path} lists no 503"
            );
            for (status, response) in errors {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"], error_ref,
                    "{method} {path} {status} has no error schema"
                );
            }
            if op["requestBody"].is_object() {
                for status in ["413", "422"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lists no {status}"
                    );
                }
            }
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                assert!(responses.contains_key("401"), "{method} {path}: no 401");
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    let product = &schemas["ProductInput"]["properties"];
    assert_eq!(product["name"]["maxLength"], 200);
    assert!(product["sku"]["pattern"].is_string());
    assert!(product["description"]["pattern"].is_string());
    assert_eq!(product["stock_quantity"]["minimum"], 0);
    let money = &schemas["Money"]["oneOf"];
    assert!(money[0]["pattern"].is_string(), "money: {money}");
    let line = &schemas["OrderLineRequest"]["properties"];
    assert_eq!(line["quantity"]["maximum"], 1000);
    let sort = doc["paths"]["/products"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "sort_by")
        .expect("sort_by")
        .clone();
    assert_eq!(sort["schema"]["enum"].as_array().map(Vec::len), Some(6));
    t.finish().await;
}
