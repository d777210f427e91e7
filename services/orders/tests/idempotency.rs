//! `Idempotency-Key` claims over a real database: a claim is a lease, so a
//! request that died unfinished never blocks its key for ever.

use shop_orders::error::Error;
use shop_orders::store::idempotency::{self, Claim};
use sqlx::PgPool;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);
/// A lease that has already run out when the next claim looks at it.
const EXPIRED: Duration = Duration::ZERO;

#[sqlx::test(migrator = "shop_orders::MIGRATOR")]
async fn an_unfinished_claim_holds_its_key_while_its_lease_runs(pool: PgPool) {
    let first = idempotency::claim(&pool, 1, "k", "hash", LONG).await;
    assert!(matches!(first, Ok(Claim::Fresh)));

    let retry = idempotency::claim(&pool, 1, "k", "hash", LONG).await;

    match retry {
        Err(e @ Error::KeyBusy { .. }) => assert!(e.to_string().contains("still being processed")),
        _ => panic!("a retry while the first request may still run must wait"),
    }
}

#[sqlx::test(migrator = "shop_orders::MIGRATOR")]
async fn a_retry_takes_over_a_claim_whose_lease_ran_out(pool: PgPool) {
    // The first request died without finishing or abandoning its key.
    assert!(matches!(
        idempotency::claim(&pool, 1, "k", "hash", EXPIRED).await,
        Ok(Claim::Fresh)
    ));

    let retry = idempotency::claim(&pool, 1, "k", "hash", LONG).await;

    assert!(matches!(retry, Ok(Claim::Fresh)), "the retry runs");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[sqlx::test(migrator = "shop_orders::MIGRATOR")]
async fn a_finished_key_is_replayed_and_never_taken_over(pool: PgPool) {
    idempotency::claim(&pool, 1, "k", "hash", EXPIRED)
        .await
        .unwrap();
    idempotency::finish(&pool, 1, "k", 201, r#"{"id":7}"#)
        .await
        .unwrap();

    match idempotency::claim(&pool, 1, "k", "hash", LONG).await {
        Ok(Claim::Replay { status, body }) => {
            assert_eq!(status, 201);
            assert_eq!(body, r#"{"id":7}"#);
        }
        _ => panic!("a finished key replays its answer"),
    }
}

#[sqlx::test(migrator = "shop_orders::MIGRATOR")]
async fn an_expired_claim_is_not_taken_over_by_another_request(pool: PgPool) {
    idempotency::claim(&pool, 1, "k", "hash", EXPIRED)
        .await
        .unwrap();

    let other = idempotency::claim(&pool, 1, "k", "other-hash", LONG).await;

    match other {
        Err(e @ Error::KeyReused) => assert!(e.to_string().contains("different request")),
        _ => panic!("a key belongs to one request"),
    }
}

#[sqlx::test(migrator = "shop_orders::MIGRATOR")]
async fn keys_older_than_a_day_are_pruned(pool: PgPool) {
    idempotency::claim(&pool, 1, "old", "hash", LONG)
        .await
        .unwrap();
    idempotency::claim(&pool, 1, "new", "hash", LONG)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'",
    )
    .execute(&pool)
    .await
    .unwrap();

    let pruned = idempotency::prune(&pool).await.unwrap();

    assert_eq!(pruned, 1);
    let left: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_keys")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, ["new"]);
}

#[sqlx::test(migrator = "shop_orders::MIGRATOR")]
async fn the_confirming_transaction_records_the_order_so_a_retry_finds_it(pool: PgPool) {
    use shop_orders::store::orders as repo;
    use shop_types::{Money, OrderStatus, internal::ReservedLine};
    idempotency::claim(&pool, 1, "k", "hash", EXPIRED)
        .await
        .unwrap();
    let order_id = repo::insert_pending(&pool, 1, "buyer@example.com")
        .await
        .unwrap();
    let lines = [ReservedLine {
        product_id: 9,
        product_name: "Book".into(),
        product_price: Money::from_cents(1250),
        quantity: 2,
    }];
    repo::finalize::<()>(
        &pool,
        order_id,
        &lines,
        Money::from_cents(2500),
        OrderStatus::Confirmed,
        None,
        Some(idempotency::Held {
            user_id: 1,
            key: "k",
        }),
    )
    .await
    .unwrap();
    // The request died before storing its answer, and its lease ran out.

    let retry = idempotency::claim(&pool, 1, "k", "hash", LONG).await;

    match retry {
        Ok(Claim::Placed { order_id: found }) => assert_eq!(found, order_id),
        _ => panic!("the retry must find the confirmed order, not place another"),
    }
}
