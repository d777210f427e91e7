//! `GET /openapi.json`: each service publishes its own document; the gateway
//! merges them into the one it serves.
//!
//! [`complete`] adds to every operation the answers that come from the
//! platform rather than from its handler — a body over the limit, a
//! malformed body or query, a missing or ended session, a dependency that
//! is down or slow — and gives every error answer the `{"detail": ...}`
//! schema, so the document lists each status an operation can answer.

use axum::{Json, Router, routing::get};
use shop_types::ErrorBody;
use std::sync::Arc;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder,
        path::{Operation, ParameterIn},
    },
};

pub fn router<S: Clone + Send + Sync + 'static>(mut doc: OpenApi) -> Router<S> {
    complete(&mut doc);
    let doc = Arc::new(doc);
    Router::new().route(
        "/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}

/// What each error status means wherever the platform answers it.
fn meaning(status: &str) -> &'static str {
    match status {
        "400" => "The request breaks a rule",
        "401" => "Not signed in, or the token is invalid, expired or its session has ended",
        "402" => "Payment declined",
        "403" => {
            "Not allowed: admins only, or a change authenticated by the session cookie from another origin"
        }
        "404" => "Not found",
        "409" => "Conflicts with the current state",
        "413" => "The request body is larger than 1 MiB",
        "422" => "Malformed input; `detail` lists each failing field",
        "429" => "Too many attempts; `Retry-After` says when to try again",
        "502" => "A service answered with something unusable",
        "503" => "A dependency is unavailable, or the request took too long",
        "504" => "A service did not answer in time",
        _ => "Error",
    }
}

/// Every operation with whether it changes anything (not GET or HEAD).
fn operations(doc: &mut OpenApi) -> impl Iterator<Item = (bool, &mut Operation)> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            (false, item.get.as_mut()),
            (true, item.put.as_mut()),
            (true, item.post.as_mut()),
            (true, item.delete.as_mut()),
            (false, item.options.as_mut()),
            (false, item.head.as_mut()),
            (true, item.patch.as_mut()),
            (false, item.trace.as_mut()),
        ]
        .into_iter()
        .filter_map(|(writes, op)| op.map(|op| (writes, op)))
    })
}

/// Lists `status` on `op` unless it is listed already.
fn ensure(op: &mut Operation, status: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::T(ResponseBuilder::new().description(meaning(status)).build()));
}

/// The statuses the platform adds to each of a service's operations, and the
/// error schema on every error answer.
pub fn complete(doc: &mut OpenApi) {
    for (writes, op) in operations(doc) {
        let params = op.parameters.as_deref().unwrap_or_default();
        let has_path = params
            .iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Path));
        let has_query = params
            .iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Query));
        if op.request_body.is_some() {
            ensure(op, "413");
            ensure(op, "422");
        }
        if has_query || has_path {
            ensure(op, "422");
        }
        if has_path {
            ensure(op, "404");
        }
        if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
            ensure(op, "401");
            // A change authenticated by the cookie must come from the
            // shop's own origin.
            if writes {
                ensure(op, "403");
            }
        }
        ensure(op, "503");
    }
    describe_errors(doc);
}

/// The gateway's additions to every operation it forwards: a service that is
/// down, slow or broken.
pub fn complete_forwarded(doc: &mut OpenApi) {
    for (_, op) in operations(doc) {
        for status in ["502", "503", "504"] {
            ensure(op, status);
        }
    }
    describe_errors(doc);
}

/// Every 4xx and 5xx answer carries `{"detail": ...}`; the schema is added
/// to the document's components.
fn describe_errors(doc: &mut OpenApi) {
    let error_ref = Ref::from_schema_name(ErrorBody::name());
    for (_, op) in operations(doc) {
        for (status, response) in op.responses.responses.iter_mut() {
            let is_error = status.starts_with('4') || status.starts_with('5');
            let RefOr::T(response) = response else {
                continue;
            };
            if !is_error || !response.content.is_empty() {
                continue;
            }
            if response.description.is_empty() {
                response.description = meaning(status).to_owned();
            }
            response.content.insert(
                "application/json".into(),
                ContentBuilder::new()
                    .schema(Some(error_ref.clone()))
                    .build(),
            );
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    let mut schemas = vec![(ErrorBody::name().into_owned(), ErrorBody::schema())];
    ErrorBody::schemas(&mut schemas);
    for (name, schema) in schemas {
        components.schemas.entry(name).or_insert(schema);
    }
}
