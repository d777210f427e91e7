//! Checkout, order history, cancellation and status changes.

use crate::{
    AppState,
    checkout::{self, Checkout, envelope},
    domain,
    error::Error,
    idempotency,
    outbox::{self, Backlog},
    repo::{self, ListFilter, NewEvent, StoredOrder},
};
use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, patch, post},
};
use serde::Deserialize;
use shop_auth::{AdminUser, CurrentUser, Identity};
use shop_platform::{ApiError, AppJson, Path, Query, RequestId, Result, int_param};
use shop_types::{
    CreateOrderRequest, FieldError, Order, OrderStatus, StatusUpdateRequest,
    event::{ORDER_STATUS_UPDATED, OrderStatusUpdated},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orders", post(create).get(list))
        .route("/orders/outbox", get(outbox_backlog))
        .route("/orders/outbox/{id}/requeue", post(requeue_event))
        .route("/orders/{id}", get(get_one))
        .route("/orders/{id}/cancel", post(cancel))
        .route("/orders/{id}/status", patch(set_status))
}

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
) -> Result<Response> {
    let lines = domain::lines(&req)?;
    let approved = domain::payment_approved(&req);
    let key = headers
        .get("idempotency-key")
        .map(|v| {
            // Printable ASCII only, as the document's pattern says.
            let printable = v.as_bytes().iter().all(|b| (0x20..=0x7e).contains(b));
            v.to_str()
                .ok()
                .filter(|_| printable)
                .map(|s| s.trim().to_owned())
                .ok_or(Error::BadKey)
        })
        .transpose()?;
    if let Some(key) = &key {
        let fingerprint = domain::fingerprint(&lines, approved);
        match idempotency::claim(
            &state.pool,
            user.user_id,
            key,
            &fingerprint,
            state.idempotency_lease,
        )
        .await?
        {
            idempotency::Claim::Fresh => {}
            idempotency::Claim::Replay { status, body } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                return Ok(
                    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
                );
            }
            idempotency::Claim::Placed { order_id } => {
                let stored = repo::get(&state.pool, order_id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("order {order_id} of a used key is gone"))?;
                let body = serde_json::to_string(&stored.order).map_err(anyhow::Error::from)?;
                idempotency::finish(&state.pool, user.user_id, key, 201, &body).await?;
                return Ok((
                    StatusCode::CREATED,
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response());
            }
        }
    }
    let checkout = Checkout {
        user: &user,
        lines: &lines,
        approved,
        request_id: &request_id,
        key: key.as_deref().map(|key| idempotency::Held {
            user_id: user.user_id,
            key,
        }),
    };
    let placed = checkout::place(&state, checkout).await;
    let outcome = match &placed {
        Ok(_) => "confirmed",
        Err(Error::PaymentDeclined) => "declined",
        Err(Error::Refused(_)) => "refused",
        Err(_) => "failed",
    };
    metrics::counter!("orders_checkouts_total", "outcome" => outcome).increment(1);
    let response = match placed {
        Ok(stored) => (StatusCode::CREATED, Json(stored.order)).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    };
    let Some(key) = key else {
        return Ok(response);
    };
    // Keep the exact answer, so a retry gets the same bytes.
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(anyhow::Error::from)?;
    if parts.status.is_server_error() {
        idempotency::abandon(&state.pool, user.user_id, &key).await?;
    } else {
        let text = String::from_utf8_lossy(&bytes);
        idempotency::finish(
            &state.pool,
            user.user_id,
            &key,
            parts.status.as_u16(),
            &text,
        )
        .await?;
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
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
) -> Result<Json<Vec<Order>>> {
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
        return Err(ApiError::Forbidden(
            "Only admins may list everyone's orders".into(),
        ));
    }
    let filter = ListFilter {
        user_id: (!(all && user.is_admin())).then_some(user.user_id),
        status,
        include_pending: user.is_admin(),
    };
    Ok(Json(repo::list(&state.pool, filter, skip, limit).await?))
}

async fn visible(state: &AppState, user: &Identity, id: i64) -> Result<StoredOrder> {
    repo::get(&state.pool, id)
        .await?
        .filter(|o| o.order.user_id == user.user_id || user.is_admin())
        .ok_or(Error::OrderNotFound(id).into())
}

#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    responses((status = 200, body = Order), (status = 404, description = "Not found or not yours")),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn get_one(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<Order>> {
    Ok(Json(visible(&state, &user, id).await?.order))
}

fn status_event(
    request_id: &RequestId,
    updated_by: &str,
) -> impl FnOnce(OrderStatus, &StoredOrder) -> NewEvent<OrderStatusUpdated> {
    move |old, stored| NewEvent {
        subject: format!("Order #{} is now {}", stored.order.id, stored.order.status),
        envelope: envelope(
            ORDER_STATUS_UPDATED,
            request_id,
            OrderStatusUpdated {
                order_id: stored.order.id,
                user_id: stored.order.user_id,
                user_email: stored.user_email.clone(),
                old_status: old,
                new_status: stored.order.status,
                updated_by: updated_by.to_owned(),
            },
        ),
    }
}

async fn move_to(
    state: &AppState,
    id: i64,
    next: OrderStatus,
    by: &Identity,
    request_id: &RequestId,
) -> Result<Json<Order>> {
    let (before, stored) =
        repo::change_status(&state.pool, id, next, status_event(request_id, &by.email)).await?;
    tracing::info!(order_id = id, from = %before, to = %next, by = by.user_id, "order status changed");
    state.wake.notify_one();
    if next == OrderStatus::Cancelled {
        checkout::release_now(state, id, request_id).await;
    }
    Ok(Json(stored.order))
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
) -> Result<Json<Order>> {
    visible(&state, &user, id).await?;
    move_to(&state, id, OrderStatus::Cancelled, &user, &request_id).await
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
) -> Result<Json<Order>> {
    move_to(&state, id, body.status, &admin, &request_id).await
}

#[utoipa::path(get, path = "/orders/outbox", tag = "orders",
    responses(
        (status = 200, body = Backlog, description = "Events waiting to be published, and dead ones"),
        (status = 401), (status = 403, description = "Admins only")),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn outbox_backlog(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
) -> Result<Json<Backlog>> {
    Ok(Json(outbox::backlog(&state.pool).await?))
}

#[utoipa::path(post, path = "/orders/outbox/{id}/requeue", tag = "orders",
    responses(
        (status = 204, description = "The dead event is published again, with fresh attempts"),
        (status = 401), (status = 403, description = "Admins only"),
        (status = 404, description = "No dead event with this id")),
    security(("bearer" = []), ("cookie" = [])))]
#[tracing::instrument(skip_all, fields(outbox_id = id))]
pub async fn requeue_event(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    if !outbox::requeue(&state.pool, id).await? {
        return Err(ApiError::NotFound(format!("No dead event {id}")));
    }
    tracing::info!(admin_id = admin.user_id, "dead event requeued");
    state.wake.notify_one();
    Ok(StatusCode::NO_CONTENT)
}
