//! The outbox relay over a real database, with publishers that succeed or fail.

use async_trait::async_trait;
use shop_events::{OutgoingEvent, Publisher};
use shop_orders::outbox::publish_batch;
use sqlx::PgPool;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

#[derive(Default)]
struct Recording(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Publisher for Recording {
    async fn publish(&self, event: &OutgoingEvent) -> anyhow::Result<()> {
        self.0.lock().unwrap().push(event.body.clone());
        Ok(())
    }
}

struct Down;

#[async_trait]
impl Publisher for Down {
    async fn publish(&self, _: &OutgoingEvent) -> anyhow::Result<()> {
        anyhow::bail!("connection refused")
    }
}

async fn add_events(pool: &PgPool, n: usize) {
    for i in 0..n {
        sqlx::query("INSERT INTO outbox (event_id, event_type, subject, body) VALUES ($1, 'order.created', 's', $2)")
            .bind(uuid::Uuid::new_v4())
            .bind(format!("{{\"n\":{i}}}"))
            .execute(pool)
            .await
            .unwrap();
    }
}

async fn unpublished(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn every_waiting_event_is_published_once(pool: PgPool) {
    add_events(&pool, 3).await;
    let sent = Recording::default();
    let n = publish_batch(&pool, &sent, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(unpublished(&pool).await, 0);
    assert_eq!(
        publish_batch(&pool, &sent, Duration::from_secs(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(sent.0.lock().unwrap().len(), 3);
}

#[sqlx::test]
async fn a_broker_outage_keeps_events_and_backs_off(pool: PgPool) {
    add_events(&pool, 2).await;
    assert_eq!(
        publish_batch(&pool, &Down, Duration::from_secs(30))
            .await
            .unwrap(),
        0
    );
    assert_eq!(unpublished(&pool).await, 2, "nothing is lost");
    let (attempts, error): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM outbox ORDER BY id LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(attempts, 1);
    assert!(error.unwrap().contains("connection refused"));
    let sent = Recording::default();
    assert_eq!(
        publish_batch(&pool, &sent, Duration::from_secs(30))
            .await
            .unwrap(),
        0,
        "waits out the backoff"
    );

    sqlx::query("UPDATE outbox SET next_attempt_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        publish_batch(&pool, &sent, Duration::from_secs(30))
            .await
            .unwrap(),
        2
    );
    assert_eq!(unpublished(&pool).await, 0);
}
