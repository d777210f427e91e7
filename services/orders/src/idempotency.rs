//! `Idempotency-Key`: the first request with a key from a user runs; later
//! ones get its stored answer. The key row is claimed before any work starts,
//! so two concurrent requests with one key cannot both create an order.

use shop_platform::ApiError;
use sqlx::PgPool;

pub enum Claim {
    /// This request runs and must `finish` (or `abandon`) the key.
    Fresh,
    /// A finished earlier request: replay its answer.
    Replay { status: u16, body: String },
}

pub async fn claim(
    pool: &PgPool,
    user_id: i64,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, ApiError> {
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::BadRequest(
            "Idempotency-Key must be 1 to 255 characters".into(),
        ));
    }
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(key)
    .bind(fingerprint)
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::Fresh);
    }
    let (hash, status, body): (String, Option<i32>, Option<String>) = sqlx::query_as(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_one(pool)
    .await?;
    if hash != fingerprint {
        return Err(ApiError::Conflict(
            "This Idempotency-Key was already used with a different request".into(),
        ));
    }
    match (status, body) {
        (Some(status), Some(body)) => Ok(Claim::Replay {
            status: u16::try_from(status).unwrap_or(500),
            body,
        }),
        _ => Err(ApiError::Conflict(
            "A request with this Idempotency-Key is still being processed".into(),
        )),
    }
}

/// Stores the answer to replay.
pub async fn finish(
    pool: &PgPool,
    user_id: i64,
    key: &str,
    status: u16,
    body: &str,
) -> Result<(), ApiError> {
    sqlx::query("UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE user_id = $1 AND key = $2")
        .bind(user_id)
        .bind(key)
        .bind(i32::from(status))
        .bind(body)
        .execute(pool)
        .await?;
    Ok(())
}

/// Frees the key after a failure worth retrying (a 5xx).
pub async fn abandon(pool: &PgPool, user_id: i64, key: &str) -> Result<(), ApiError> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status_code IS NULL",
    )
    .bind(user_id)
    .bind(key)
    .execute(pool)
    .await?;
    Ok(())
}
