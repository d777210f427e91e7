//! SQL of the live-toast path: the database's clock, a `NOTIFY` that says
//! when it was sent, and the pushes recorded since a moment (for a replay).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// The database's time: the one clock every replica shares.
pub async fn database_now(pool: &PgPool) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar("SELECT now()").fetch_one(pool).await
}

/// Sends `payload` on `channel`; returns the database time it was sent at.
pub async fn notify(
    pool: &PgPool,
    channel: &str,
    payload: &str,
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar("SELECT now() FROM (SELECT pg_notify($1, $2)) AS sent")
        .bind(channel)
        .bind(payload)
        .fetch_one(pool)
        .await
}

/// Every push recorded since `since`, with its notification id, in order.
pub async fn pushes_since(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> Result<Vec<(i64, serde_json::Value)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, push FROM notifications
         WHERE push IS NOT NULL AND created_at >= $1 ORDER BY id",
    )
    .bind(since)
    .fetch_all(pool)
    .await
}
