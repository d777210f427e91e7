//! SQL for notifications and handled events.

use chrono::{DateTime, Utc};
use shop_types::{Notification, NotificationStatus, NotificationType};
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    #[sqlx(rename = "type", try_from = "String")]
    pub kind: NotificationType,
    pub recipient_email: String,
    pub subject: String,
    pub order_id: Option<i64>,
    pub user_id: Option<i64>,
    #[sqlx(try_from = "String")]
    pub status: NotificationStatus,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Which claim of this notification is current (see [`begin_send`]).
    #[sqlx(default)]
    pub attempt: i32,
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
            kind: self.kind,
            recipient_email: self.recipient_email,
            subject: self.subject,
            order_id: self.order_id,
            user_id: self.user_id,
            status: self.status,
            error_message: self.error_message,
            created_at: self.created_at,
        }
    }
}

const SUMMARY: &str =
    "id, type, recipient_email, subject, order_id, user_id, status, error_message, created_at";
const COLUMNS: &str = "id, type, recipient_email, subject, order_id, user_id, status, error_message, created_at, attempt, body_html, body_text";

/// What a notification says when its claim ran out after the SMTP exchange
/// had begun: the server may have accepted it, so it is not sent again by
/// itself; an admin's retry decides.
pub const OUTCOME_UNKNOWN: &str =
    "The sender stopped during the SMTP exchange: the email may or may not have been delivered";

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
    /// The toast announced with it (see `crate::push`), as JSON.
    pub push: &'a str,
}

/// Records the notification as `sending`, claimed for `lease`; returns the claim.
pub async fn insert_sending(
    tx: &mut Transaction<'_, Postgres>,
    n: NewNotification<'_>,
    lease: std::time::Duration,
) -> Result<Claim, sqlx::Error> {
    let id = sqlx::query_scalar(
        "INSERT INTO notifications (type, recipient_email, subject, order_id, user_id, status, event_id, body_html, body_text, claimed_until, push)
         VALUES ($1, $2, $3, $4, $5, 'sending', $6, $7, $8, now() + make_interval(secs => $9), $10::jsonb) RETURNING id",
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
    .bind(n.push)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Claim { id, attempt: 1 })
}

/// A claim on a notification: only its holder may send and record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub id: i64,
    pub attempt: i32,
}

/// Where the notification of an event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// Taken over from a handler that died before its SMTP exchange began:
    /// send it now.
    TakenOver(Claim),
    /// Another handler is sending it right now.
    Busy,
    /// Sent or failed already (or settled now as of unknown outcome, when
    /// its sender died during the exchange).
    Settled,
}

/// For an event handled before: takes its notification over if it is
/// still `sending`, its claim has run out and its exchange never began. One
/// whose exchange began is settled as failed with [`OUTCOME_UNKNOWN`]: the
/// recipient may have it already.
pub async fn take_over(
    pool: &PgPool,
    event_id: Uuid,
    lease: std::time::Duration,
) -> Result<Claimed, sqlx::Error> {
    let taken: Option<(i64, i32)> = sqlx::query_as(
        "UPDATE notifications SET claimed_until = now() + make_interval(secs => $2), attempt = attempt + 1
         WHERE event_id = $1 AND status = 'sending' AND claimed_until <= now() AND send_started_at IS NULL
         RETURNING id, attempt",
    )
    .bind(event_id)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    if let Some((id, attempt)) = taken {
        return Ok(Claimed::TakenOver(Claim { id, attempt }));
    }
    let settled = sqlx::query(
        "UPDATE notifications SET status = 'failed', error_message = $2, claimed_until = NULL
         WHERE event_id = $1 AND status = 'sending' AND claimed_until <= now() AND send_started_at IS NOT NULL",
    )
    .bind(event_id)
    .bind(OUTCOME_UNKNOWN)
    .execute(pool)
    .await?;
    if settled.rows_affected() == 1 {
        tracing::warn!(%event_id, "an email's sender died during the SMTP exchange; settled as unknown, not sent again");
        return Ok(Claimed::Settled);
    }
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM notifications WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(pool)
            .await?;
    let sending = NotificationStatus::Sending.as_str();
    Ok(match status {
        Some(s) if s == sending => Claimed::Busy,
        _ => Claimed::Settled,
    })
}

/// Marks the SMTP exchange of `claim` as begun and renews the claim for
/// `lease` from now (the exchange's deadline is well inside it). False when
/// the claim is no longer current (it ran out and was taken over, or
/// settled): the caller must not send.
pub async fn begin_send(
    pool: &PgPool,
    claim: Claim,
    lease: std::time::Duration,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE notifications SET send_started_at = now(),
                claimed_until = now() + make_interval(secs => $3)
         WHERE id = $1 AND attempt = $2 AND status = 'sending'",
    )
    .bind(claim.id)
    .bind(claim.attempt)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Wakes every replica's socket hub (see `crate::push`), delivered when
/// `tx` commits.
pub async fn notify_push(
    tx: &mut Transaction<'_, Postgres>,
    payload: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(crate::app::push::CHANNEL)
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct Filter {
    /// `None` for an admin looking at everyone's.
    pub user_id: Option<i64>,
    pub status: Option<NotificationStatus>,
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
        qb.push(" AND status = ").push_bind(s.as_str());
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
        "UPDATE notifications SET status = 'sending', error_message = NULL, send_started_at = NULL,
                attempt = attempt + 1, claimed_until = now() + make_interval(secs => $2)
         WHERE id = $1
           AND (status = 'failed' OR (status = 'sending' AND claimed_until <= now()))
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await
}

/// Records how the exchange of `claim` went. `None` when the claim is no
/// longer current: whoever holds it now records the outcome.
pub async fn set_outcome(
    pool: &PgPool,
    claim: Claim,
    error: Option<String>,
) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE notifications SET status = $3, error_message = $4, claimed_until = NULL
         WHERE id = $1 AND attempt = $2 AND status = 'sending' RETURNING {COLUMNS}"
    ))
    .bind(claim.id)
    .bind(claim.attempt)
    .bind(
        if error.is_none() {
            NotificationStatus::Sent
        } else {
            NotificationStatus::Failed
        }
        .as_str(),
    )
    .bind(error)
    .fetch_optional(pool)
    .await
}

/// Settled notifications past the retention go first, then the marks of
/// handled events no notification refers to any more. The retention is
/// longer than SQS keeps a message, so no copy of a pruned event can come.
pub const RETENTION: &[shop_platform::retention::Rule] = &[
    shop_platform::retention::Rule {
        what: "notifications",
        sql: "DELETE FROM notifications WHERE id IN (
                  SELECT id FROM notifications WHERE created_at < $1 AND status <> 'sending'
                  LIMIT $2 FOR UPDATE SKIP LOCKED)",
    },
    shop_platform::retention::Rule {
        what: "processed_events",
        sql: "DELETE FROM processed_events WHERE event_id IN (
                  SELECT e.event_id FROM processed_events e
                  WHERE e.processed_at < $1
                    AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.event_id = e.event_id)
                  LIMIT $2 FOR UPDATE SKIP LOCKED)",
    },
];
