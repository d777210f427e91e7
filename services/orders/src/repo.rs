//! SQL for orders, their lines and the outbox. Every status change writes its
//! event into the outbox in the same transaction.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shop_platform::ApiError;
use shop_types::internal::ReservedLine;
use shop_types::{EventEnvelope, Money, Order, OrderItem, OrderStatus};
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::HashMap;

#[derive(Debug, sqlx::FromRow)]
struct OrderRow {
    id: i64,
    user_id: i64,
    user_email: String,
    status: String,
    total_amount: Decimal,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
struct ItemRow {
    id: i64,
    order_id: i64,
    product_id: i64,
    product_name: String,
    product_price: Decimal,
    quantity: i32,
    subtotal: Decimal,
    created_at: DateTime<Utc>,
}

fn money(d: Decimal) -> Money {
    Money::new(d).unwrap_or(Money::ZERO)
}

fn status(s: &str) -> OrderStatus {
    s.parse().unwrap_or(OrderStatus::Pending)
}

impl ItemRow {
    fn into_item(self) -> OrderItem {
        OrderItem {
            id: self.id,
            order_id: self.order_id,
            product_id: self.product_id,
            product_name: self.product_name,
            product_price: money(self.product_price),
            quantity: self.quantity,
            subtotal: money(self.subtotal),
            created_at: self.created_at,
        }
    }
}

/// An order as stored, with the owner's email for its events.
#[derive(Debug, Clone)]
pub struct StoredOrder {
    pub order: Order,
    pub user_email: String,
}

const ORDER_COLUMNS: &str = "id, user_id, user_email, status, total_amount, created_at, updated_at";
const ITEM_COLUMNS: &str =
    "id, order_id, product_id, product_name, product_price, quantity, subtotal, created_at";

async fn attach_items<'e, E>(executor: E, rows: Vec<OrderRow>) -> Result<Vec<StoredOrder>, ApiError>
where
    E: sqlx::PgExecutor<'e>,
{
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let items: Vec<ItemRow> = sqlx::query_as(&format!(
        "SELECT {ITEM_COLUMNS} FROM order_items WHERE order_id = ANY($1) ORDER BY id"
    ))
    .bind(&ids)
    .fetch_all(executor)
    .await?;
    let mut by_order: HashMap<i64, Vec<OrderItem>> = HashMap::new();
    for item in items {
        by_order
            .entry(item.order_id)
            .or_default()
            .push(item.into_item());
    }
    Ok(rows
        .into_iter()
        .map(|r| StoredOrder {
            order: Order {
                id: r.id,
                user_id: r.user_id,
                status: status(&r.status),
                total_amount: money(r.total_amount),
                created_at: r.created_at,
                updated_at: r.updated_at,
                items: by_order.remove(&r.id).unwrap_or_default(),
            },
            user_email: r.user_email,
        })
        .collect())
}

/// Step one of checkout: an order row without lines, to reserve stock against.
pub async fn insert_pending(
    pool: &PgPool,
    user_id: i64,
    user_email: &str,
) -> Result<i64, ApiError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO orders (user_id, user_email, status, total_amount) VALUES ($1, $2, 'pending', 0) RETURNING id",
    )
    .bind(user_id)
    .bind(user_email)
    .fetch_one(pool)
    .await?)
}

/// Removes a pending order whose reservation was refused or released.
pub async fn delete_pending(pool: &PgPool, order_id: i64) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM orders WHERE id = $1 AND status = 'pending'")
        .bind(order_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// An event to write beside a change.
#[derive(Debug, Clone)]
pub struct NewEvent<T> {
    pub subject: String,
    pub envelope: EventEnvelope<T>,
}

async fn insert_event<T: serde::Serialize>(
    tx: &mut Transaction<'_, Postgres>,
    event: &NewEvent<T>,
) -> Result<(), ApiError> {
    let body = serde_json::to_string(&event.envelope).map_err(anyhow::Error::from)?;
    sqlx::query("INSERT INTO outbox (event_id, event_type, subject, body) VALUES ($1, $2, $3, $4)")
        .bind(event.envelope.event_id)
        .bind(&event.envelope.event_type)
        .bind(&event.subject)
        .bind(body)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Writes the frozen lines and the total, sets the final status, and (for a
/// confirmed order) its event — one transaction.
pub async fn finalize<T: serde::Serialize>(
    pool: &PgPool,
    order_id: i64,
    lines: &[ReservedLine],
    total: Money,
    final_status: OrderStatus,
    event: Option<&NewEvent<T>>,
    key: Option<crate::idempotency::Held<'_>>,
) -> Result<StoredOrder, ApiError> {
    let mut tx = pool.begin().await?;
    let product_ids: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
    let names: Vec<String> = lines.iter().map(|l| l.product_name.clone()).collect();
    let prices: Vec<Decimal> = lines.iter().map(|l| l.product_price.amount()).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let subtotals: Vec<Decimal> = lines
        .iter()
        .map(|l| l.product_price.times(l.quantity).amount())
        .collect();
    sqlx::query(
        "INSERT INTO order_items (order_id, product_id, product_name, product_price, quantity, subtotal)
         SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::numeric[], $5::int[], $6::numeric[])",
    )
    .bind(order_id)
    .bind(&product_ids)
    .bind(&names)
    .bind(&prices)
    .bind(&quantities)
    .bind(&subtotals)
    .execute(&mut *tx)
    .await?;
    // A cancelled order's stock goes back right away; the caller releases it.
    let row: Option<OrderRow> = sqlx::query_as(&format!(
        "UPDATE orders SET status = $2, total_amount = $3, updated_at = now()
         WHERE id = $1 AND status = 'pending' RETURNING {ORDER_COLUMNS}"
    ))
    .bind(order_id)
    .bind(final_status.as_str())
    .bind(total.amount())
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or_else(|| anyhow::anyhow!("order {order_id} is no longer pending"))?;
    if let Some(event) = event {
        insert_event(&mut tx, event).await?;
    }
    // With the order, so a lost commit acknowledgement loses nothing.
    if let Some(key) = key {
        sqlx::query("UPDATE idempotency_keys SET order_id = $3 WHERE user_id = $1 AND key = $2")
            .bind(key.user_id)
            .bind(key.key)
            .bind(order_id)
            .execute(&mut *tx)
            .await?;
    }
    let mut stored = attach_items(&mut *tx, vec![row]).await?;
    tx.commit().await?;
    Ok(stored.remove(0))
}

/// A user's own orders, newest first (no call to any other service).
pub async fn list_for_user(
    pool: &PgPool,
    user_id: i64,
    skip: i64,
    limit: i64,
) -> Result<Vec<Order>, ApiError> {
    let rows: Vec<OrderRow> = sqlx::query_as(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = $1 AND status <> 'pending'
         ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT $3"
    ))
    .bind(user_id)
    .bind(skip)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(attach_items(pool, rows)
        .await?
        .into_iter()
        .map(|s| s.order)
        .collect())
}

pub async fn get(pool: &PgPool, id: i64) -> Result<Option<StoredOrder>, ApiError> {
    let rows: Vec<OrderRow> =
        sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
            .bind(id)
            .fetch_all(pool)
            .await?;
    Ok(attach_items(pool, rows).await?.into_iter().next())
}

/// Moves an order to `next` if the lifecycle allows, with its event, under a
/// row lock. Returns the order before and after.
pub async fn change_status<T: serde::Serialize>(
    pool: &PgPool,
    id: i64,
    next: OrderStatus,
    make_event: impl FnOnce(OrderStatus, &StoredOrder) -> NewEvent<T>,
) -> Result<(OrderStatus, StoredOrder), ApiError> {
    let mut tx = pool.begin().await?;
    let current: Option<(String,)> =
        sqlx::query_as("SELECT status FROM orders WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let (current,) = current.ok_or_else(|| ApiError::NotFound(format!("Order {id} not found")))?;
    let old = status(&current);
    if !old.can_move_to(next) {
        return Err(ApiError::Conflict(format!(
            "Cannot change order status from {old} to {next}"
        )));
    }
    let row: OrderRow = sqlx::query_as(&format!(
        "UPDATE orders SET status = $2, updated_at = now() WHERE id = $1 RETURNING {ORDER_COLUMNS}"
    ))
    .bind(id)
    .bind(next.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let stored = attach_items(&mut *tx, vec![row]).await?.remove(0);
    insert_event(&mut tx, &make_event(old, &stored)).await?;
    tx.commit().await?;
    Ok((old, stored))
}

pub async fn mark_stock_released(pool: &PgPool, id: i64) -> Result<(), ApiError> {
    sqlx::query("UPDATE orders SET stock_released_at = now() WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Cancelled orders whose stock is not yet back.
pub async fn awaiting_release(pool: &PgPool, limit: i64) -> Result<Vec<i64>, ApiError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM orders WHERE status = 'cancelled' AND stock_released_at IS NULL ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Pending orders older than `age_secs`: their request died midway.
pub async fn stale_pending(pool: &PgPool, age_secs: i64, limit: i64) -> Result<Vec<i64>, ApiError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM orders WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1)
         ORDER BY id LIMIT $2",
    )
    .bind(age_secs as f64)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
