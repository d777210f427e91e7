//! The signing key: from configuration, or (development) generated once and
//! kept in users_db so tokens survive restarts.

use anyhow::{Context, Result};
use secrecy::{ExposeSecret, SecretString};
use shop_auth::SigningKey;
use sqlx::PgPool;

pub async fn load_or_create(pool: &PgPool, pem: Option<&SecretString>) -> Result<SigningKey> {
    if let Some(pem) = pem {
        return SigningKey::from_pem(pem.expose_secret()).context("JWT_PRIVATE_KEY");
    }
    // One key however many replicas start together: whoever holds the lock
    // generates it, the others find it.
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SIGNING_KEY_LOCK)
        .execute(&mut *tx)
        .await?;
    let stored: Option<String> =
        sqlx::query_scalar("SELECT private_key FROM signing_keys ORDER BY created_at DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(text) = stored {
        return SigningKey::from_base64(&text);
    }
    let key = SigningKey::generate()?;
    sqlx::query("INSERT INTO signing_keys (kid, private_key) VALUES ($1, $2)")
        .bind(key.kid())
        .bind(key.to_base64())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(kid = key.kid(), "generated a development signing key");
    Ok(key)
}

/// The advisory lock that serialises generating the development key.
const SIGNING_KEY_LOCK: i64 = 0x0053_484f_504b_4559; // "SHOPKEY"
