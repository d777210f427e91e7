//! SQL for orders, their lines and timelines. Every status change writes
//! its event into the outbox in the same transaction.

use crate::{
    domain::{events::NewEvent, lifecycle},
    error::Error,
    store::{idempotency, outbox},
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shop_types::internal::ReservedLine;
use shop_types::{Money, Order, OrderEvent, OrderItem, OrderStatus};
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::HashMap;

#[derive(Debug, sqlx::FromRow)]
struct OrderRow {
    id: i64,
    user_id: i64,
    user_email: String,
    #[sqlx(try_from = "String")]
    status: OrderStatus,
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

/// The orders of `rows` with their lines and timelines.
async fn attach_items(
    conn: &mut sqlx::PgConnection,
    rows: Vec<OrderRow>,
) -> Result<Vec<StoredOrder>, Error> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let items: Vec<ItemRow> = sqlx::query_as(&format!(
        "SELECT {ITEM_COLUMNS} FROM order_items WHERE order_id = ANY($1) ORDER BY id"
    ))
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    attach(conn, rows, items).await
}

/// The orders of `rows` with `items` (theirs, in order) and their timelines.
async fn attach(
    conn: &mut sqlx::PgConnection,
    rows: Vec<OrderRow>,
    items: Vec<ItemRow>,
) -> Result<Vec<StoredOrder>, Error> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut by_order: HashMap<i64, Vec<OrderItem>> = HashMap::new();
    for item in items {
        by_order
            .entry(item.order_id)
            .or_default()
            .push(item.into_item());
    }
    let history: Vec<(i64, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT order_id, status, at FROM order_history WHERE order_id = ANY($1) ORDER BY id",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut timelines: HashMap<i64, Vec<OrderEvent>> = HashMap::new();
    for (order_id, status, at) in history {
        let status = OrderStatus::try_from(status).map_err(anyhow::Error::msg)?;
        timelines
            .entry(order_id)
            .or_default()
            .push(OrderEvent { status, at });
    }
    Ok(rows
        .into_iter()
        .map(|r| StoredOrder {
            order: Order {
                id: r.id,
                user_id: r.user_id,
                status: r.status,
                total_amount: money(r.total_amount),
                created_at: r.created_at,
                updated_at: r.updated_at,
                items: by_order.remove(&r.id).unwrap_or_default(),
                timeline: timelines.remove(&r.id).unwrap_or_default(),
            },
            user_email: r.user_email,
        })
        .collect())
}

/// Step one of checkout: an order row without lines, to reserve stock against.
pub async fn insert_pending(pool: &PgPool, user_id: i64, user_email: &str) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "INSERT INTO orders (user_id, user_email, status, total_amount) VALUES ($1, $2, 'pending', 0) RETURNING id",
    )
    .bind(user_id)
    .bind(user_email)
    .fetch_one(pool)
    .await?)
}

/// Removes a pending order the products service refused: it holds nothing.
pub async fn forget(pool: &PgPool, order_id: i64) -> Result<(), Error> {
    sqlx::query("DELETE FROM orders WHERE id = $1 AND status = 'pending'")
        .bind(order_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Marks a pending order as never to be confirmed; from here its stock is
/// released and the row removed.
pub async fn abandon(pool: &PgPool, order_id: i64) -> Result<(), Error> {
    sqlx::query(
        "UPDATE orders SET abandoned_at = now(), updated_at = now()
         WHERE id = $1 AND status = 'pending' AND abandoned_at IS NULL",
    )
    .bind(order_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes an abandoned checkout once its stock is released.
pub async fn remove_abandoned(pool: &PgPool, order_id: i64) -> Result<(), Error> {
    sqlx::query(
        "DELETE FROM orders WHERE id = $1 AND status = 'pending' AND abandoned_at IS NOT NULL",
    )
    .bind(order_id)
    .execute(pool)
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
    key: Option<idempotency::Held<'_>>,
) -> Result<StoredOrder, Error> {
    let mut tx = pool.begin().await?;
    // A cancelled order's stock goes back right away; the caller releases it.
    let row: Option<OrderRow> = sqlx::query_as(&format!(
        "UPDATE orders SET status = $2, total_amount = $3, updated_at = now()
         WHERE id = $1 AND status = 'pending' AND abandoned_at IS NULL RETURNING {ORDER_COLUMNS}"
    ))
    .bind(order_id)
    .bind(final_status.as_str())
    .bind(total.amount())
    .fetch_optional(&mut *tx)
    .await?;
    // Abandoned (the repair loop took it over) or cancelled meanwhile.
    let row = row.ok_or(Error::CheckoutAbandoned)?;
    let product_ids: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
    let names: Vec<String> = lines.iter().map(|l| l.product_name.clone()).collect();
    let prices: Vec<Decimal> = lines.iter().map(|l| l.product_price.amount()).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let subtotals: Vec<Decimal> = lines.iter().map(|l| l.subtotal().amount()).collect();
    let mut items: Vec<ItemRow> = sqlx::query_as(&format!(
        "INSERT INTO order_items (order_id, product_id, product_name, product_price, quantity, subtotal)
         SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::numeric[], $5::int[], $6::numeric[])
         RETURNING {ITEM_COLUMNS}"
    ))
    .bind(order_id)
    .bind(&product_ids)
    .bind(&names)
    .bind(&prices)
    .bind(&quantities)
    .bind(&subtotals)
    .fetch_all(&mut *tx)
    .await?;
    // Listed as a read lists them.
    items.sort_by_key(|item| item.id);
    if let Some(event) = event {
        outbox::insert(&mut tx, event).await?;
    }
    // With the order, so a lost commit acknowledgement loses nothing.
    if let Some(key) = key {
        idempotency::record_order(&mut tx, key, order_id).await?;
    }
    let mut stored = attach(&mut tx, vec![row], items).await?;
    tx.commit().await?;
    Ok(stored.remove(0))
}

/// Which orders a listing shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter {
    /// One user's orders; `None` for everyone's (admins).
    pub user_id: Option<i64>,
    pub status: Option<OrderStatus>,
    /// Checkouts in flight are listed only when asked for (admins).
    pub include_pending: bool,
}

/// Orders newest first (no call to any other service).
pub async fn list(
    pool: &PgPool,
    filter: ListFilter,
    skip: i64,
    limit: i64,
) -> Result<Vec<Order>, Error> {
    let mut snapshot = snapshot(pool).await?;
    let rows: Vec<OrderRow> = sqlx::query_as(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE ($1::bigint IS NULL OR user_id = $1)
           AND ($2::text IS NULL OR status = $2)
           AND ($3 OR status <> 'pending')
         ORDER BY created_at DESC, id DESC OFFSET $4 LIMIT $5"
    ))
    .bind(filter.user_id)
    .bind(filter.status.map(|s| s.as_str()))
    .bind(filter.include_pending)
    .bind(skip)
    .bind(limit)
    .fetch_all(&mut *snapshot)
    .await?;
    Ok(attach_items(&mut snapshot, rows)
        .await?
        .into_iter()
        .map(|s| s.order)
        .collect())
}

pub async fn get(pool: &PgPool, id: i64) -> Result<Option<StoredOrder>, Error> {
    let mut snapshot = snapshot(pool).await?;
    let rows: Vec<OrderRow> =
        sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
            .bind(id)
            .fetch_all(&mut *snapshot)
            .await?;
    Ok(attach_items(&mut snapshot, rows).await?.into_iter().next())
}

/// A read-only transaction that sees one moment: an order, its lines and
/// its timeline read in it always agree.
async fn snapshot(pool: &PgPool) -> Result<Transaction<'static, Postgres>, Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Moves an order to `next` if the lifecycle allows it `by` this mover,
/// with its event, under a row lock. Returns the order before and after.
pub async fn change_status<T: serde::Serialize>(
    pool: &PgPool,
    id: i64,
    next: OrderStatus,
    by: lifecycle::By,
    make_event: impl FnOnce(OrderStatus, &StoredOrder) -> NewEvent<T>,
) -> Result<(OrderStatus, StoredOrder), Error> {
    let mut tx = pool.begin().await?;
    let current: Option<(String, bool)> = sqlx::query_as(
        "SELECT status, abandoned_at IS NOT NULL FROM orders WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    // An abandoned checkout is on its way out.
    let Some((current, false)) = current else {
        return Err(Error::OrderNotFound(id));
    };
    let old = OrderStatus::try_from(current).map_err(anyhow::Error::msg)?;
    if !lifecycle::allows(old, next, by) {
        return Err(Error::Move {
            from: old,
            to: next,
        });
    }
    let row: OrderRow = sqlx::query_as(&format!(
        "UPDATE orders SET status = $2, updated_at = now() WHERE id = $1 RETURNING {ORDER_COLUMNS}"
    ))
    .bind(id)
    .bind(next.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let stored = attach_items(&mut tx, vec![row]).await?.remove(0);
    outbox::insert(&mut tx, &make_event(old, &stored)).await?;
    tx.commit().await?;
    Ok((old, stored))
}

pub async fn mark_stock_released(pool: &PgPool, id: i64) -> Result<(), Error> {
    sqlx::query("UPDATE orders SET stock_released_at = now() WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// How long a replica's claim on an order under repair lasts.
pub const REPAIR_LEASE_SECS: f64 = 30.0;

/// Claims pending orders to undo: abandoned ones, and ones older than
/// `age_secs` (their request died midway). Each becomes abandoned, so it can
/// no longer be confirmed, and is leased to this replica for a while.
pub async fn claim_for_repair(pool: &PgPool, age_secs: f64, limit: i64) -> Result<Vec<i64>, Error> {
    Ok(sqlx::query_scalar(
        "UPDATE orders SET abandoned_at = COALESCE(abandoned_at, now()),
                repair_after = now() + make_interval(secs => $3)
         WHERE id IN (
             SELECT id FROM orders
             WHERE status = 'pending'
               AND (abandoned_at IS NOT NULL OR created_at < now() - make_interval(secs => $1))
               AND (repair_after IS NULL OR repair_after <= now())
             ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id",
    )
    .bind(age_secs)
    .bind(limit)
    .bind(REPAIR_LEASE_SECS)
    .fetch_all(pool)
    .await?)
}

/// After a failed repair, lets the next pass (on any replica) retry soon
/// instead of waiting out the whole lease.
pub async fn repair_again_after(
    pool: &PgPool,
    id: i64,
    delay: std::time::Duration,
) -> Result<(), Error> {
    sqlx::query("UPDATE orders SET repair_after = now() + make_interval(secs => $2) WHERE id = $1")
        .bind(id)
        .bind(delay.as_secs_f64())
        .execute(pool)
        .await?;
    Ok(())
}

/// Claims cancelled orders whose stock is not yet back.
pub async fn claim_unreleased(pool: &PgPool, limit: i64) -> Result<Vec<i64>, Error> {
    Ok(sqlx::query_scalar(
        "UPDATE orders SET repair_after = now() + make_interval(secs => $2)
         WHERE id IN (
             SELECT id FROM orders
             WHERE status = 'cancelled' AND stock_released_at IS NULL
               AND (repair_after IS NULL OR repair_after <= now())
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id",
    )
    .bind(limit)
    .bind(REPAIR_LEASE_SECS)
    .fetch_all(pool)
    .await?)
}
