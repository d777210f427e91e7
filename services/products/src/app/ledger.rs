//! The ledger's background work: expiring holds that were never confirmed,
//! and the ledger's gauges.

use crate::store::reservations::{expire_due, summary};
use shop_platform::cache::Announced;
use sqlx::PgPool;
use std::time::Duration;

/// `products_reservations{state}` (held, overdue, confirmed, released) and
/// `products_reserved_units` on `/metrics`, refreshed until `shutdown`.
pub async fn report(
    pool: PgPool,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    shop_platform::metrics::every("reservations", shutdown, || async {
        let s = summary(&pool).await?;
        for (state, n) in [
            ("held", s.held_orders),
            ("overdue", s.overdue_orders),
            ("confirmed_last_hour", s.confirmed_last_hour),
            ("released_last_hour", s.released_last_hour),
            ("expired_last_day", s.expired_last_day),
        ] {
            metrics::gauge!("products_reservations", "state" => state).set(n as f64);
        }
        metrics::gauge!("products_reserved_units").set(s.held_units as f64);
        Ok(())
    })
    .await
}

/// Expires due holds until cancelled: every few seconds, and at once again
/// while a pass finds a full batch. The products whose stock came back are
/// forgotten by `catalogue` and announced.
pub async fn sweeper(
    pool: PgPool,
    catalogue: Announced,
    every: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    const BATCH: i64 = 100;
    // Listed at zero from the start, so a dashboard finds the series.
    metrics::counter!("products_reservations_expired_total").increment(0);
    loop {
        let change = catalogue.change();
        let expired = expire_due(&pool, BATCH).await;
        if let Ok(done) = &expired {
            change.moved(&done.products);
        } else {
            // Failed: it may have moved anything; the change says so.
            drop(change);
        }
        match expired {
            Ok(done) if !done.orders.is_empty() => {
                metrics::counter!("products_reservations_expired_total")
                    .increment(done.orders.len() as u64);
                tracing::warn!(
                    orders = ?done.orders,
                    units = done.units,
                    "expired reservations that were never confirmed; their stock is back"
                );
                if i64::try_from(done.orders.len()).unwrap_or(0) == BATCH {
                    continue;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "reservation expiry pass failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(every) => {}
        }
    }
}
