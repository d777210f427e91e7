//! Stock reservation for the orders service, kept as a ledger: one
//! `reservations` row per order (held → confirmed | released | expired) and
//! its lines in `stock_reservations`.
//!
//! - Reserving takes every line or none, and is idempotent per order id.
//! - A release that comes first leaves a `released` mark, so a reservation
//!   arriving late for the same order is refused instead of holding stock
//!   that no order will ever reference.
//! - Holds not confirmed by their `expires_at` are expired by [`expire_due`]
//!   (run by every replica; rows are claimed with `SKIP LOCKED`).
//!
//! Locks are always taken in one order — the order's ledger row, then product
//! rows by id — so concurrent buyers queue instead of deadlocking; the
//! `stock_quantity >= 0` constraint is the last line of defence.
//!
//! The transactions that move stock keep the catalogue trigger quiet
//! ([`begin_quiet`]) and name the products they moved: the service announces them
//! after the commit, in batches (`platform::cache`), so these commits never
//! queue for PostgreSQL's notification lock.

use crate::{
    domain::reservation::{self, Hold},
    error::Error,
};
use rust_decimal::Decimal;
use shop_types::Money;
pub use shop_types::internal::{
    Confirmed, Released, Reservation, ReserveLine, ReserveRequest, ReservedLine,
};
use sqlx::{PgPool, Postgres, Transaction};
use std::{collections::BTreeMap, time::Duration};

/// The longest a reservation waits for a product's row lock.
pub const RESERVE_LOCK_WAIT: Duration = Duration::from_secs(2);

/// Begins a transaction that moves stock: the catalogue trigger stays quiet
/// (the caller announces the products it returns once it commits), and a
/// wait for a row lock is bounded by `lock_wait`. Sent with the `BEGIN`, in
/// the same round trip.
async fn begin_quiet(
    pool: &PgPool,
    lock_wait: Duration,
) -> Result<Transaction<'static, Postgres>, Error> {
    Ok(pool
        .begin_with(format!(
            "BEGIN; SET LOCAL lock_timeout = '{}ms'; SET LOCAL shop.changes_announced = 'app'",
            lock_wait.as_millis()
        ))
        .await?)
}

/// Where an order's reservation stands; `None` when there is none.
async fn state_of(
    tx: &mut Transaction<'_, Postgres>,
    order_id: i64,
    lock: bool,
) -> Result<Option<Hold>, Error> {
    let sql = if lock {
        "SELECT status FROM reservations WHERE order_id = $1 FOR UPDATE"
    } else {
        "SELECT status FROM reservations WHERE order_id = $1"
    };
    let state: Option<String> = sqlx::query_scalar(sql)
        .bind(order_id)
        .fetch_optional(&mut **tx)
        .await?;
    state.map(Hold::try_from).transpose()
}

/// The reservation an earlier call made for this order.
async fn existing(tx: &mut Transaction<'_, Postgres>, order_id: i64) -> Result<Reservation, Error> {
    let confirmed = match state_of(tx, order_id, false).await? {
        Some(state) if state.is_live() => state == Hold::Confirmed,
        Some(state) => {
            return Err(Error::ReservationSettled {
                order_id,
                state: state.as_str(),
            });
        }
        None => return Err(Error::NoReservation(order_id)),
    };
    let rows: Vec<(i64, String, Decimal, i32)> = sqlx::query_as(
        "SELECT product_id, product_name, product_price, quantity
         FROM stock_reservations WHERE order_id = $1 ORDER BY product_id",
    )
    .bind(order_id)
    .fetch_all(&mut **tx)
    .await?;
    let lines = rows
        .into_iter()
        .map(|(product_id, product_name, price, quantity)| {
            Ok(ReservedLine {
                product_id,
                product_name,
                product_price: Money::new(price)
                    .map_err(|e| anyhow::anyhow!("stored price: {e}"))?,
                quantity,
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok(Reservation {
        order_id,
        lines,
        confirmed,
    })
}

/// Reserves every line or none, held for `hold` (or the order's for good at
/// once, when the request says `confirm`). A repeated call for the same
/// order returns the first reservation; a call after the order's release is
/// refused.
pub async fn reserve(
    pool: &PgPool,
    req: &ReserveRequest,
    hold: Duration,
) -> Result<Reservation, Error> {
    let wanted = reservation::normalise(&req.items)?;
    let order_id = req.order_id;
    // A hot product queues buyers on its row lock; a wait longer than this
    // is answered "busy" (503) well before the caller's own timeout, so the
    // caller gets a definite answer instead of an unknown outcome.
    let mut tx = begin_quiet(pool, RESERVE_LOCK_WAIT).await?;
    // The ledger row first: a concurrent call for the same order, or its
    // release, waits here until this transaction ends.
    let hold_ms = i64::try_from(hold.as_millis()).unwrap_or(i64::MAX);
    let claimed = sqlx::query(
        "INSERT INTO reservations (order_id, status, expires_at)
         VALUES ($1, $3, now() + $2 * interval '1 millisecond') ON CONFLICT DO NOTHING",
    )
    .bind(order_id)
    .bind(hold_ms)
    .bind(
        if req.confirm {
            Hold::Confirmed
        } else {
            Hold::Held
        }
        .as_str(),
    )
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() == 0 {
        let earlier = existing(&mut tx, order_id).await?;
        let same = earlier.lines.len() == wanted.len()
            && earlier
                .lines
                .iter()
                .all(|l| wanted.get(&l.product_id) == Some(&l.quantity));
        if !same {
            return Err(Error::OrderIdReused(order_id));
        }
        return Ok(earlier);
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
    for (&id, &qty) in &wanted {
        let Some((_, name, price, stock, active)) = found.get(&id) else {
            return Err(Error::ProductNotFound(id));
        };
        if !active {
            return Err(Error::ProductInactive {
                id,
                name: name.clone(),
            });
        }
        if *stock < qty {
            return Err(Error::InsufficientStock {
                id,
                name: name.clone(),
                requested: qty,
                available: *stock,
            });
        }
        lines.push(ReservedLine {
            product_id: id,
            product_name: name.clone(),
            product_price: Money::new(*price).map_err(|e| anyhow::anyhow!("stored price: {e}"))?,
            quantity: qty,
        });
    }
    reservation::fits_one_order(&lines)?;
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let names: Vec<String> = lines.iter().map(|l| l.product_name.clone()).collect();
    let prices: Vec<Decimal> = lines.iter().map(|l| l.product_price.amount()).collect();
    // Stock taken and the lines written in one statement: the product rows
    // stay locked for one round trip and the commit.
    sqlx::query(
        "WITH taken AS (
             UPDATE products p SET stock_quantity = p.stock_quantity - r.quantity, updated_at = now()
             FROM unnest($2::bigint[], $3::int[]) AS r(id, quantity) WHERE p.id = r.id)
         INSERT INTO stock_reservations (order_id, product_id, quantity, product_name, product_price)
         SELECT $1, * FROM unnest($2::bigint[], $3::int[], $4::text[], $5::numeric[])",
    )
    .bind(order_id)
    .bind(&ids)
    .bind(&quantities)
    .bind(&names)
    .bind(&prices)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Reservation {
        order_id,
        lines,
        confirmed: req.confirm,
    })
}

/// The hold becomes the order's for good: it no longer expires. Idempotent;
/// refused once the reservation was released or expired.
pub async fn confirm(pool: &PgPool, order_id: i64) -> Result<Confirmed, Error> {
    // One statement, one commit: the row lock orders it against a release
    // or an expiry, and the status it finds decides.
    let confirmed = sqlx::query(
        "UPDATE reservations SET status = $2, updated_at = now()
         WHERE order_id = $1 AND status = $3",
    )
    .bind(order_id)
    .bind(Hold::Confirmed.as_str())
    .bind(Hold::Held.as_str())
    .execute(pool)
    .await?;
    if confirmed.rows_affected() == 1 {
        return Ok(Confirmed { order_id });
    }
    let mut tx = pool.begin().await?;
    match state_of(&mut tx, order_id, false).await? {
        Some(Hold::Confirmed) => {}
        Some(state) => {
            return Err(Error::ReservationSettled {
                order_id,
                state: state.as_str(),
            });
        }
        None => return Err(Error::NoReservation(order_id)),
    }
    Ok(Confirmed { order_id })
}

/// Units put back, and the products they went to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Returned {
    units: i64,
    products: Vec<i64>,
}

/// Puts units back, locking the product rows in id order first.
async fn return_stock(
    tx: &mut Transaction<'_, Postgres>,
    order_ids: &[i64],
) -> Result<Returned, Error> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT product_id, SUM(quantity)::BIGINT FROM stock_reservations
         WHERE order_id = ANY($1) GROUP BY product_id ORDER BY product_id",
    )
    .bind(order_ids)
    .fetch_all(&mut **tx)
    .await?;
    if rows.is_empty() {
        return Ok(Returned::default());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let quantities: Vec<i64> = rows.iter().map(|r| r.1).collect();
    sqlx::query("SELECT id FROM products WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(&ids)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE products p SET stock_quantity = p.stock_quantity + r.quantity, updated_at = now()
         FROM unnest($1::bigint[], $2::bigint[]) AS r(id, quantity) WHERE p.id = r.id",
    )
    .bind(&ids)
    .bind(&quantities)
    .execute(&mut **tx)
    .await?;
    Ok(Returned {
        units: quantities.iter().sum(),
        products: ids,
    })
}

/// What a release did: the answer for the orders service, and the products
/// whose stock moved, to announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub order_id: i64,
    pub units_returned: i64,
    pub products: Vec<i64>,
}

impl Release {
    pub fn answer(&self) -> Released {
        Released {
            order_id: self.order_id,
            units_returned: self.units_returned,
        }
    }
}

/// Returns an order's units to stock, whether held or confirmed. Idempotent:
/// a second call returns nothing. With no reservation yet, it leaves the
/// mark that refuses a late one.
pub async fn release(pool: &PgPool, order_id: i64) -> Result<Release, Error> {
    let mut tx = begin_quiet(pool, shop_platform::db::LOCK_TIMEOUT).await?;
    let marked = sqlx::query(
        "INSERT INTO reservations (order_id, status, expires_at)
         VALUES ($1, $2, now()) ON CONFLICT DO NOTHING",
    )
    .bind(order_id)
    .bind(Hold::Released.as_str())
    .execute(&mut *tx)
    .await?;
    let mut returned = Returned::default();
    if marked.rows_affected() == 0
        && state_of(&mut tx, order_id, true)
            .await?
            .is_some_and(Hold::is_live)
    {
        sqlx::query("UPDATE reservations SET status = $2, updated_at = now() WHERE order_id = $1")
            .bind(order_id)
            .bind(Hold::Released.as_str())
            .execute(&mut *tx)
            .await?;
        returned = return_stock(&mut tx, &[order_id]).await?;
    }
    tx.commit().await?;
    Ok(Release {
        order_id,
        units_returned: returned.units,
        products: returned.products,
    })
}

/// Expires up to `limit` holds past their time and returns their stock, in
/// one transaction. Rows another replica is expiring are skipped.
pub async fn expire_due(pool: &PgPool, limit: i64) -> Result<Expired, Error> {
    let mut tx = begin_quiet(pool, shop_platform::db::LOCK_TIMEOUT).await?;
    let orders: Vec<i64> = sqlx::query_scalar(
        // Literal states: the partial index on held holds is used only for
        // a constant that matches its predicate.
        "UPDATE reservations SET status = 'expired', updated_at = now()
         WHERE order_id IN (
             SELECT order_id FROM reservations WHERE status = 'held' AND expires_at <= now()
             ORDER BY order_id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING order_id",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let returned = if orders.is_empty() {
        Returned::default()
    } else {
        return_stock(&mut tx, &orders).await?
    };
    tx.commit().await?;
    Ok(Expired {
        orders,
        units: returned.units,
        products: returned.products,
    })
}

/// What one expiry pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    pub orders: Vec<i64>,
    pub units: i64,
    /// The products whose stock came back, to announce.
    pub products: Vec<i64>,
}

/// The ledger at a glance, for operators.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct LedgerSummary {
    /// Reservations waiting for their order to be confirmed.
    pub held_orders: i64,
    pub held_units: i64,
    /// Held past their expiry, waiting for the sweeper.
    pub overdue_orders: i64,
    /// Expired in the last 24 hours.
    pub expired_last_day: i64,
    /// Confirmed in the last hour.
    pub confirmed_last_hour: i64,
    /// Released (undone or cancelled) in the last hour.
    pub released_last_hour: i64,
}

/// Each count reads a partial or composite index over a bounded set (live
/// holds, the last hour or day), never the whole ledger. The states are
/// literals here (the names of [`Hold`]): a partial index is used only for
/// a constant that matches its predicate.
pub const SUMMARY: &str = "SELECT
     (SELECT count(*) FROM reservations WHERE status = 'held'),
     (SELECT COALESCE(SUM(s.quantity), 0)::BIGINT FROM reservations h
        JOIN stock_reservations s USING (order_id) WHERE h.status = 'held'),
     (SELECT count(*) FROM reservations WHERE status = 'held' AND expires_at <= now()),
     (SELECT count(*) FROM reservations WHERE status = 'expired' AND updated_at > now() - interval '1 day'),
     (SELECT count(*) FROM reservations WHERE status = 'confirmed' AND updated_at > now() - interval '1 hour'),
     (SELECT count(*) FROM reservations WHERE status = 'released' AND updated_at > now() - interval '1 hour')";

pub async fn summary(pool: &PgPool) -> Result<LedgerSummary, Error> {
    let (
        held_orders,
        held_units,
        overdue_orders,
        expired_last_day,
        confirmed_last_hour,
        released_last_hour,
    ) = sqlx::query_as::<_, (i64, i64, i64, i64, i64, i64)>(SUMMARY)
        .fetch_one(pool)
        .await?;
    Ok(LedgerSummary {
        held_orders,
        held_units,
        overdue_orders,
        expired_last_day,
        confirmed_last_hour,
        released_last_hour,
    })
}

/// Settled holds (released or expired: their stock is back) past the
/// retention go, lines first, in one statement. Confirmed ones stay: a
/// later cancellation releases their stock from them.
pub const RETENTION: &[shop_platform::retention::Rule] = &[shop_platform::retention::Rule {
    what: "reservations",
    sql: "WITH gone AS (
              SELECT order_id FROM reservations
              WHERE status IN ('released', 'expired') AND updated_at < $1
              LIMIT $2 FOR UPDATE SKIP LOCKED),
          lines AS (DELETE FROM stock_reservations WHERE order_id IN (SELECT order_id FROM gone))
          DELETE FROM reservations WHERE order_id IN (SELECT order_id FROM gone)",
}];
