//! The reservation ledger over a real database: a release that comes first
//! refuses the late reservation, holds expire, confirming is idempotent, and
//! replicas expiring at once never return a unit twice.

mod common;

use common::stock_of;
use rust_decimal::Decimal;
use shop_products::store::reservations::{self, ReserveLine, ReserveRequest};
use sqlx::PgPool;
use std::time::Duration;

const HOLD: Duration = Duration::from_secs(300);

async fn product(pool: &PgPool, sku: &str, stock: i32) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO products (name, price, stock_quantity, sku) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(format!("Product {sku}"))
    .bind(Decimal::new(1000, 2))
    .bind(stock)
    .bind(sku)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn status_of(pool: &PgPool, order_id: i64) -> Option<String> {
    sqlx::query_scalar("SELECT status FROM reservations WHERE order_id = $1")
        .bind(order_id)
        .fetch_optional(pool)
        .await
        .unwrap()
}

fn request(order_id: i64, product_id: i64, quantity: i32) -> ReserveRequest {
    ReserveRequest {
        order_id,
        items: vec![ReserveLine {
            product_id,
            quantity,
        }],
        confirm: false,
    }
}

#[sqlx::test(migrator = "shop_products::MIGRATOR")]
async fn a_release_that_comes_first_refuses_the_late_reservation(pool: PgPool) {
    let a = product(&pool, "LATE-1", 10).await;

    let released = reservations::release(&pool, 7).await.unwrap();
    let late = reservations::reserve(&pool, &request(7, a, 3), HOLD).await;

    assert_eq!(released.units_returned, 0);
    let err = late.expect_err("the order was given up before its reservation arrived");
    assert!(err.to_string().contains("already released"), "{err}");
    assert_eq!(
        stock_of(&pool, a).await,
        10,
        "nothing held for a dead order"
    );
}

#[sqlx::test(migrator = "shop_products::MIGRATOR")]
async fn a_release_waits_for_a_reservation_in_flight_and_undoes_it(pool: PgPool) {
    let a = product(&pool, "LATE-2", 10).await;
    // A buyer holds the product row, so the reservation of order 8 waits.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM products WHERE id = $1 FOR UPDATE")
        .bind(a)
        .execute(&mut *blocker)
        .await
        .unwrap();
    let reserving = tokio::spawn({
        let pool = pool.clone();
        async move { reservations::reserve(&pool, &request(8, a, 4), HOLD).await }
    });
    // Wait until the reservation, its ledger row claimed, waits on the product.
    loop {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
             WHERE NOT l.granted AND a.query LIKE 'SELECT id, name, price%')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting {
            break;
        }
        tokio::task::yield_now().await;
    }
    let releasing = tokio::spawn({
        let pool = pool.clone();
        async move { reservations::release(&pool, 8).await }
    });
    // The release must wait for the reservation in flight, not pass it by:
    // it too is waiting on a lock before the buyer lets go.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            !releasing.is_finished(),
            "the release finished while the reservation was still in flight"
        );
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
             WHERE NOT l.granted AND a.datname = current_database()",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the release never waited"
        );
        tokio::task::yield_now().await;
    }
    blocker.commit().await.unwrap();

    let reserved = reserving.await.unwrap();
    let released = releasing.await.unwrap().unwrap();

    assert!(reserved.is_ok(), "the reservation itself went through");
    assert_eq!(released.units_returned, 4, "and the release undid it");
    assert_eq!(status_of(&pool, 8).await.as_deref(), Some("released"));
    assert_eq!(stock_of(&pool, a).await, 10);
}

#[sqlx::test(migrator = "shop_products::MIGRATOR")]
async fn holds_never_confirmed_expire_and_their_stock_comes_back(pool: PgPool) {
    let a = product(&pool, "EXP-1", 10).await;
    reservations::reserve(&pool, &request(1, a, 2), Duration::ZERO)
        .await
        .unwrap();
    reservations::reserve(&pool, &request(2, a, 3), Duration::ZERO)
        .await
        .unwrap();
    reservations::reserve(&pool, &request(3, a, 1), HOLD)
        .await
        .unwrap();
    reservations::confirm(&pool, 2).await.unwrap();
    assert_eq!(stock_of(&pool, a).await, 4);

    let expired = reservations::expire_due(&pool, 100).await.unwrap();

    assert_eq!(expired.orders, [1], "only the due, unconfirmed hold");
    assert_eq!(expired.units, 2);
    assert_eq!(stock_of(&pool, a).await, 6);
    let late_confirm = reservations::confirm(&pool, 1).await;
    assert!(late_confirm.is_err(), "an expired hold cannot be confirmed");
    assert_eq!(status_of(&pool, 2).await.as_deref(), Some("confirmed"));
}

/// An approved checkout's reservation is the order's for good in the one
/// call: no expiry takes it back, a repeat of the call answers the same, and
/// a release (the order undone) returns its stock once.
#[sqlx::test(migrator = "shop_products::MIGRATOR")]
async fn a_reservation_held_for_good_at_once_never_expires_and_a_release_returns_it(pool: PgPool) {
    let a = product(&pool, "GOOD-1", 10).await;
    let for_good = ReserveRequest {
        confirm: true,
        ..request(21, a, 3)
    };
    let first = reservations::reserve(&pool, &for_good, Duration::ZERO)
        .await
        .unwrap();
    assert!(first.confirmed);
    assert_eq!(status_of(&pool, 21).await.as_deref(), Some("confirmed"));

    let expired = reservations::expire_due(&pool, 100).await.unwrap();
    assert!(expired.orders.is_empty(), "{expired:?}");
    assert_eq!(stock_of(&pool, a).await, 7);
    let again = reservations::reserve(&pool, &for_good, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(again, first, "a repeated call answers the same");
    assert_eq!(stock_of(&pool, a).await, 7, "and takes nothing more");

    let released = reservations::release(&pool, 21).await.unwrap();
    assert_eq!((released.units_returned, released.products), (3, vec![a]));
    assert_eq!(stock_of(&pool, a).await, 10);
}

#[sqlx::test(migrator = "shop_products::MIGRATOR")]
async fn confirming_twice_is_harmless_and_release_after_confirm_returns_stock(pool: PgPool) {
    let a = product(&pool, "CONF-1", 5).await;
    reservations::reserve(&pool, &request(4, a, 2), HOLD)
        .await
        .unwrap();

    reservations::confirm(&pool, 4).await.unwrap();
    reservations::confirm(&pool, 4).await.unwrap();
    assert_eq!(stock_of(&pool, a).await, 3);

    // A confirmed order that is cancelled gives its stock back, once.
    let first = reservations::release(&pool, 4).await.unwrap();
    let second = reservations::release(&pool, 4).await.unwrap();
    assert_eq!((first.units_returned, second.units_returned), (2, 0));
    assert_eq!(stock_of(&pool, a).await, 5);
    assert!(reservations::confirm(&pool, 4).await.is_err());
    assert!(
        reservations::confirm(&pool, 99).await.is_err(),
        "unknown order"
    );
}

#[sqlx::test(migrator = "shop_products::MIGRATOR")]
async fn replicas_expiring_at_once_return_each_unit_once(pool: PgPool) {
    let a = product(&pool, "EXP-2", 300).await;
    for order_id in 1..=200 {
        reservations::reserve(&pool, &request(order_id, a, 1), Duration::ZERO)
            .await
            .unwrap();
    }
    assert_eq!(stock_of(&pool, a).await, 100);

    let sweeps =
        futures::future::join_all((0..4).map(|_| reservations::expire_due(&pool, 60))).await;
    let mut expired: Vec<i64> = sweeps.into_iter().flat_map(|r| r.unwrap().orders).collect();
    while let Ok(more) = reservations::expire_due(&pool, 60).await {
        if more.orders.is_empty() {
            break;
        }
        expired.extend(more.orders);
    }

    expired.sort_unstable();
    assert_eq!(
        expired,
        (1..=200).collect::<Vec<_>>(),
        "each hold expired once"
    );
    assert_eq!(stock_of(&pool, a).await, 300);
}

#[sqlx::test(migrations = false)]
async fn every_connection_of_the_service_pool_has_time_limits(pool: PgPool) {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let server = std::env::var("DATABASE_URL").unwrap();
    let (server, _) = server.rsplit_once('/').unwrap();
    let settings = shop_platform::config::DatabaseSettings {
        url: format!("{server}/{name}").into(),
        max_connections: 2,
    };

    let service_pool = shop_platform::db::connect_and_migrate(&settings, &shop_products::MIGRATOR)
        .await
        .unwrap();

    let (statement, lock, idle): (String, String, String) = sqlx::query_as(
        "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'),
                current_setting('idle_in_transaction_session_timeout')",
    )
    .fetch_one(&service_pool)
    .await
    .unwrap();
    assert_eq!(
        (statement.as_str(), lock.as_str(), idle.as_str()),
        ("10s", "5s", "30s")
    );
    service_pool.close().await;
}

/// A million settled reservations: the operators' summary (and the metrics
/// tick that reads it) looks only at bounded index ranges, and the pruner
/// removes the settled rows past their retention in batches, with their
/// lines, keeping confirmed holds and everything recent.
#[sqlx::test(migrator = "shop_products::MIGRATOR")]
async fn a_million_ledger_rows_neither_slow_the_summary_nor_outlive_their_retention(pool: PgPool) {
    let a = product(&pool, "MILLION", 10).await;
    sqlx::raw_sql(
        "INSERT INTO reservations (order_id, status, expires_at, created_at, updated_at)
         SELECT g, CASE WHEN g % 2 = 0 THEN 'confirmed' WHEN g % 3 = 0 THEN 'expired' ELSE 'released' END,
                now() - interval '60 days', now() - interval '60 days', now() - interval '60 days'
         FROM generate_series(1, 1000000) AS g;
         ANALYZE reservations;",
    )
    .execute(&pool)
    .await
    .unwrap();
    // Old lines of an expired order (3) and a confirmed one (2).
    for order in [2_i64, 3] {
        sqlx::query(
            "INSERT INTO stock_reservations (order_id, product_id, quantity, product_name, product_price)
             VALUES ($1, $2, 1, 'Product MILLION', 10.00)",
        )
        .bind(order)
        .bind(a)
        .execute(&pool)
        .await
        .unwrap();
    }
    // Live and recent ones.
    reservations::reserve(&pool, &request(2_000_001, a, 2), HOLD)
        .await
        .unwrap();
    reservations::reserve(&pool, &request(2_000_002, a, 1), HOLD)
        .await
        .unwrap();
    reservations::release(&pool, 2_000_002).await.unwrap();

    // No statement of the summary reads the whole ledger.
    let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {}", reservations::SUMMARY))
        .fetch_all(&pool)
        .await
        .unwrap();
    let plan = plan.join("\n");
    assert!(
        !plan.contains("Seq Scan on reservations"),
        "the summary scans the ledger:\n{plan}"
    );
    let started = std::time::Instant::now();
    let summary = reservations::summary(&pool).await.unwrap();
    eprintln!(
        "summary over 1,000,002 ledger rows: {:?}",
        started.elapsed()
    );
    assert_eq!((summary.held_orders, summary.held_units), (1, 2));
    assert_eq!(summary.released_last_hour, 1);

    let deleted = shop_platform::retention::prune(
        &pool,
        reservations::RETENTION,
        Duration::from_secs(30 * 86_400),
        10_000,
    )
    .await
    .unwrap();

    assert_eq!(deleted, [("reservations", 500_000)]);
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM reservations GROUP BY status ORDER BY status")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        by_status,
        [
            ("confirmed".to_owned(), 500_000),
            ("held".to_owned(), 1),
            ("released".to_owned(), 1),
        ]
    );
    let lines: Vec<i64> =
        sqlx::query_scalar("SELECT order_id FROM stock_reservations ORDER BY order_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        lines,
        [2, 2_000_001, 2_000_002],
        "the expired order's line went with it"
    );
}
