//! `Idempotency-Key`: the first request with a key from a user runs; later
//! ones get its stored answer. The key row is claimed before any work starts,
//! so two concurrent requests with one key cannot both create an order. A
//! claim is a lease as long as the request timeout: the claim of a request
//! that died unfinished is taken over by the next retry once it has run out.

use crate::error::Error;
use sqlx::{PgPool, Postgres, Transaction};
use std::time::Duration;

/// Finished keys are replayed for this long, then pruned.
pub const KEEP_HOURS: i64 = 24;

pub enum Claim {
    /// This request runs and must `finish` (or `abandon`) the key.
    Fresh,
    /// A finished earlier request: replay its answer.
    Replay { status: u16, body: String },
    /// An earlier request with this key confirmed this order but did not
    /// store its answer (it died after the commit): answer with the order.
    Placed { order_id: i64 },
}

/// The key a request holds, recorded with the order it confirms.
#[derive(Debug, Clone, Copy)]
pub struct Held<'a> {
    pub user_id: i64,
    pub key: &'a str,
}

pub async fn claim(
    pool: &PgPool,
    user_id: i64,
    key: &str,
    fingerprint: &str,
    lease: Duration,
) -> Result<Claim, Error> {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    // A new key, or an unfinished claim of the same request whose lease ran
    // out: either way this request now holds it.
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, claimed_until)
         VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
         ON CONFLICT (user_id, key) DO UPDATE SET claimed_until = EXCLUDED.claimed_until
         WHERE idempotency_keys.status_code IS NULL
           AND idempotency_keys.order_id IS NULL
           AND idempotency_keys.claimed_until <= now()
           AND idempotency_keys.request_hash = EXCLUDED.request_hash",
    )
    .bind(user_id)
    .bind(key)
    .bind(fingerprint)
    .bind(lease_ms)
    .execute(pool)
    .await?;
    if claimed.rows_affected() == 1 {
        return Ok(Claim::Fresh);
    }
    let (hash, status, body, order_id): (String, Option<i32>, Option<String>, Option<i64>) =
        sqlx::query_as(
            "SELECT request_hash, status_code, response, order_id
             FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        )
        .bind(user_id)
        .bind(key)
        .fetch_one(pool)
        .await?;
    if hash != fingerprint {
        return Err(Error::KeyReused);
    }
    match (status, body, order_id) {
        (Some(status), Some(body), _) => Ok(Claim::Replay {
            status: u16::try_from(status).unwrap_or(500),
            body,
        }),
        (None, _, Some(order_id)) => Ok(Claim::Placed { order_id }),
        _ => Err(Error::KeyBusy {
            retry_after_secs: lease.as_secs().max(1),
        }),
    }
}

/// Deletes keys older than [`KEEP_HOURS`]; returns how many.
pub async fn prune(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM idempotency_keys WHERE created_at < now() - $1 * interval '1 hour'",
    )
    .bind(KEEP_HOURS)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Stores the answer to replay.
pub async fn finish(
    pool: &PgPool,
    user_id: i64,
    key: &str,
    status: u16,
    body: &str,
) -> Result<(), Error> {
    sqlx::query("UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE user_id = $1 AND key = $2")
        .bind(user_id)
        .bind(key)
        .bind(i32::from(status))
        .bind(body)
        .execute(pool)
        .await?;
    Ok(())
}

/// Frees the key after a failure worth retrying (a 5xx) — unless an order
/// was confirmed under it (the failure was only a lost acknowledgement): a
/// retry then finds that order.
pub async fn abandon(pool: &PgPool, user_id: i64, key: &str) -> Result<(), Error> {
    sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE user_id = $1 AND key = $2 AND status_code IS NULL AND order_id IS NULL",
    )
    .bind(user_id)
    .bind(key)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records the order a key's request confirmed, in the transaction that
/// confirms it, so a lost commit acknowledgement loses nothing.
pub async fn record_order(
    tx: &mut Transaction<'_, Postgres>,
    key: Held<'_>,
    order_id: i64,
) -> Result<(), Error> {
    sqlx::query("UPDATE idempotency_keys SET order_id = $3 WHERE user_id = $1 AND key = $2")
        .bind(key.user_id)
        .bind(key.key)
        .bind(order_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
