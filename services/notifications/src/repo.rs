//! SQL for notifications and handled events.

use chrono::{DateTime, Utc};
use shop_types::{Notification, NotificationStatus, NotificationType};
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub recipient_email: String,
    pub subject: String,
    pub order_id: Option<i64>,
    pub user_id: Option<i64>,
    pub status: String,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Loaded only where a retry may need them; listings leave them out.
    #[sqlx(default)]
    pub body_html: String,
    #[sqlx(default)]
    pub body_text: String,
}

impl Row {
    pub fn into_notification(self) -> Notification {
        Notification {
            id: self.id,
            kind: if self.kind == "order_status_update" {
                NotificationType::OrderStatusUpdate
            } else {
                NotificationType::OrderConfirmation
            },
            recipient_email: self.recipient_email,
            subject: self.subject,
            order_id: self.order_id,
            user_id: self.user_id,
            status: match self.status.as_str() {
                "sent" => NotificationStatus::Sent,
                "sending" => NotificationStatus::Sending,
                _ => NotificationStatus::Failed,
            },
            error_message: self.error_message,
            created_at: self.created_at,
        }
    }
}

const SUMMARY: &str =
    "id, type, recipient_email, subject, order_id, user_id, status, error_message, created_at";
const COLUMNS: &str = "id, type, recipient_email, subject, order_id, user_id, status, error_message, created_at, body_html, body_text";

/// Claims an event inside `tx`. False when it was handled before; a
/// concurrent duplicate waits here until the first one commits or rolls back.
pub async fn claim_event(
    tx: &mut Transaction<'_, Postgres>,
    event_id: Uuid,
    event_type: &str,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("INSERT INTO processed_events (event_id, event_type) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(event_id)
        .bind(event_type)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub struct NewNotification<'a> {
    pub kind: NotificationType,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub order_id: i64,
    pub user_id: i64,
    pub event_id: Uuid,
    pub html: &'a str,
    pub text: &'a str,
}

/// Records the notification as `sending`, claimed for `lease`; returns its id.
pub async fn insert_sending(
    tx: &mut Transaction<'_, Postgres>,
    n: NewNotification<'_>,
    lease: std::time::Duration,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO notifications (type, recipient_email, subject, order_id, user_id, status, event_id, body_html, body_text, claimed_until)
         VALUES ($1, $2, $3, $4, $5, 'sending', $6, $7, $8, now() + make_interval(secs => $9)) RETURNING id",
    )
    .bind(n.kind.as_str())
    .bind(n.recipient)
    .bind(n.subject)
    .bind(n.order_id)
    .bind(n.user_id)
    .bind(n.event_id)
    .bind(n.html)
    .bind(n.text)
    .bind(lease.as_secs_f64())
    .fetch_one(&mut **tx)
    .await
}

/// Where the notification of an event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// Taken over from a handler that died while sending: send it now.
    TakenOver(i64),
    /// Another handler is sending it right now.
    Busy,
    /// Sent or failed already.
    Settled,
}

/// For an event handled before: takes its notification over if it is
/// still `sending` and its claim has run out.
pub async fn take_over(
    pool: &PgPool,
    event_id: Uuid,
    lease: std::time::Duration,
) -> Result<Claimed, sqlx::Error> {
    let taken: Option<i64> = sqlx::query_scalar(
        "UPDATE notifications SET claimed_until = now() + make_interval(secs => $2)
         WHERE event_id = $1 AND status = 'sending' AND claimed_until <= now() RETURNING id",
    )
    .bind(event_id)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    if let Some(id) = taken {
        return Ok(Claimed::TakenOver(id));
    }
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM notifications WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(pool)
            .await?;
    Ok(match status.as_deref() {
        Some("sending") => Claimed::Busy,
        _ => Claimed::Settled,
    })
}

/// Wakes every replica's socket hub (see `crate::push`), delivered when
/// `tx` commits.
pub async fn notify_push(
    tx: &mut Transaction<'_, Postgres>,
    payload: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(crate::push::CHANNEL)
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct Filter {
    /// `None` for an admin looking at everyone's.
    pub user_id: Option<i64>,
    pub status: Option<String>,
    pub order_id: Option<i64>,
    pub recipient: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

fn where_clause<'a>(qb: &mut QueryBuilder<'a, Postgres>, f: &'a Filter) {
    // Those still being sent are listed too: one whose sender died stays
    // `sending` until an admin retries it.
    qb.push(" WHERE TRUE");
    if let Some(u) = f.user_id {
        qb.push(" AND user_id = ").push_bind(u);
    }
    if let Some(s) = &f.status {
        qb.push(" AND status = ").push_bind(s);
    }
    if let Some(o) = f.order_id {
        qb.push(" AND order_id = ").push_bind(o);
    }
    if let Some(r) = &f.recipient {
        qb.push(" AND recipient_email = ")
            .push_bind(r.to_lowercase());
    }
}

pub async fn list(pool: &PgPool, f: &Filter) -> Result<(Vec<Notification>, i64), sqlx::Error> {
    let mut count = QueryBuilder::new("SELECT count(*) FROM notifications");
    where_clause(&mut count, f);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
    let mut q = QueryBuilder::new(format!("SELECT {SUMMARY} FROM notifications"));
    where_clause(&mut q, f);
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(f.limit)
        .push(" OFFSET ")
        .push_bind(f.offset);
    let rows: Vec<Row> = q.build_query_as().fetch_all(pool).await?;
    Ok((
        rows.into_iter().map(Row::into_notification).collect(),
        total,
    ))
}

pub async fn get(pool: &PgPool, id: i64) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notifications WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Claims a notification for a retry: a failed one, or one left `sending`
/// by a sender whose claim ran out. `None` when it is neither — sent, or
/// being sent right now (two admins retrying at once: one sends).
pub async fn claim_retry(
    pool: &PgPool,
    id: i64,
    lease: std::time::Duration,
) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE notifications SET status = 'sending', error_message = NULL,
                claimed_until = now() + make_interval(secs => $2)
         WHERE id = $1
           AND (status = 'failed' OR (status = 'sending' AND claimed_until <= now()))
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await
}

pub async fn set_outcome(
    pool: &PgPool,
    id: i64,
    error: Option<String>,
) -> Result<Row, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE notifications SET status = $2, error_message = $3, claimed_until = NULL
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(if error.is_none() { "sent" } else { "failed" })
    .bind(error)
    .fetch_one(pool)
    .await
}
