//! Password guessing and sign-up floods, throttled. Failed sign-ins are
//! limited per account ([`Limits::failures_per_account`] within [`WINDOW`])
//! and per client address ([`Limits::failures_per_address`]); registrations
//! per address ([`Limits::registrations_per_address`] within
//! [`REGISTRATION_WINDOW`]). Past a limit the answer is 429 with
//! `Retry-After`, until the oldest counted attempt leaves its window. Checks
//! come before any password is hashed, so a throttled attempt costs
//! nothing. The state is in PostgreSQL, shared by every users replica; the
//! client address is the one the gateway worked out (`x-client-address`).

use crate::error::Error;
use sqlx::PgPool;
use std::{net::IpAddr, time::Duration};

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const REGISTRATION_WINDOW: Duration = Duration::from_secs(60 * 60);

/// `LOGIN_FAILURES_PER_ACCOUNT` (5), `LOGIN_FAILURES_PER_ADDRESS` (50),
/// `REGISTRATIONS_PER_ADDRESS` (20 an hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub failures_per_account: i64,
    pub failures_per_address: i64,
    pub registrations_per_address: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            failures_per_account: 5,
            failures_per_address: 50,
            registrations_per_address: 20,
        }
    }
}

fn throttled(what: &'static str, retry_after: Option<f64>) -> Error {
    Error::Throttled {
        what,
        retry_after_secs: retry_after.unwrap_or(1.0).ceil().max(1.0) as u64,
    }
}

/// `Err(Error::Throttled)` while the account or the address has used up its
/// failed sign-ins.
pub async fn check(
    pool: &PgPool,
    email: &str,
    address: IpAddr,
    limits: Limits,
) -> Result<(), Error> {
    let (failures, retry_after): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), EXTRACT(EPOCH FROM min(failed_at) + make_interval(secs => $3) - now())::FLOAT8
         FROM (SELECT failed_at FROM login_failures
               WHERE email = $1 AND failed_at > now() - make_interval(secs => $3)
               ORDER BY failed_at DESC LIMIT $2) recent",
    )
    .bind(email)
    .bind(limits.failures_per_account)
    .bind(WINDOW.as_secs_f64())
    .fetch_one(pool)
    .await?;
    if failures >= limits.failures_per_account {
        return Err(throttled("failed sign-in attempts", retry_after));
    }
    let (failures, retry_after): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), EXTRACT(EPOCH FROM min(failed_at) + make_interval(secs => $3) - now())::FLOAT8
         FROM (SELECT failed_at FROM login_failures
               WHERE address = $1::inet AND failed_at > now() - make_interval(secs => $3)
               ORDER BY failed_at DESC LIMIT $2) recent",
    )
    .bind(address.to_string())
    .bind(limits.failures_per_address)
    .bind(WINDOW.as_secs_f64())
    .fetch_one(pool)
    .await?;
    if failures >= limits.failures_per_address {
        return Err(throttled(
            "failed sign-in attempts from your network",
            retry_after,
        ));
    }
    Ok(())
}

pub async fn record_failure(pool: &PgPool, email: &str, address: IpAddr) -> Result<(), Error> {
    sqlx::query("INSERT INTO login_failures (email, address) VALUES ($1, $2::inet)")
        .bind(email)
        .bind(address.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// A successful sign-in starts the account afresh (not the address: an
/// attacker must not reset it with an account of their own).
pub async fn clear(pool: &PgPool, email: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM login_failures WHERE email = $1")
        .bind(email)
        .execute(pool)
        .await?;
    Ok(())
}

/// Counts a registration attempt from `address`, or refuses it when the
/// address has used up its allowance. Serialised per address, so replicas
/// answering at once cannot overshoot.
pub async fn admit_registration(pool: &PgPool, address: IpAddr, limit: i64) -> Result<(), Error> {
    let address = address.to_string();
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('registration:' || $1, 0))")
        .bind(&address)
        .execute(&mut *tx)
        .await?;
    let (count, retry_after): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), EXTRACT(EPOCH FROM min(attempted_at) + make_interval(secs => $3) - now())::FLOAT8
         FROM (SELECT attempted_at FROM registration_attempts
               WHERE address = $1::inet AND attempted_at > now() - make_interval(secs => $3)
               ORDER BY attempted_at DESC LIMIT $2) recent",
    )
    .bind(&address)
    .bind(limit)
    .bind(REGISTRATION_WINDOW.as_secs_f64())
    .fetch_one(&mut *tx)
    .await?;
    if count >= limit {
        return Err(throttled("registrations from your network", retry_after));
    }
    sqlx::query("INSERT INTO registration_attempts (address) VALUES ($1::inet)")
        .bind(&address)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes attempts older than a day; returns how many.
pub async fn prune(pool: &PgPool) -> Result<u64, Error> {
    let failures =
        sqlx::query("DELETE FROM login_failures WHERE failed_at < now() - interval '1 day'")
            .execute(pool)
            .await?;
    let registrations = sqlx::query(
        "DELETE FROM registration_attempts WHERE attempted_at < now() - interval '1 day'",
    )
    .execute(pool)
    .await?;
    Ok(failures.rows_affected() + registrations.rows_affected())
}
