//! Password guessing and sign-up floods, throttled. Failed sign-ins are
//! limited per account and client address pair
//! ([`Limits::failures_per_account`] within [`WINDOW`]) and per client
//! address over all accounts ([`Limits::failures_per_address`]); registrations
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

/// Admits one sign-in attempt, or refuses it with `Error::Throttled` while
/// this account from this address, or this address for any account, has
/// used up its failures. An admitted attempt is recorded as a failure
/// before its password is checked, in one transaction serialised per
/// address and per pair, so however many arrive at once — on any number of
/// replicas — no more than the limits are ever checked; [`succeeded`] takes
/// the record back. Unknown emails are admitted and counted alike: the
/// answers and their timing say nothing about which accounts exist. The
/// owner signing in from another address is never locked out by guesses
/// from elsewhere; [`Limits::failures_per_address`] caps one address over
/// every account.
pub async fn admit_attempt(
    pool: &PgPool,
    email: &str,
    address: IpAddr,
    limits: Limits,
) -> Result<Attempt, Error> {
    let address_text = address.to_string();
    let mut tx = pool.begin().await?;
    // Always the address first, then the pair: no two attempts wait on
    // each other in opposite orders.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('login-address:' || $1, 0)),
                pg_advisory_xact_lock(hashtextextended('login-pair:' || $1 || ' ' || $2, 0))",
    )
    .bind(&address_text)
    .bind(email)
    .execute(&mut *tx)
    .await?;
    let (failures, retry_after): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), EXTRACT(EPOCH FROM min(failed_at) + make_interval(secs => $4) - now())::FLOAT8
         FROM (SELECT failed_at FROM login_failures
               WHERE email = $1 AND address = $2::inet
                 AND failed_at > now() - make_interval(secs => $4)
               ORDER BY failed_at DESC LIMIT $3) recent",
    )
    .bind(email)
    .bind(&address_text)
    .bind(limits.failures_per_account)
    .bind(WINDOW.as_secs_f64())
    .fetch_one(&mut *tx)
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
    .bind(&address_text)
    .bind(limits.failures_per_address)
    .bind(WINDOW.as_secs_f64())
    .fetch_one(&mut *tx)
    .await?;
    if failures >= limits.failures_per_address {
        return Err(throttled(
            "failed sign-in attempts from your network",
            retry_after,
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO login_failures (email, address) VALUES ($1, $2::inet) RETURNING id",
    )
    .bind(email)
    .bind(&address_text)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Attempt { id })
}

/// An admitted sign-in attempt, counted as a failure until it succeeds.
#[derive(Debug)]
#[must_use = "a successful attempt must be taken back with `succeeded`"]
pub struct Attempt {
    id: i64,
}

/// The attempt succeeded: it and the pair's earlier failures are forgotten
/// (not the address's elsewhere: an attacker must not reset those with an
/// account of their own).
pub async fn succeeded(
    pool: &PgPool,
    attempt: Attempt,
    email: &str,
    address: IpAddr,
) -> Result<(), Error> {
    sqlx::query("DELETE FROM login_failures WHERE id = $1 OR (email = $2 AND address = $3::inet)")
        .bind(attempt.id)
        .bind(email)
        .bind(address.to_string())
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
