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
    let stored: Option<String> =
        sqlx::query_scalar("SELECT private_key FROM signing_keys ORDER BY created_at DESC LIMIT 1")
            .fetch_optional(pool)
            .await?;
    if let Some(text) = stored {
        return SigningKey::from_base64(&text);
    }
    let key = SigningKey::generate()?;
    // Two instances starting at once: the first insert wins, both use it.
    sqlx::query(
        "INSERT INTO signing_keys (kid, private_key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(key.kid())
    .bind(key.to_base64())
    .execute(pool)
    .await?;
    tracing::info!(kid = key.kid(), "generated a development signing key");
    let text: String =
        sqlx::query_scalar("SELECT private_key FROM signing_keys ORDER BY created_at ASC LIMIT 1")
            .fetch_one(pool)
            .await?;
    SigningKey::from_base64(&text)
}
