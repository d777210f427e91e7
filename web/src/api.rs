//! Every HTTP call the app makes. All of them go to the same origin under
//! `/api`, which the web server forwards to the gateway, so the app needs no
//! CORS and no configuration. Signing in sets the httpOnly session cookie;
//! same-origin fetches send it by themselves, so no token ever passes
//! through this code.

use std::fmt;

use futures::future::join_all;
use gloo_net::http::{Request, RequestBuilder, Response};
use gloo_timers::callback::Timeout;
use leptos::wasm_bindgen::JsValue;
use serde::{Serialize, de::DeserializeOwned};
use shop_types::{
    CategoryCount, CreateOrderRequest, ErrorBody, ErrorDetail, LoginRequest, NotificationList,
    Order, Product, ProductList, RegisterRequest, SignInProviders, User,
};
use web_sys::AbortController;

const API_BASE: &str = "/api";

/// A hung connection would otherwise pin one of the browser's few
/// connections per host for minutes while polling keeps adding requests.
const READ_TIMEOUT_MS: u32 = 5_000;
/// Placing an order reserves stock and may wait on payment; it is given
/// longer, and a retry after a timeout is safe thanks to the idempotency key.
const WRITE_TIMEOUT_MS: u32 = 15_000;

/// Products per catalogue page.
pub const PAGE_SIZE: u32 = 12;

/// Why a call produced no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No answer from the gateway: the network failed, the request timed
    /// out, or the web server in front of the gateway could not reach it.
    Unreachable(String),
    /// The gateway answered with an error status. `fields` holds the field
    /// name and message of each validation failure of a 422.
    Status {
        code: u16,
        detail: String,
        fields: Vec<(String, String)>,
    },
    /// The answer did not have the shape of the contract.
    Decode(String),
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A sentence for shoppers; `Display` stays technical for the status page.
    pub fn for_people(&self) -> String {
        match self {
            Self::Unreachable(_) => {
                "We can't reach the shop right now. Check your connection and try again.".into()
            }
            Self::Status { code, .. } if *code >= 500 => format!(
                "Part of the shop is not responding (error {code}). Please try again in a moment."
            ),
            Self::Status { detail, .. } => detail.clone(),
            Self::Decode(_) => "The shop sent an answer we could not read. Please reload.".into(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(why) => write!(f, "Cannot reach the gateway ({why})."),
            Self::Status { code, detail, .. } => {
                write!(f, "The gateway answered {code}: {detail}")
            }
            Self::Decode(why) => write!(f, "Unexpected answer from the gateway ({why})."),
        }
    }
}

impl std::error::Error for ApiError {}

/// Filters, search and order of one catalogue page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductQuery {
    pub page: u32,
    pub category: Option<String>,
    pub name: Option<String>,
    pub sort_by: Option<String>,
}

/// `GET /health`: the gateway's view of every service.
#[cfg(feature = "console")]
pub async fn health() -> Result<shop_types::HealthReport, ApiError> {
    get_json("/health").await
}

/// `GET /products`: one page of the active catalogue.
pub async fn products(query: &ProductQuery) -> Result<ProductList, ApiError> {
    let page = query.page.max(1).to_string();
    let limit = PAGE_SIZE.to_string();
    let mut params = vec![("limit", limit.as_str()), ("page", page.as_str())];
    for (key, value) in [
        ("category", &query.category),
        ("name", &query.name),
        ("sort_by", &query.sort_by),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            params.push((key, value));
        }
    }
    let request = Request::get(&format!("{API_BASE}/products")).query(params);
    read(request).await
}

/// `GET /products/{id}`.
pub async fn product(id: i64) -> Result<Product, ApiError> {
    get_json(&format!("/products/{id}")).await
}

/// Each product by id, fetched side by side; `None` for one that no longer
/// exists. Any other failure fails the whole lookup.
pub async fn products_by_id(ids: &[i64]) -> Result<Vec<(i64, Option<Product>)>, ApiError> {
    let answers = join_all(ids.iter().map(|&id| product(id))).await;
    ids.iter()
        .zip(answers)
        .map(|(&id, answer)| match answer {
            Ok(p) => Ok((id, Some(p))),
            Err(e) if e.status() == Some(404) => Ok((id, None)),
            Err(e) => Err(e),
        })
        .collect()
}

/// `GET /products/categories`.
pub async fn categories() -> Result<Vec<CategoryCount>, ApiError> {
    get_json("/products/categories").await
}

/// `GET /users/me`: the signed-in user, or `None` without a valid session.
pub async fn me() -> Result<Option<User>, ApiError> {
    match get_json("/users/me").await {
        Ok(user) => Ok(Some(user)),
        Err(e) if e.status() == Some(401) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `GET /auth/providers`: whether to offer sign-in with Google.
pub async fn providers() -> Result<SignInProviders, ApiError> {
    get_json("/auth/providers").await
}

/// Where the "Sign in with Google" button goes: a full page navigation, so
/// the provider's consent page replaces the app and sends the browser back.
pub const GOOGLE_SIGN_IN: &str = "/api/auth/google";

/// `POST /users/login`. The answer's token is deliberately not read: the
/// cookie set alongside it is the session.
pub async fn login(credentials: &LoginRequest) -> Result<(), ApiError> {
    let request = Request::post(&format!("{API_BASE}/users/login"));
    send(request, Some(to_json(credentials)?), WRITE_TIMEOUT_MS)
        .await
        .map(drop)
}

/// `POST /users/logout`: clears the session cookie.
pub async fn logout() -> Result<(), ApiError> {
    let request = Request::post(&format!("{API_BASE}/users/logout"));
    send(request, None, WRITE_TIMEOUT_MS).await.map(drop)
}

/// `POST /users/register`.
pub async fn register(account: &RegisterRequest) -> Result<User, ApiError> {
    let request = Request::post(&format!("{API_BASE}/users/register"));
    call(request, Some(to_json(account)?), WRITE_TIMEOUT_MS).await
}

/// `POST /orders`. The same `idempotency_key` with the same body returns the
/// first answer, so a repeated click or a retry after a timeout can never
/// place a second order.
pub async fn place_order(
    order: &CreateOrderRequest,
    idempotency_key: &str,
) -> Result<Order, ApiError> {
    let request =
        Request::post(&format!("{API_BASE}/orders")).header("idempotency-key", idempotency_key);
    call(request, Some(to_json(order)?), WRITE_TIMEOUT_MS).await
}

/// `GET /orders`: the signed-in user's orders, newest first.
pub async fn orders() -> Result<Vec<Order>, ApiError> {
    get_json("/orders").await
}

/// The admin console's calls. Every one is checked again by the service
/// that owns the data: a customer gets 403, whatever the page shows.
#[cfg(feature = "console")]
pub mod admin {
    use super::*;
    use shop_types::{Notification, OrderStatus, UserList};

    /// Every product, active or not, by name.
    pub async fn products() -> Result<ProductList, ApiError> {
        get_json("/products?is_active=all&limit=100&sort_by=name").await
    }

    /// `POST /products` with the form's fields.
    pub async fn create_product(product: &serde_json::Value) -> Result<Product, ApiError> {
        let request = Request::post(&format!("{API_BASE}/products"));
        call(request, Some(to_json(product)?), WRITE_TIMEOUT_MS).await
    }

    /// `PATCH /products/{id}/stock`: sets the available stock; units held by
    /// checkouts in flight stay theirs.
    pub async fn set_stock(id: i64, stock: i32) -> Result<Product, ApiError> {
        let request = Request::patch(&format!("{API_BASE}/products/{id}/stock"));
        let body = serde_json::json!({ "stock_quantity": stock });
        call(request, Some(to_json(&body)?), WRITE_TIMEOUT_MS).await
    }

    /// `POST /products/{id}/stock/adjust`: adds (or removes) units in one
    /// step, so a checkout taking units meanwhile is never overwritten.
    pub async fn adjust_stock(id: i64, delta: i32) -> Result<Product, ApiError> {
        let request = Request::post(&format!("{API_BASE}/products/{id}/stock/adjust"));
        let body = serde_json::json!({ "delta": delta });
        call(request, Some(to_json(&body)?), WRITE_TIMEOUT_MS).await
    }

    /// `PATCH /products/{id}` with the edited name and price.
    pub async fn edit_product(id: i64, name: &str, price: &str) -> Result<Product, ApiError> {
        let request = Request::patch(&format!("{API_BASE}/products/{id}"));
        let body = serde_json::json!({ "name": name, "price": price });
        call(request, Some(to_json(&body)?), WRITE_TIMEOUT_MS).await
    }

    /// `PUT /products/{id}/image` with a file the admin picked; the service
    /// checks its type, size and bytes.
    pub async fn set_picture(id: i64, file: web_sys::File) -> Result<Product, ApiError> {
        let request = Request::put(&format!("{API_BASE}/products/{id}/image"));
        let (response, _deadline) =
            send_body(request, Some((file.type_(), file.into())), WRITE_TIMEOUT_MS).await?;
        response
            .json::<Product>()
            .await
            .map_err(|e| ApiError::Decode(e.to_string()))
    }

    /// Deactivates (`DELETE`, a soft delete) or restores a product.
    pub async fn set_product_active(id: i64, active: bool) -> Result<(), ApiError> {
        if active {
            let request = Request::patch(&format!("{API_BASE}/products/{id}"));
            let body = serde_json::json!({ "is_active": true });
            send(request, Some(to_json(&body)?), WRITE_TIMEOUT_MS)
                .await
                .map(drop)
        } else {
            let request = Request::delete(&format!("{API_BASE}/products/{id}"));
            send(request, None, WRITE_TIMEOUT_MS).await.map(drop)
        }
    }

    /// Everyone's orders, newest first, in one status or all of them
    /// (checkouts in flight included).
    pub async fn orders(status: Option<OrderStatus>) -> Result<Vec<Order>, ApiError> {
        let filter = status
            .map(|s| format!("&status={}", s.as_str()))
            .unwrap_or_default();
        get_json(&format!("/orders?all=true&limit=100{filter}")).await
    }

    /// One move of the order lifecycle, as `GET /orders/lifecycle` lists
    /// them: the orders service owns the table; the console only asks.
    #[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
    pub struct Move {
        pub from: OrderStatus,
        pub to: OrderStatus,
        /// `checkout`, `owner` or `admin`.
        pub by: String,
    }

    pub async fn lifecycle() -> Result<Vec<Move>, ApiError> {
        get_json("/orders/lifecycle").await
    }

    /// Where an admin may move an order that is `from` (an admin may make
    /// an owner's moves too), in the table's order.
    pub fn admin_moves(lifecycle: &[Move], from: OrderStatus) -> Vec<OrderStatus> {
        lifecycle
            .iter()
            .filter(|m| m.from == from && matches!(m.by.as_str(), "admin" | "owner"))
            .map(|m| m.to)
            .collect()
    }

    pub async fn move_order(id: i64, status: OrderStatus) -> Result<Order, ApiError> {
        let request = Request::patch(&format!("{API_BASE}/orders/{id}/status"));
        let body = serde_json::json!({ "status": status });
        call(request, Some(to_json(&body)?), WRITE_TIMEOUT_MS).await
    }

    /// Everyone's emails that could not be delivered.
    pub async fn failed_notifications() -> Result<NotificationList, ApiError> {
        get_json("/notifications?status=failed&page_size=100").await
    }

    pub async fn retry_notification(id: i64) -> Result<Notification, ApiError> {
        let request = Request::post(&format!("{API_BASE}/notifications/retry/{id}"));
        call(request, None, WRITE_TIMEOUT_MS).await
    }

    /// `GET /orders/outbox`: the event backlog and the dead events.
    pub async fn outbox() -> Result<serde_json::Value, ApiError> {
        get_json("/orders/outbox").await
    }

    pub async fn requeue(id: i64) -> Result<(), ApiError> {
        let request = Request::post(&format!("{API_BASE}/orders/outbox/{id}/requeue"));
        send(request, None, WRITE_TIMEOUT_MS).await.map(drop)
    }

    pub async fn users() -> Result<UserList, ApiError> {
        get_json("/users?limit=100").await
    }

    /// Ends every session of an account and refuses its sign-in, or gives
    /// it back.
    pub async fn set_user_active(id: i64, active: bool) -> Result<User, ApiError> {
        let action = if active { "reactivate" } else { "deactivate" };
        let request = Request::post(&format!("{API_BASE}/users/{id}/{action}"));
        call(request, None, WRITE_TIMEOUT_MS).await
    }
}

/// `GET /notifications`: the signed-in user's latest 100 emails (for the
/// order timelines).
pub async fn notifications() -> Result<NotificationList, ApiError> {
    get_json("/notifications?page_size=100").await
}

/// The live notification socket, on the same host as the page.
pub fn notifications_socket_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!(
        "{scheme}://{}/ws/notifications",
        location.host().ok()?
    ))
}

async fn get_json<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    read(Request::get(&format!("{API_BASE}{path}"))).await
}

async fn read<T: DeserializeOwned>(request: RequestBuilder) -> Result<T, ApiError> {
    call(request, None, READ_TIMEOUT_MS).await
}

fn to_json<T: Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| ApiError::Decode(e.to_string()))
}

/// Sends, then reads a JSON answer, all within one deadline.
async fn call<T: DeserializeOwned>(
    request: RequestBuilder,
    json: Option<String>,
    timeout_ms: u32,
) -> Result<T, ApiError> {
    let (response, _deadline) = send(request, json, timeout_ms).await?;
    response
        .json::<T>()
        .await
        .map_err(|e| ApiError::Decode(e.to_string()))
}

/// Sends with a deadline and turns an error status into `ApiError`. The
/// deadline comes back with the response so it also covers the body read.
/// Same-origin fetches carry the session cookie by default, and browsers add
/// the `Origin` header the gateway checks on cookie-authenticated writes.
async fn send(
    request: RequestBuilder,
    json: Option<String>,
    timeout_ms: u32,
) -> Result<(Response, Timeout), ApiError> {
    let body = json.map(|text| ("application/json".to_owned(), JsValue::from(text)));
    send_body(request, body, timeout_ms).await
}

/// [`send`] with a body of any type: `(content type, body)`.
async fn send_body(
    request: RequestBuilder,
    body: Option<(String, JsValue)>,
    timeout_ms: u32,
) -> Result<(Response, Timeout), ApiError> {
    let controller =
        AbortController::new().map_err(|_| ApiError::Unreachable("fetch unavailable".into()))?;
    // Dropping the timer cancels it; until then it aborts the request.
    let deadline = Timeout::new(timeout_ms, {
        let controller = controller.clone();
        move || controller.abort()
    });
    let request = request
        .header("accept", "application/json")
        .abort_signal(Some(&controller.signal()));
    let request = match body {
        Some((content_type, body)) => request.header("content-type", &content_type).body(body),
        None => request.build(),
    }
    .map_err(|e| ApiError::Unreachable(e.to_string()))?;
    let response = request
        .send()
        .await
        .map_err(|e| ApiError::Unreachable(unreachable_reason(&e)))?;
    if response.ok() {
        Ok((response, deadline))
    } else {
        Err(error_from(response).await)
    }
}

fn unreachable_reason(error: &gloo_net::Error) -> String {
    match error {
        gloo_net::Error::JsError(js) if js.name == "AbortError" => "timed out".into(),
        gloo_net::Error::JsError(js) => js.message.clone(),
        other => other.to_string(),
    }
}

/// Our services always send an `ErrorBody`; a 502–504 without one comes from
/// the web server in front, which means the gateway itself is not answering.
async fn error_from(response: Response) -> ApiError {
    let code = response.status();
    match response.json::<ErrorBody>().await {
        Ok(body) => ApiError::Status {
            code,
            fields: field_errors(&body),
            detail: body.summary(),
        },
        Err(_) if (502..=504).contains(&code) => ApiError::Unreachable(format!("HTTP {code}")),
        Err(_) => ApiError::Status {
            code,
            detail: response.status_text(),
            fields: Vec::new(),
        },
    }
}

/// `loc: ["body", "password"]` → `("password", msg)`: the last named part of
/// the location is the form field.
fn field_errors(body: &ErrorBody) -> Vec<(String, String)> {
    match &body.detail {
        ErrorDetail::Message(_) => Vec::new(),
        ErrorDetail::Fields(fields) => fields
            .iter()
            .map(|f| {
                let name = f
                    .loc
                    .iter()
                    .rev()
                    .find_map(|part| part.as_str())
                    .unwrap_or_default();
                (name.to_owned(), f.msg.clone())
            })
            .collect(),
    }
}
