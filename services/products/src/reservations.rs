//! Stock reservation for the orders service: all lines of one order or none,
//! idempotent per order id, released on request. Rows are locked in id order
//! so concurrent buyers queue instead of deadlocking, and the
//! `stock_quantity >= 0` constraint is the last line of defence.

use rust_decimal::Decimal;
use shop_platform::ApiError;
use shop_types::Money;
pub use shop_types::internal::{Released, Reservation, ReserveLine, ReserveRequest, ReservedLine};
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::BTreeMap;

/// Merges repeated products and checks quantities.
fn normalise(items: &[ReserveLine]) -> Result<BTreeMap<i64, i32>, ApiError> {
    if items.is_empty() {
        return Err(ApiError::invalid_field(
            &["body", "items"],
            "at least one item is required",
        ));
    }
    let mut merged = BTreeMap::new();
    for line in items {
        if line.quantity < 1 {
            return Err(ApiError::invalid_field(
                &["body", "items", "quantity"],
                "quantity must be at least 1",
            ));
        }
        let q: &mut i32 = merged.entry(line.product_id).or_insert(0);
        *q = q.checked_add(line.quantity).ok_or_else(|| {
            ApiError::invalid_field(&["body", "items", "quantity"], "quantity is too large")
        })?;
    }
    Ok(merged)
}

async fn existing(
    tx: &mut Transaction<'_, Postgres>,
    order_id: i64,
) -> Result<Option<Reservation>, ApiError> {
    let rows: Vec<(i64, String, Decimal, i32, bool)> = sqlx::query_as(
        "SELECT product_id, product_name, product_price, quantity, released_at IS NOT NULL
         FROM stock_reservations WHERE order_id = $1 ORDER BY product_id",
    )
    .bind(order_id)
    .fetch_all(&mut **tx)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    if rows.iter().any(|r| r.4) {
        return Err(ApiError::Conflict(format!(
            "The reservation for order {order_id} was already released"
        )));
    }
    Ok(Some(Reservation {
        order_id,
        lines: rows
            .into_iter()
            .map(
                |(product_id, product_name, price, quantity, _)| ReservedLine {
                    product_id,
                    product_name,
                    product_price: Money::new(price).unwrap_or(Money::ZERO),
                    quantity,
                },
            )
            .collect(),
    }))
}

/// Reserves every line or none. A repeated call for the same order returns
/// the first reservation.
pub async fn reserve(pool: &PgPool, req: &ReserveRequest) -> Result<Reservation, ApiError> {
    let wanted = normalise(&req.items)?;
    if let Some(r) = try_reserve(pool, req.order_id, &wanted).await? {
        return Ok(r);
    }
    // A concurrent call for the same order committed first: return its reservation.
    let mut tx = pool.begin().await?;
    existing(&mut tx, req.order_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the reservation of order {} vanished", req.order_id).into())
}

/// `None` when a concurrent call for the same order won the race; this
/// attempt's changes are then rolled back.
async fn try_reserve(
    pool: &PgPool,
    order_id: i64,
    wanted: &BTreeMap<i64, i32>,
) -> Result<Option<Reservation>, ApiError> {
    let mut tx = pool.begin().await?;
    if let Some(r) = existing(&mut tx, order_id).await? {
        return Ok(Some(r));
    }
    let ids: Vec<i64> = wanted.keys().copied().collect();
    let rows: Vec<(i64, String, Decimal, i32, bool)> = sqlx::query_as(
        "SELECT id, name, price, stock_quantity, is_active FROM products
         WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let found: BTreeMap<i64, _> = rows.into_iter().map(|r| (r.0, r)).collect();
    let mut lines = Vec::with_capacity(wanted.len());
    for (&id, &qty) in wanted {
        let Some((_, name, price, stock, active)) = found.get(&id) else {
            return Err(ApiError::NotFound(format!("Product {id} not found")));
        };
        if !active {
            return Err(ApiError::Conflict(format!(
                "Product '{name}' (id {id}) is not available"
            )));
        }
        if *stock < qty {
            return Err(ApiError::Conflict(format!(
                "Insufficient stock for product '{name}' (id {id}): requested {qty}, available {stock}"
            )));
        }
        lines.push(ReservedLine {
            product_id: id,
            product_name: name.clone(),
            product_price: Money::new(*price).map_err(|e| anyhow::anyhow!("stored price: {e}"))?,
            quantity: qty,
        });
    }
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let names: Vec<String> = lines.iter().map(|l| l.product_name.clone()).collect();
    let prices: Vec<Decimal> = lines.iter().map(|l| l.product_price.amount()).collect();
    sqlx::query(
        "UPDATE products p SET stock_quantity = p.stock_quantity - r.quantity, updated_at = now()
         FROM unnest($1::bigint[], $2::int[]) AS r(id, quantity) WHERE p.id = r.id",
    )
    .bind(&ids)
    .bind(&quantities)
    .execute(&mut *tx)
    .await?;
    let recorded = sqlx::query(
        "INSERT INTO stock_reservations (order_id, product_id, quantity, product_name, product_price)
         SELECT $1, * FROM unnest($2::bigint[], $3::int[], $4::text[], $5::numeric[])
         ON CONFLICT DO NOTHING",
    )
    .bind(order_id)
    .bind(&ids)
    .bind(&quantities)
    .bind(&names)
    .bind(&prices)
    .execute(&mut *tx)
    .await?;
    if recorded.rows_affected() != ids.len() as u64 {
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(Reservation { order_id, lines }))
}

/// Returns held units to stock. Idempotent: a second call returns nothing.
pub async fn release(pool: &PgPool, order_id: i64) -> Result<Released, ApiError> {
    let mut tx = pool.begin().await?;
    let released: Vec<(i64, i32)> = sqlx::query_as(
        "UPDATE stock_reservations SET released_at = now()
         WHERE order_id = $1 AND released_at IS NULL RETURNING product_id, quantity",
    )
    .bind(order_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut sorted = released;
    sorted.sort_unstable();
    let ids: Vec<i64> = sorted.iter().map(|r| r.0).collect();
    let quantities: Vec<i32> = sorted.iter().map(|r| r.1).collect();
    if !ids.is_empty() {
        sqlx::query(
            "UPDATE products p SET stock_quantity = p.stock_quantity + r.quantity, updated_at = now()
             FROM unnest($1::bigint[], $2::int[]) AS r(id, quantity) WHERE p.id = r.id",
        )
        .bind(&ids)
        .bind(&quantities)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Released {
        order_id,
        units_returned: quantities.iter().map(|&q| i64::from(q)).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_products_are_merged() {
        let m = normalise(&[
            ReserveLine {
                product_id: 2,
                quantity: 1,
            },
            ReserveLine {
                product_id: 1,
                quantity: 2,
            },
            ReserveLine {
                product_id: 2,
                quantity: 3,
            },
        ])
        .unwrap();
        assert_eq!(m.into_iter().collect::<Vec<_>>(), [(1, 2), (2, 4)]);
    }

    #[test]
    fn empty_or_non_positive_lines_are_refused() {
        assert!(normalise(&[]).is_err());
        assert!(
            normalise(&[ReserveLine {
                product_id: 1,
                quantity: 0
            }])
            .is_err()
        );
    }
}
