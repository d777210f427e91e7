//! Checkout, order history, cancellation and status changes: HTTP only;
//! the rules and the work are in `domain` and `app`.

use crate::{
    app::{checkout, status},
    domain::{
        lifecycle::{self, By, Move},
        lines,
    },
    error::Error,
    state::AppState,
    store::orders::{self as repo, ListFilter},
};
use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use shop_auth::{AdminUser, CurrentUser};
use shop_platform::{AppJson, Path, Query, RequestId, int_param};
use shop_types::{CreateOrderRequest, FieldError, Order, OrderStatus, StatusUpdateRequest};

#[utoipa::path(post, path = "/orders", tag = "orders", request_body = CreateOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = r"^[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*$",
        description = "Repeating a key returns the first result")),
    responses(
        (status = 201, body = Order, description = "Stock reserved, prices frozen, order confirmed"),
        (status = 400, description = "An Idempotency-Key that is empty, too long or not printable ASCII"),
        (status = 402, description = "Payment declined; the order ends cancelled and its stock is returned"),
        (status = 404, description = "A product that does not exist"),
        (status = 422, description = "Malformed lines, or a total beyond 9,999,999,999.99 (refused before anything is held)"),
        (status = 409, description = "Not enough stock or an inactive product (names it); the key was used for another request, or is still being handled (`Retry-After`)"),
        (status = 503, description = "Products service unavailable"),
        (status = 504, description = "Products service timed out"),
    ),
    security(("bearer" = []), ("cookie" = [])))]
#[tracing::instrument(skip_all, fields(user_id = user.user_id))]
pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    request_id: RequestId,
    headers: HeaderMap,
    AppJson(req): AppJson<CreateOrderRequest>,
) -> Result<Response, Error> {
    let lines = lines::lines(&req)?;
    let approved = lines::payment_approved(&req);
    let key = idempotency_key(&headers)?;
    let answer =
        checkout::checkout(&state, &user, &lines, approved, key.as_deref(), &request_id).await?;
    Ok(answer.into_response())
}

/// The `Idempotency-Key` header: printable ASCII only, as the document's
/// pattern says, 1 to 255 characters once trimmed.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Error> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let printable = v.as_bytes().iter().all(|b| (0x20..=0x7e).contains(b));
    let key = v
        .to_str()
        .ok()
        .filter(|_| printable)
        .map(|s| s.trim().to_owned())
        .ok_or(Error::BadKey)?;
    if key.is_empty() || key.len() > 255 {
        return Err(Error::BadKey);
    }
    Ok(Some(key))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Default 0.
    #[param(value_type = Option<i64>, minimum = 0)]
    skip: Option<String>,
    /// 1–100, default 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Only orders in this status. `pending` (checkouts in flight) is listed
    /// for admins only.
    #[param(value_type = Option<OrderStatus>)]
    status: Option<String>,
    /// Admins: `true` lists everyone's orders.
    #[param(schema_with = true_or_false)]
    all: Option<String>,
}

fn true_or_false() -> utoipa::openapi::Object {
    shop_types::text::choice(&["true", "false"])
}

#[utoipa::path(get, path = "/orders", tag = "orders", params(ListParams),
    responses((status = 200, body = [Order], description = "Your orders, newest first"),
        (status = 401), (status = 403, description = "`all=true` from anyone but an admin"),
        (status = 422, description = "A bad skip, limit, status or all")),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(p): Query<ListParams>,
) -> Result<Json<Vec<Order>>, Error> {
    let skip = int_param("skip", p.skip.as_deref(), 0, i64::MAX)?.unwrap_or(0);
    let limit = int_param("limit", p.limit.as_deref(), 1, 100)?.unwrap_or(100);
    let status = p
        .status
        .as_deref()
        .map(str::parse::<OrderStatus>)
        .transpose()
        .map_err(|_| {
            FieldError::value_error(
                ["query", "status"],
                "status must be one of pending, confirmed, shipped, delivered, cancelled",
            )
        })?;
    let all = match p.all.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(
                FieldError::value_error(["query", "all"], "all must be true or false").into(),
            );
        }
    };
    if all && !user.is_admin() {
        return Err(Error::EveryonesOrders);
    }
    let filter = ListFilter {
        user_id: (!(all && user.is_admin())).then_some(user.user_id),
        status,
        include_pending: user.is_admin(),
    };
    Ok(Json(repo::list(&state.pool, filter, skip, limit).await?))
}

#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    responses((status = 200, body = Order), (status = 404, description = "Not found or not yours")),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn get_one(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<Order>, Error> {
    Ok(Json(status::visible(&state, &user, id).await?.order))
}

#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders",
    responses((status = 200, body = Order), (status = 404), (status = 409, description = "Already shipped, delivered or cancelled")),
    security(("bearer" = []), ("cookie" = [])))]
#[tracing::instrument(skip_all, fields(order_id = id))]
pub async fn cancel(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    request_id: RequestId,
    Path(id): Path<i64>,
) -> Result<Json<Order>, Error> {
    Ok(Json(status::cancel(&state, &user, id, &request_id).await?))
}

#[utoipa::path(patch, path = "/orders/{id}/status", tag = "orders", request_body = StatusUpdateRequest,
    responses((status = 200, body = Order), (status = 403, description = "Admins only"), (status = 409, description = "Move not allowed")),
    security(("bearer" = []), ("cookie" = [])))]
#[tracing::instrument(skip_all, fields(order_id = id))]
pub async fn set_status(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    request_id: RequestId,
    Path(id): Path<i64>,
    AppJson(body): AppJson<StatusUpdateRequest>,
) -> Result<Json<Order>, Error> {
    let order = status::move_to(&state, id, body.status, (&admin, By::Admin), &request_id).await?;
    Ok(Json(order))
}

#[utoipa::path(get, path = "/orders/lifecycle", tag = "orders",
    responses((status = 200, body = [Move],
        description = "Every move an order can make and who makes it (`checkout`, `owner` or `admin`; an admin may make an owner's moves too); anything else is refused 409"),
        (status = 401)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn moves(CurrentUser(_user): CurrentUser) -> Json<&'static [Move]> {
    Json(lifecycle::MOVES)
}
