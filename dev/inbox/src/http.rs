//! The inbox's page, and the part of MailHog's HTTP API that scripts use:
//! `GET /api/v2/messages`, `GET /api/v2/search`, `GET /api/v1/messages`,
//! `GET /api/v1/messages/{id}`, `DELETE /api/v1/messages` and
//! `DELETE /api/v1/messages/{id}`, with MailHog's JSON shapes.

use crate::store::{Inbox, Message};
use askama::Template;
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn router(inbox: Inbox) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/clear", post(clear_page))
        .route("/messages/{id}", get(message_page))
        .route("/messages/{id}/html", get(message_html))
        .route("/api/v2/messages", get(v2_messages))
        .route("/api/v2/search", get(v2_search))
        .route("/api/v1/messages", get(v1_messages).delete(v1_delete_all))
        .route("/api/v1/messages/{id}", get(v1_message).delete(v1_delete))
        .route("/api/v1/messages/{id}/download", get(download))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(inbox)
        .layer(axum::middleware::from_fn(same_origin_changes))
}

/// Deleting mail is for this inbox's own page and for scripts: a browser
/// sending a change from another site's page is refused.
async fn same_origin_changes(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let changes = !matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let foreign = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|origin| {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            origin.split_once("://").map(|(_, authority)| authority) != Some(host)
        });
    if changes && foreign {
        return (
            StatusCode::FORBIDDEN,
            "Changes come from this inbox's own page",
        )
            .into_response();
    }
    next.run(req).await
}

struct Row {
    id: String,
    received: String,
    from: String,
    to: String,
    subject: String,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    count: usize,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    id: String,
    subject: String,
    from: String,
    to: String,
    received: String,
    has_html: bool,
    text: String,
}

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "inbox page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn when(m: &Message) -> String {
    m.created.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

async fn page(State(inbox): State<Inbox>) -> Response {
    let rows: Vec<Row> = inbox
        .list()
        .iter()
        .map(|m| Row {
            id: m.id.clone(),
            received: when(m),
            from: m.from_header.clone(),
            to: m.received.to.join(", "),
            subject: m.subject.clone(),
        })
        .collect();
    render(&InboxPage {
        count: rows.len(),
        rows,
    })
}

async fn clear_page(State(inbox): State<Inbox>) -> Redirect {
    inbox.clear();
    Redirect::to("/")
}

async fn message_page(State(inbox): State<Inbox>, Path(id): Path<String>) -> Response {
    let Some(m) = inbox.get(&id) else {
        return (StatusCode::NOT_FOUND, "No such message").into_response();
    };
    render(&MessagePage {
        id: m.id.clone(),
        subject: m.subject.clone(),
        from: m.from_header.clone(),
        to: m.received.to.join(", "),
        received: when(&m),
        has_html: m.html.is_some(),
        text: m.text.clone().unwrap_or_default(),
    })
}

/// The message's own HTML, sandboxed: no script, no request except images.
async fn message_html(State(inbox): State<Inbox>, Path(id): Path<String>) -> Response {
    let Some(html) = inbox.get(&id).and_then(|m| m.html.clone()) else {
        return (StatusCode::NOT_FOUND, "No such message").into_response();
    };
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data: https:",
        )],
        Html(html),
    )
        .into_response()
}

/// `user@domain` as MailHog's `Path`.
fn path(address: &str) -> Value {
    let (mailbox, domain) = address.split_once('@').unwrap_or((address, ""));
    json!({"Relays": null, "Mailbox": mailbox, "Domain": domain, "Params": ""})
}

/// A message in MailHog's shape (`mailhog/data` `Message`).
fn mailhog(m: &Message) -> Value {
    let mut headers = serde_json::Map::new();
    for (name, value) in &m.headers {
        let values = headers
            .entry(name.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = values {
            list.push(Value::String(value.clone()));
        }
    }
    json!({
        "ID": m.id,
        "From": path(&m.received.from),
        "To": m.received.to.iter().map(|t| path(t)).collect::<Vec<_>>(),
        "Content": {
            "Headers": headers,
            "Body": m.body(),
            "Size": m.received.raw.len(),
            "MIME": null,
        },
        "Created": m.created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "MIME": null,
        "Raw": {
            "From": m.received.from,
            "To": m.received.to,
            "Data": String::from_utf8_lossy(&m.received.raw),
            "Helo": m.received.helo,
        },
    })
}

#[derive(Debug, Deserialize)]
struct Page {
    start: Option<usize>,
    limit: Option<usize>,
}

/// `{total, count, start, items}`, newest first; `limit` 50 by default, at most 250.
fn envelope(messages: &[&Message], page: &Page) -> Json<Value> {
    let start = page.start.unwrap_or(0);
    let limit = page.limit.unwrap_or(50).clamp(1, 250);
    let items: Vec<Value> = messages
        .iter()
        .skip(start)
        .take(limit)
        .map(|m| mailhog(m))
        .collect();
    Json(json!({
        "total": messages.len(),
        "count": items.len(),
        "start": start,
        "items": items,
    }))
}

async fn v2_messages(State(inbox): State<Inbox>, Query(page): Query<Page>) -> Json<Value> {
    let all = inbox.list();
    let refs: Vec<&Message> = all.iter().map(AsRef::as_ref).collect();
    envelope(&refs, &page)
}

#[derive(Debug, Deserialize)]
struct Search {
    kind: String,
    query: String,
    start: Option<usize>,
    limit: Option<usize>,
}

/// `kind` is `from`, `to` or `containing`; a case-insensitive substring.
async fn v2_search(State(inbox): State<Inbox>, Query(s): Query<Search>) -> Response {
    let needle = s.query.to_lowercase();
    if needle.is_empty() || !matches!(s.kind.as_str(), "from" | "to" | "containing") {
        return (
            StatusCode::BAD_REQUEST,
            "kind must be from, to or containing, with a query",
        )
            .into_response();
    }
    let has = |text: &str| text.to_lowercase().contains(&needle);
    let header = |m: &Message, name: &str| {
        m.headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case(name) && has(v))
    };
    let all = inbox.list();
    let found: Vec<&Message> = all
        .iter()
        .map(AsRef::as_ref)
        .filter(|m| match s.kind.as_str() {
            "from" => has(&m.received.from) || header(m, "From"),
            "to" => m.received.to.iter().any(|t| has(t)) || header(m, "To"),
            _ => has(&m.body()) || m.headers.iter().any(|(_, v)| has(v)),
        })
        .collect();
    envelope(
        &found,
        &Page {
            start: s.start,
            limit: s.limit,
        },
    )
    .into_response()
}

async fn v1_messages(State(inbox): State<Inbox>) -> Json<Value> {
    Json(Value::Array(
        inbox.list().iter().take(1000).map(|m| mailhog(m)).collect(),
    ))
}

/// An unknown id is `null`, as MailHog's in-memory storage answers.
async fn v1_message(State(inbox): State<Inbox>, Path(id): Path<String>) -> Json<Value> {
    Json(inbox.get(&id).map(|m| mailhog(&m)).unwrap_or(Value::Null))
}

async fn v1_delete_all(State(inbox): State<Inbox>) -> StatusCode {
    inbox.clear();
    StatusCode::OK
}

async fn v1_delete(State(inbox): State<Inbox>, Path(id): Path<String>) -> StatusCode {
    if inbox.remove(&id) {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn download(State(inbox): State<Inbox>, Path(id): Path<String>) -> Response {
    match inbox.get(&id) {
        Some(m) => (
            [(header::CONTENT_TYPE, "message/rfc822")],
            m.received.raw.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
