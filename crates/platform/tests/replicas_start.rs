//! Many replicas of a service starting at once against a database that does
//! not exist yet (a Kubernetes rollout, `docker compose up --scale`): each
//! creates the database if it is missing and migrates it under sqlx's
//! advisory lock, so every one starts and the migration runs exactly once.
#![cfg(feature = "database")]

use secrecy::{ExposeSecret, SecretString};
use shop_platform::{config::DatabaseSettings, db};
use sqlx::migrate::Migrator;

const REPLICAS: usize = 6;

fn server_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    url.rsplit_once('/')
        .map_or(url.clone(), |(server, _)| server.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_create_and_migrate_once() {
    // A migration that fails if it runs twice.
    let dir = std::env::temp_dir().join(format!("shop-migrations-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("0001_start.sql"),
        "CREATE TABLE started (id INT PRIMARY KEY); INSERT INTO started VALUES (1);",
    )
    .unwrap();
    let migrator = Migrator::new(dir.as_path()).await.unwrap();
    let name = format!("shop_test_replicas_{}", uuid::Uuid::new_v4().simple());
    let settings = DatabaseSettings {
        url: SecretString::from(format!("{}/{name}", server_url())),
        max_connections: 2,
    };

    let starts = (0..REPLICAS).map(|_| db::connect_and_migrate(&settings, &migrator));
    let pools = futures::future::join_all(starts).await;

    let mut ok = Vec::new();
    for (i, pool) in pools.into_iter().enumerate() {
        ok.push(pool.unwrap_or_else(|e| panic!("replica {i} failed to start: {e:#}")));
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&ok[0])
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM started")
        .fetch_one(&ok[0])
        .await
        .unwrap();
    assert_eq!((applied, rows), (1, 1), "the migration ran once");
    for pool in ok {
        pool.close().await;
    }
    db::drop_database(settings.url.expose_secret())
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
