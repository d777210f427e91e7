//! Sessions: one per access token. Opening one checks the account is active
//! under a share lock, so a deactivation that runs at the same moment either
//! sees the new session and ends it, or makes the sign-in fail.

use crate::{AppState, error::Error, store::users::UserRow};
use chrono::{DateTime, Duration, Utc};
use shop_auth::{Claims, RevocationBatch, RevokedToken};
use sqlx::PgPool;
use uuid::Uuid;

/// A signed access token and how long it lives.
pub struct Issued {
    pub token: String,
    pub expires_in: i64,
}

/// Opens a session for an active account and signs its token; `None` when
/// the account is inactive (or gone).
pub async fn open(state: &AppState, user: &UserRow) -> Result<Option<Issued>, Error> {
    let jti = Uuid::new_v4();
    let now = Utc::now();
    let expires_at = now + Duration::seconds(state.token_ttl_secs);
    let mut tx = state.pool.begin().await?;
    let active: Option<bool> =
        sqlx::query_scalar("SELECT is_active FROM users WHERE id = $1 FOR SHARE")
            .bind(user.id)
            .fetch_optional(&mut *tx)
            .await?;
    if active != Some(true) {
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO sessions (jti, user_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(jti)
    .bind(user.id)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    let claims = Claims {
        sub: user.id.to_string(),
        email: user.email.clone(),
        role: user.role(),
        iat: now.timestamp(),
        exp: expires_at.timestamp(),
        iss: state.rules.issuer.clone(),
        aud: state.rules.audience.clone(),
        jti: jti.to_string(),
    };
    let token = state.signer.sign(&claims).map_err(Error::Signing)?;
    tx.commit().await?;
    Ok(Some(Issued {
        token,
        expires_in: state.token_ttl_secs,
    }))
}

/// Ends one session (logout). Ending an ended one changes nothing.
pub async fn revoke(pool: &PgPool, jti: &str) -> Result<(), Error> {
    let Ok(jti) = Uuid::parse_str(jti) else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_xid = pg_current_xact_id()
         WHERE jti = $1 AND revoked_at IS NULL",
    )
    .bind(jti)
    .execute(pool)
    .await?;
    Ok(())
}

/// Ends every live session of an account, inside the caller's transaction
/// (the one that deactivates it). Returns how many.
pub async fn revoke_all(tx: &mut sqlx::PgConnection, user_id: i64) -> Result<u64, Error> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_xid = pg_current_xact_id()
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(user_id)
    .execute(tx)
    .await?;
    Ok(done.rows_affected())
}

/// The revocation feed: sessions ended by transactions from `after` (a
/// cursor a previous answer gave; all when `None`) whose tokens have not
/// yet expired, and the cursor to ask from next.
///
/// Every committed revocation from the cursor on is listed at once. The
/// next cursor is the oldest transaction still running when the feed
/// answered (`pg_snapshot_xmin`): every transaction before it has finished
/// and been listed, and one at or after it — still running, perhaps, and
/// committing later — is listed by a later answer. No committed revocation
/// is ever skipped, however late it commits; a recent one is listed again
/// while an older transaction runs, which a reader applies harmlessly.
pub async fn feed(pool: &PgPool, after: Option<u64>) -> Result<RevocationBatch, Error> {
    let mut tx = pool.begin().await?;
    let (cursor, as_of): (String, DateTime<Utc>) =
        sqlx::query_as("SELECT pg_snapshot_xmin(pg_current_snapshot())::text, clock_timestamp()")
            .fetch_one(&mut *tx)
            .await?;
    let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT jti, expires_at FROM sessions
         WHERE revoked_xid IS NOT NULL
           AND ($1::text IS NULL OR revoked_xid >= $1::text::xid8)
           AND expires_at > now() - interval '1 minute'
         ORDER BY revoked_xid",
    )
    .bind(after.map(|a| a.to_string()))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(RevocationBatch {
        as_of,
        // xid8 is an unsigned 64-bit count; a reader given 0 reads all again,
        // which repeats revocations and skips none.
        cursor: cursor.parse().unwrap_or(0),
        revoked: rows
            .into_iter()
            .map(|(jti, exp)| RevokedToken {
                jti: jti.to_string(),
                exp: exp.timestamp(),
            })
            .collect(),
    })
}

/// Deletes sessions that expired more than a day ago; returns how many.
pub async fn prune(pool: &PgPool) -> Result<u64, Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at < now() - interval '1 day'")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
