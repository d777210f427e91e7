//! SQL for accounts.

use crate::error::Error;
use chrono::{DateTime, Utc};
use shop_types::{Role, User};
use sqlx::PgPool;

#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub username: String,
    pub password_hash: Option<String>,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserRow {
    pub fn role(&self) -> Role {
        self.role
    }

    pub fn into_user(self) -> User {
        User {
            role: self.role(),
            id: self.id,
            email: self.email,
            username: self.username,
            is_active: self.is_active,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const COLUMNS: &str = "id, email, username, password_hash, role, is_active, created_at, updated_at";

/// Inserts a customer; duplicate email or username → 409.
pub async fn insert(
    pool: &PgPool,
    email: &str,
    username: &str,
    hash: &str,
) -> Result<UserRow, Error> {
    sqlx::query_as::<_, UserRow>(&format!(
        "INSERT INTO users (email, username, password_hash) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
    ))
    .bind(email)
    .bind(username)
    .bind(hash)
    .fetch_one(pool)
    .await
    .map_err(unique_violation)
}

/// Duplicate email or username → 409.
fn unique_violation(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(db) => match db.constraint() {
            Some("users_email_key") => Error::EmailTaken,
            Some("users_username_key") => Error::UsernameTaken,
            _ => e.into(),
        },
        _ => e.into(),
    }
}

pub async fn by_email(pool: &PgPool, email: &str) -> Result<Option<UserRow>, Error> {
    Ok(
        sqlx::query_as::<_, UserRow>(&format!("SELECT {COLUMNS} FROM users WHERE email = $1"))
            .bind(email)
            .fetch_optional(pool)
            .await?,
    )
}

pub async fn by_id(pool: &PgPool, id: i64) -> Result<Option<UserRow>, Error> {
    Ok(
        sqlx::query_as::<_, UserRow>(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// Accounts by id, for admins.
pub async fn list(pool: &PgPool, limit: i64, offset: i64) -> Result<(Vec<UserRow>, i64), Error> {
    let rows = sqlx::query_as::<_, UserRow>(&format!(
        "SELECT {COLUMNS} FROM users ORDER BY id LIMIT $1 OFFSET $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}

/// Creates the admin, or promotes and re-passwords an existing account.
pub async fn upsert_admin(pool: &PgPool, email: &str, hash: &str) -> anyhow::Result<i64> {
    let username = email.split('@').next().unwrap_or("admin");
    let username = if username.chars().count() < 3 {
        "admin"
    } else {
        username
    };
    let id = sqlx::query_scalar(
        "INSERT INTO users (email, username, password_hash, role) VALUES ($1, $2, $3, 'admin')
         ON CONFLICT (email) DO UPDATE
           SET role = 'admin', password_hash = EXCLUDED.password_hash, is_active = TRUE, updated_at = now()
         RETURNING id",
    )
    .bind(email)
    .bind(username)
    .bind(hash)
    .fetch_one(pool)
    .await?;
    Ok(id)
}

/// Sets whether an account may sign in; `None` when there is no such user.
pub async fn set_active(
    tx: &mut sqlx::PgConnection,
    id: i64,
    active: bool,
) -> Result<Option<UserRow>, Error> {
    Ok(sqlx::query_as::<_, UserRow>(&format!(
        "UPDATE users SET is_active = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(active)
    .fetch_optional(tx)
    .await?)
}

pub async fn by_google_sub(pool: &PgPool, sub: &str) -> Result<Option<UserRow>, Error> {
    Ok(sqlx::query_as::<_, UserRow>(&format!(
        "SELECT {COLUMNS} FROM users WHERE google_sub = $1"
    ))
    .bind(sub)
    .fetch_optional(pool)
    .await?)
}

/// Links a Google account to the user with that (verified) email, unless
/// the user is already linked to another one.
pub async fn link_google(pool: &PgPool, email: &str, sub: &str) -> Result<Option<UserRow>, Error> {
    Ok(sqlx::query_as::<_, UserRow>(&format!(
        "UPDATE users SET google_sub = $2, updated_at = now()
         WHERE email = $1 AND (google_sub IS NULL OR google_sub = $2) RETURNING {COLUMNS}"
    ))
    .bind(email)
    .bind(sub)
    .fetch_optional(pool)
    .await?)
}

/// A customer who signs in with Google only (no password).
pub async fn insert_google(
    pool: &PgPool,
    email: &str,
    username: &str,
    sub: &str,
) -> Result<UserRow, Error> {
    sqlx::query_as::<_, UserRow>(&format!(
        "INSERT INTO users (email, username, google_sub) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
    ))
    .bind(email)
    .bind(username)
    .bind(sub)
    .fetch_one(pool)
    .await
    .map_err(unique_violation)
}

/// Consumes a sign-in `state`: `false` when it was used before.
pub async fn consume_state(pool: &PgPool, state: &str) -> Result<bool, Error> {
    let done =
        sqlx::query("INSERT INTO oauth_used_states (state) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(state)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn prune_states(pool: &PgPool) -> Result<u64, Error> {
    let done =
        sqlx::query("DELETE FROM oauth_used_states WHERE used_at < now() - interval '1 day'")
            .execute(pool)
            .await?;
    Ok(done.rows_affected())
}
