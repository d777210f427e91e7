//! Sessions: one per access token. Opening one checks the account is active
//! under a share lock, so a deactivation that runs at the same moment either
//! sees the new session and ends it, or makes the sign-in fail.

use crate::{AppState, error::Error, repo::UserRow};
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
    sqlx::query("UPDATE sessions SET revoked_at = now() WHERE jti = $1 AND revoked_at IS NULL")
        .bind(jti)
        .execute(pool)
        .await?;
    Ok(())
}

/// Ends every live session of an account, inside the caller's transaction
/// (the one that deactivates it). Returns how many.
pub async fn revoke_all(tx: &mut sqlx::PgConnection, user_id: i64) -> Result<u64, Error> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = now()
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(user_id)
    .execute(tx)
    .await?;
    Ok(done.rows_affected())
}

/// The revocation feed: sessions ended after `since` (all when `None`)
/// whose tokens have not yet expired.
pub async fn feed(pool: &PgPool, since: Option<DateTime<Utc>>) -> Result<RevocationBatch, Error> {
    let as_of: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(pool).await?;
    let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT jti, expires_at FROM sessions
         WHERE revoked_at IS NOT NULL AND ($1::timestamptz IS NULL OR revoked_at > $1)
           AND expires_at > now() - interval '1 minute'
         ORDER BY revoked_at",
    )
    .bind(since)
    .fetch_all(pool)
    .await?;
    Ok(RevocationBatch {
        as_of,
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
