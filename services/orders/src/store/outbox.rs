//! SQL of the outbox: each event is written in the transaction of the change
//! that caused it, then leased in batches by the relay and marked published,
//! failed (to retry after a backoff) or dead (left for an operator).

use crate::{domain::events::NewEvent, error::Error};
use sqlx::{PgPool, Postgres, Transaction};
use std::time::Duration;

/// Writes `event` beside the change in `tx`.
pub async fn insert<T: serde::Serialize>(
    tx: &mut Transaction<'_, Postgres>,
    event: &NewEvent<T>,
) -> Result<(), Error> {
    let body = serde_json::to_string(&event.envelope).map_err(anyhow::Error::from)?;
    // The relay's publish continues the trace of the request writing this
    // (a context too large for its column is not kept: the order matters
    // more than its trace).
    let trace = shop_platform::traces::carrier_json(&tracing::Span::current())
        .filter(|json| json.len() <= 8192);
    sqlx::query(
        "INSERT INTO outbox (event_id, event_type, subject, body, trace_context)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(event.envelope.event_id)
    .bind(&event.envelope.event_type)
    .bind(&event.subject)
    .bind(body)
    .bind(trace)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An event leased to one relay.
#[derive(Debug, sqlx::FromRow)]
pub struct Leased {
    pub id: i64,
    pub event_type: String,
    pub subject: String,
    pub body: String,
    pub attempts: i32,
    pub trace_context: Option<String>,
}

/// Leases up to `batch` events that are due, for `lease`: another relay
/// skips them meanwhile.
pub async fn lease(pool: &PgPool, batch: i64, lease: Duration) -> Result<Vec<Leased>, Error> {
    Ok(sqlx::query_as(
        "UPDATE outbox SET leased_until = now() + make_interval(secs => $2)
         WHERE id IN (
             SELECT id FROM outbox
             WHERE published_at IS NULL AND dead_at IS NULL AND next_attempt_at <= now()
               AND (leased_until IS NULL OR leased_until <= now())
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id, event_type, subject, body, attempts, trace_context",
    )
    .bind(batch)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await?)
}

/// Marks events the broker took, in one statement.
pub async fn mark_published(pool: &PgPool, ids: &[i64]) -> Result<(), Error> {
    sqlx::query(
        "UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL,
                leased_until = NULL
         WHERE id = ANY($1) AND published_at IS NULL",
    )
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// A failed publish of one event.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    pub id: i64,
    /// Attempts so far, this one included.
    pub attempts: i32,
    pub error: &'a str,
    /// Until the next attempt.
    pub wait: Duration,
    /// No attempt is left: the event is dead.
    pub dead: bool,
}

pub async fn mark_failed(pool: &PgPool, f: Failure<'_>) -> Result<(), Error> {
    sqlx::query(
        "UPDATE outbox SET attempts = $2, last_error = $3, leased_until = NULL,
                next_attempt_at = now() + make_interval(secs => $4),
                dead_at = CASE WHEN $5 THEN now() END
         WHERE id = $1 AND published_at IS NULL",
    )
    .bind(f.id)
    .bind(f.attempts)
    .bind(f.error)
    .bind(f.wait.as_secs_f64())
    .bind(f.dead)
    .execute(pool)
    .await?;
    Ok(())
}

/// The outbox at a glance, for operators.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Backlog {
    /// Events not yet published and not dead.
    pub waiting: i64,
    /// Age of the oldest waiting event, in seconds.
    pub oldest_waiting_secs: f64,
    /// Events that failed their last attempt.
    pub dead: i64,
    /// The most recent dead events.
    pub dead_events: Vec<DeadEvent>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct DeadEvent {
    pub id: i64,
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Puts a dead event back in line with fresh attempts. `false` when `id`
/// is not a dead event.
pub async fn requeue(pool: &PgPool, id: i64) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE outbox SET dead_at = NULL, attempts = 0, last_error = NULL,
                next_attempt_at = now(), leased_until = NULL
         WHERE id = $1 AND dead_at IS NOT NULL",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn backlog(pool: &PgPool) -> Result<Backlog, Error> {
    let (waiting, oldest_waiting_secs, dead): (i64, f64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::FLOAT8,
                (SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL)
         FROM outbox WHERE published_at IS NULL AND dead_at IS NULL",
    )
    .fetch_one(pool)
    .await?;
    let dead_events = sqlx::query_as(
        "SELECT id, event_id, event_type, attempts, last_error, created_at FROM outbox
         WHERE dead_at IS NOT NULL ORDER BY id DESC LIMIT 50",
    )
    .fetch_all(pool)
    .await?;
    Ok(Backlog {
        waiting,
        oldest_waiting_secs,
        dead,
        dead_events,
    })
}

/// Published events and finished `Idempotency-Key` answers past the
/// retention go. An event not yet published (or dead, waiting for an admin)
/// stays; so does a key whose request is still running.
pub const RETENTION: &[shop_platform::retention::Rule] = &[
    shop_platform::retention::Rule {
        what: "outbox",
        sql: "DELETE FROM outbox WHERE id IN (
                  SELECT id FROM outbox WHERE published_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
    },
    shop_platform::retention::Rule {
        what: "idempotency_keys",
        sql: "DELETE FROM idempotency_keys WHERE (user_id, key) IN (
                  SELECT user_id, key FROM idempotency_keys
                  WHERE created_at < $1 AND status_code IS NOT NULL LIMIT $2 FOR UPDATE SKIP LOCKED)",
    },
];
