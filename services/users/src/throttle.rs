//! Password guessing, throttled per account: after [`MAX_FAILURES`] failed
//! sign-ins within [`WINDOW`], the account refuses further attempts (429
//! with `Retry-After`) until the oldest of them leaves the window. The
//! check comes before the password is hashed, so a throttled guess costs
//! nothing. The state is in PostgreSQL, shared by every users replica.

use crate::error::Error;
use sqlx::PgPool;
use std::time::Duration;

pub const MAX_FAILURES: i64 = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// `Err(Error::Throttled)` while the account has used up its attempts.
pub async fn check(pool: &PgPool, email: &str) -> Result<(), Error> {
    let (failures, retry_after): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), EXTRACT(EPOCH FROM min(failed_at) + make_interval(secs => $3) - now())::FLOAT8
         FROM (SELECT failed_at FROM login_failures
               WHERE email = $1 AND failed_at > now() - make_interval(secs => $3)
               ORDER BY failed_at DESC LIMIT $2) recent",
    )
    .bind(email)
    .bind(MAX_FAILURES)
    .bind(WINDOW.as_secs_f64())
    .fetch_one(pool)
    .await?;
    if failures >= MAX_FAILURES {
        let secs = retry_after.unwrap_or(1.0).ceil().max(1.0);
        return Err(Error::Throttled {
            retry_after_secs: secs as u64,
        });
    }
    Ok(())
}

pub async fn record_failure(pool: &PgPool, email: &str) -> Result<(), Error> {
    sqlx::query("INSERT INTO login_failures (email) VALUES ($1)")
        .bind(email)
        .execute(pool)
        .await?;
    Ok(())
}

/// A successful sign-in starts the account afresh.
pub async fn clear(pool: &PgPool, email: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM login_failures WHERE email = $1")
        .bind(email)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes failures older than a day; returns how many.
pub async fn prune(pool: &PgPool) -> Result<u64, Error> {
    let done = sqlx::query("DELETE FROM login_failures WHERE failed_at < now() - interval '1 day'")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
