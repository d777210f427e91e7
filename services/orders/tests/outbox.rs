//! The outbox relay over a real database, with publishers that succeed or fail.

use async_trait::async_trait;
use shop_events::{OutgoingEvent, Publisher};
use shop_orders::app::relay::{Retry, publish_batch};
use shop_orders::store::outbox::{backlog, requeue};
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

fn retry(max_backoff_secs: u64) -> Retry {
    Retry {
        max_backoff: Duration::from_secs(max_backoff_secs),
        max_attempts: 25,
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
    let n = publish_batch(&pool, &sent, retry(1)).await.unwrap();
    assert_eq!(n, 3);
    assert_eq!(unpublished(&pool).await, 0);
    assert_eq!(publish_batch(&pool, &sent, retry(1)).await.unwrap(), 0);
    assert_eq!(sent.0.lock().unwrap().len(), 3);
}

#[sqlx::test]
async fn a_broker_outage_keeps_events_and_backs_off(pool: PgPool) {
    add_events(&pool, 2).await;
    let before: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(publish_batch(&pool, &Down, retry(30)).await.unwrap(), 0);
    assert_eq!(unpublished(&pool).await, 2, "nothing is lost");
    let (attempts, error): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM outbox ORDER BY id LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(attempts, 1);
    assert!(error.unwrap().contains("connection refused"));
    let backed_off: bool = sqlx::query_scalar(
        "SELECT bool_and(next_attempt_at >= $1 + interval '200 milliseconds') FROM outbox",
    )
    .bind(before)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(backed_off, "a failed event waits out its backoff");
    let sent = Recording::default();

    sqlx::query("UPDATE outbox SET next_attempt_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(publish_batch(&pool, &sent, retry(30)).await.unwrap(), 2);
    assert_eq!(unpublished(&pool).await, 0);
}

/// Publishes events whose body holds an odd number; refuses the others.
#[derive(Default, Clone)]
struct OddOnly(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Publisher for OddOnly {
    async fn publish(&self, event: &OutgoingEvent) -> anyhow::Result<()> {
        let n: serde_json::Value = serde_json::from_str(&event.body)?;
        // Give the other relay time to run into the same rows.
        tokio::task::yield_now().await;
        if n["n"].as_i64().unwrap_or(0) % 2 == 1 {
            self.0.lock().unwrap().push(event.body.clone());
            Ok(())
        } else {
            anyhow::bail!("throttled")
        }
    }
}

#[sqlx::test]
async fn two_failing_relays_neither_deadlock_nor_republish(pool: PgPool) {
    // More than one batch (50), so both relays have rows to take at once.
    add_events(&pool, 120).await;
    let sent = OddOnly::default();
    let before: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&pool)
        .await
        .unwrap();

    let (a, b) = tokio::join!(
        publish_batch(&pool, &sent, retry(30)),
        publish_batch(&pool, &sent, retry(30)),
    );

    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a > 0 && b > 0, "both relays published: {a} and {b}");
    assert_eq!(a + b, 50, "the odd events of two batches, each once");
    let mut bodies = sent.0.lock().unwrap().clone();
    let all = bodies.len();
    bodies.sort();
    bodies.dedup();
    assert_eq!(
        (bodies.len(), all),
        (50, 50),
        "no event was published twice"
    );
    let (published, failed_once): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE published_at IS NOT NULL),
                count(*) FILTER (WHERE published_at IS NULL AND attempts = 1)
         FROM outbox",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((published, failed_once), (50, 50));
    // Only the failed rows back off; the rows neither relay took are untouched.
    let (backed_off, untouched): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE published_at IS NULL AND attempts = 1
                                   AND next_attempt_at >= $1 + interval '200 milliseconds'),
                count(*) FILTER (WHERE attempts = 0 AND leased_until IS NULL AND last_error IS NULL)
         FROM outbox",
    )
    .bind(before)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((backed_off, untouched), (50, 20));
}

#[sqlx::test]
async fn an_event_that_keeps_failing_ends_dead_and_is_listed(pool: PgPool) {
    add_events(&pool, 1).await;
    let two = Retry {
        max_backoff: Duration::from_secs(30),
        max_attempts: 2,
    };
    for _ in 0..2 {
        publish_batch(&pool, &Down, two).await.unwrap();
        sqlx::query("UPDATE outbox SET next_attempt_at = now()")
            .execute(&pool)
            .await
            .unwrap();
    }

    let sent = Recording::default();
    assert_eq!(publish_batch(&pool, &sent, two).await.unwrap(), 0);
    assert!(
        sent.0.lock().unwrap().is_empty(),
        "a dead event is not retried"
    );
    let b = backlog(&pool).await.unwrap();
    assert_eq!((b.waiting, b.dead), (0, 1));
    assert_eq!(b.dead_events[0].attempts, 2);
    assert!(
        b.dead_events[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("connection refused")
    );

    // An operator requeues it once the broker is back: published, once.
    let id = b.dead_events[0].id;
    assert!(requeue(&pool, id).await.unwrap());
    assert!(
        !requeue(&pool, id).await.unwrap(),
        "only a dead event is requeued"
    );
    assert_eq!(publish_batch(&pool, &sent, two).await.unwrap(), 1);
    assert_eq!(sent.0.lock().unwrap().len(), 1);
    assert_eq!(unpublished(&pool).await, 0);
}
