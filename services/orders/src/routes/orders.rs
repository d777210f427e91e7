//! Checkout, order history, cancellation and status changes.

use crate::{
    AppState, domain, idempotency,
    products::ReserveError,
    repo::{self, NewEvent, StoredOrder},
};
use axum::{
    Json, Router,
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, patch, post},
};
use chrono::Utc;
use serde::Deserialize;
use shop_auth::{AdminUser, CurrentUser, Identity};
use shop_platform::{ApiError, AppJson, RequestId, Result, int_param};
use shop_types::internal::ReserveLine;
use shop_types::{
    CreateOrderRequest, EventEnvelope, Order, OrderStatus, StatusUpdateRequest,
    event::{
        ORDER_CREATED, ORDER_STATUS_UPDATED, OrderCreated, OrderCreatedItem, OrderStatusUpdated,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orders", post(create).get(list))
        .route("/orders/{id}", get(get_one))
        .route("/orders/{id}/cancel", post(cancel))
        .route("/orders/{id}/status", patch(set_status))
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("Order {id} not found"))
}

fn envelope<T>(event_type: &str, request_id: &RequestId, data: T) -> EventEnvelope<T> {
    EventEnvelope {
        event_id: uuid::Uuid::new_v4(),
        event_type: event_type.to_owned(),
        timestamp: Utc::now(),
        correlation_id: request_id.0.clone(),
        data,
    }
}

#[utoipa::path(post, path = "/orders", tag = "orders", request_body = CreateOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeating a key returns the first result")),
    responses(
        (status = 201, body = Order, description = "Stock reserved, prices frozen, order confirmed"),
        (status = 402, description = "Payment declined; the order ends cancelled and its stock is returned"),
        (status = 409, description = "Not enough stock: names the product and what is available"),
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
        .map(|v| v.to_str().map(|s| s.trim().to_owned()))
        .transpose()
        .map_err(|_| ApiError::BadRequest("Idempotency-Key must be text".into()))?;
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
    let held = key.as_deref().map(|key| idempotency::Held {
        user_id: user.user_id,
        key,
    });
    let response = place(&state, &user, &request_id, &lines, approved, held)
        .await
        .into_response();
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

/// Reserve, then confirm. Whatever fails, no confirmed order is left without
/// its reservation and no reservation without its order for long.
async fn place(
    state: &AppState,
    user: &Identity,
    request_id: &RequestId,
    lines: &[ReserveLine],
    approved: bool,
    held: Option<idempotency::Held<'_>>,
) -> Result<(StatusCode, Json<Order>)> {
    let order_id = repo::insert_pending(&state.pool, user.user_id, &user.email).await?;
    let reservation = match state.products.reserve(order_id, lines, request_id).await {
        Ok(r) => r,
        Err(e) => return Err(abort(state, order_id, request_id, e).await),
    };
    let total = domain::total(&reservation.lines);
    if !approved {
        repo::finalize::<()>(
            &state.pool,
            order_id,
            &reservation.lines,
            total,
            OrderStatus::Cancelled,
            None,
            None,
        )
        .await?;
        release_now(state, order_id, request_id).await;
        tracing::info!(order_id, "payment declined");
        return Err(ApiError::PaymentRequired("Payment declined".into()));
    }
    let data = OrderCreated {
        order_id,
        user_id: user.user_id,
        user_email: user.email.clone(),
        total_amount: total,
        status: OrderStatus::Confirmed,
        items: reservation
            .lines
            .iter()
            .map(|l| OrderCreatedItem {
                product_id: l.product_id,
                product_name: l.product_name.clone(),
                quantity: l.quantity,
                price: l.product_price,
            })
            .collect(),
    };
    let event = NewEvent {
        subject: format!("Order #{order_id} confirmed"),
        envelope: envelope(ORDER_CREATED, request_id, data),
    };
    match repo::finalize(
        &state.pool,
        order_id,
        &reservation.lines,
        total,
        OrderStatus::Confirmed,
        Some(&event),
        held,
    )
    .await
    {
        Ok(stored) => {
            state.wake.notify_one();
            tracing::info!(order_id, total = %total, "order confirmed");
            Ok((StatusCode::CREATED, Json(stored.order)))
        }
        // The commit may have happened with only its acknowledgement
        // lost: releasing now could return the stock of a confirmed order.
        // A checkout that really failed stays pending, and the repair loop
        // releases its stock once it is stale.
        Err(e) => {
            tracing::warn!(
                order_id,
                "confirming failed; the repair loop settles the checkout"
            );
            Err(e)
        }
    }
}

async fn abort(
    state: &AppState,
    order_id: i64,
    request_id: &RequestId,
    e: ReserveError,
) -> ApiError {
    match e {
        ReserveError::Refused(err) => {
            if let Err(e) = repo::delete_pending(&state.pool, order_id).await {
                tracing::warn!(order_id, error = ?e, "could not remove a refused checkout");
            }
            err
        }
        failure => {
            // The reservation may have happened before the failure: undo it.
            // If even that fails, the repair loop finishes the job.
            if state.products.release(order_id, request_id).await.is_ok() {
                let _ = repo::delete_pending(&state.pool, order_id).await;
            }
            match failure {
                ReserveError::TimedOut => {
                    ApiError::GatewayTimeout("Product service did not answer in time".into())
                }
                _ => ApiError::Unavailable("Product service is unavailable".into()),
            }
        }
    }
}

/// Gives a cancelled order's stock back now; on failure the repair loop retries.
async fn release_now(state: &AppState, order_id: i64, request_id: &RequestId) {
    match state.products.release(order_id, request_id).await {
        Ok(()) => {
            if let Err(e) = repo::mark_stock_released(&state.pool, order_id).await {
                tracing::warn!(order_id, error = ?e, "could not record the released stock");
            }
        }
        Err(e) => tracing::warn!(order_id, error = format!("{e:#}"), "stock release deferred"),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Default 0.
    skip: Option<String>,
    /// 1–100, default 100.
    limit: Option<String>,
}

#[utoipa::path(get, path = "/orders", tag = "orders", params(ListParams),
    responses((status = 200, body = [Order], description = "Your orders, newest first")),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(p): Query<ListParams>,
) -> Result<Json<Vec<Order>>> {
    let skip = int_param("skip", p.skip.as_deref(), 0, i64::MAX)?.unwrap_or(0);
    let limit = int_param("limit", p.limit.as_deref(), 1, 100)?.unwrap_or(100);
    Ok(Json(
        repo::list_for_user(&state.pool, user.user_id, skip, limit).await?,
    ))
}

async fn visible(state: &AppState, user: &Identity, id: i64) -> Result<StoredOrder> {
    repo::get(&state.pool, id)
        .await?
        .filter(|o| o.order.user_id == user.user_id || user.is_admin())
        .ok_or_else(|| not_found(id))
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
    let (_, stored) =
        repo::change_status(&state.pool, id, next, status_event(request_id, &by.email)).await?;
    state.wake.notify_one();
    if next == OrderStatus::Cancelled {
        release_now(state, id, request_id).await;
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
