//! Database start-up: create the service's database if it is missing, open a
//! pool with sensible limits, run the service's migrations.
//!
//! Every connection carries server-side time limits, so no statement, lock
//! wait or forgotten transaction can hold rows or a pool slot for long.

use crate::config::DatabaseSettings;
use anyhow::{Context, Result, bail};
use secrecy::ExposeSecret;
use sqlx::{
    Connection, PgConnection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use std::{str::FromStr, time::Duration};

/// Creates the database if needed, connects, and migrates.
pub async fn connect_and_migrate(
    settings: &DatabaseSettings,
    migrator: &Migrator,
) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(settings.url.expose_secret())
        .context("the database URL is not valid")?;
    ensure_database(&options).await?;
    // Migrations run on a connection of their own without the time limits:
    // replicas starting together wait for each other's migration lock, and
    // a schema change may wait for a busy table or take a while.
    let mut conn = PgConnection::connect_with(&options)
        .await
        .with_context(|| format!("cannot connect to database `{}`", db_name(&options)))?;
    migrator
        .run(&mut conn)
        .await
        .with_context(|| format!("migrating database `{}`", db_name(&options)))?;
    conn.close().await.ok();
    let options = with_time_limits(options);
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(300))
        .connect_with(options.clone())
        .await
        .with_context(|| format!("cannot connect to database `{}`", db_name(&options)))?;
    Ok(pool)
}

/// Connections of their own for a `LISTEN` and its heartbeat, made with the
/// same options (time limits included) as `pool`: a listener never waits
/// behind requests that saturate the request pool. The pool connects lazily.
pub fn listener_pool(pool: &PgPool) -> PgPool {
    PgPoolOptions::new()
        // The listener, its heartbeat, and room for a connection still
        // held by an abandoned listener's `UNLISTEN` (a half-open one ends
        // only when TCP gives up).
        .max_connections(4)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(pool.connect_options().as_ref().clone())
}

/// A statement running longer than this is cancelled by the server.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Waiting longer than this for a row or table lock fails the statement.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// A transaction left open and idle this long is ended by the server.
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Sets the session's `statement_timeout`, `lock_timeout` and
/// `idle_in_transaction_session_timeout` at connection start-up.
pub fn with_time_limits(options: PgConnectOptions) -> PgConnectOptions {
    let ms = |d: Duration| d.as_millis().to_string();
    options.options([
        ("statement_timeout", ms(STATEMENT_TIMEOUT)),
        ("lock_timeout", ms(LOCK_TIMEOUT)),
        (
            "idle_in_transaction_session_timeout",
            ms(IDLE_IN_TRANSACTION_TIMEOUT),
        ),
    ])
}

fn db_name(options: &PgConnectOptions) -> String {
    options.get_database().unwrap_or("postgres").to_owned()
}

/// Only plain identifiers are created; anything else is a configuration error.
fn checked_name(name: &str) -> Result<&str> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        bail!("database name `{name}` must be letters, digits and underscores only");
    }
    Ok(name)
}

async fn maintenance_connection(options: &PgConnectOptions) -> Result<PgConnection> {
    let admin = options.clone().database("postgres");
    PgConnection::connect_with(&admin).await.with_context(|| {
        format!(
            "cannot reach PostgreSQL at {}:{} — start it (e.g. `pg_ctlcluster 15 main start`) or set POSTGRES_URL / DATABASE_URL",
            options.get_host(),
            options.get_port()
        )
    })
}

/// `CREATE DATABASE` unless it exists; tolerant of a concurrent creator.
pub async fn ensure_database(options: &PgConnectOptions) -> Result<()> {
    let name = checked_name(options.get_database().unwrap_or("postgres"))?;
    let mut conn = maintenance_connection(options).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        // Identifiers cannot be bound as parameters; `checked_name` vetted it.
        let created = sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&mut conn)
            .await;
        match created {
            Ok(_) => tracing::info!(database = name, "created database"),
            // Another replica created it first: `duplicate_database` when it
            // had committed, a unique violation on pg_database when both
            // were inside CREATE DATABASE at once.
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("42P04") | Some("23505")) => {}
            Err(e) => return Err(e).with_context(|| format!("creating database `{name}`")),
        }
    }
    conn.close().await.ok();
    Ok(())
}

/// Drops a database (throwaway test databases), ending its open sessions.
pub async fn drop_database(url: &str) -> Result<()> {
    let options = PgConnectOptions::from_str(url)?;
    let name = checked_name(options.get_database().unwrap_or(""))?;
    let mut conn = maintenance_connection(&options).await?;
    sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Test helper: the migrations apply, revert completely, and apply again.
pub async fn assert_reversible(migrator: &Migrator, pool: &PgPool) {
    migrator.run(pool).await.expect("migrations apply");
    migrator.undo(pool, 0).await.expect("migrations revert");
    let leftover: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await
    .expect("count tables");
    assert_eq!(leftover, 0, "the down migrations leave tables behind");
    migrator.run(pool).await.expect("migrations apply again");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_plain_identifiers() {
        assert!(checked_name("orders_db").is_ok());
        assert!(checked_name(r#"x"; DROP TABLE users; --"#).is_err());
        assert!(checked_name("").is_err());
    }
}
