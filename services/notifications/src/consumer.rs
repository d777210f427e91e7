//! The queue consumer: messages are handled concurrently; each is deleted
//! only after it was handled; a repeated `event_id` is recognised by a
//! database constraint and produces nothing.

use crate::{AppState, messages, repo};
use shop_events::{Consumer, Delivery};
use shop_types::ServerMessage;
use std::{sync::Arc, time::Duration};
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Failed,
    Duplicate,
}

pub async fn run(
    state: AppState,
    consumer: Arc<dyn Consumer>,
    concurrency: usize,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    loop {
        // Receive only as many as can be handled now.
        let free = permits.available_permits().clamp(1, 10);
        let batch = tokio::select! {
            () = shutdown.cancelled() => break,
            r = consumer.receive(free) => r,
        };
        let deliveries = match batch {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "receiving failed; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        for delivery in deliveries {
            let permit = permits.clone().acquire_owned().await?;
            let (state, consumer) = (state.clone(), consumer.clone());
            tasks.spawn(async move {
                let _permit = permit;
                handle_and_ack(&state, consumer.as_ref(), delivery).await;
            });
        }
        while tasks.try_join_next().is_some() {}
    }
    // Let in-flight messages finish; unfinished ones come back after the
    // visibility timeout.
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}

async fn handle_and_ack(state: &AppState, consumer: &dyn Consumer, delivery: Delivery) {
    match handle(state, &delivery.body).await {
        Ok(outcome) => {
            if let Err(e) = consumer.ack(&delivery.receipt).await {
                // It will come back and be recognised as a duplicate.
                tracing::warn!(
                    error = format!("{e:#}"),
                    ?outcome,
                    "could not delete a handled message"
                );
            }
        }
        Err(e) => tracing::error!(
            error = format!("{e:#}"),
            receive_count = delivery.receive_count,
            "message not handled; it will be retried and then dead-lettered"
        ),
    }
}

/// Handles one event body. An error leaves the message on the queue.
pub async fn handle(state: &AppState, body: &str) -> anyhow::Result<Outcome> {
    let prepared = messages::prepare(body)?;
    let span = tracing::info_span!(
        "event",
        event_id = %prepared.event_id,
        event_type = prepared.event_type,
        order_id = prepared.order_id,
        request_id = prepared.correlation_id,
    );
    process(state, prepared).instrument(span).await
}

async fn process(state: &AppState, prepared: messages::Prepared) -> anyhow::Result<Outcome> {
    let mut tx = state.pool.begin().await?;
    if !repo::claim_event(&mut tx, prepared.event_id, &prepared.event_type).await? {
        tracing::info!(event_id = %prepared.event_id, "already handled; skipped");
        return Ok(Outcome::Duplicate);
    }
    // The claim stays uncommitted while the email goes out: if this process
    // dies now, the message returns and is handled again.
    let sent = state.mailer.send(&prepared.email).await;
    let error = sent.as_ref().err().map(|e| format!("{e:#}"));
    if let Some(e) = &error {
        tracing::warn!(event_id = %prepared.event_id, error = e, "email failed");
    }
    repo::insert(
        &mut tx,
        repo::NewNotification {
            kind: prepared.kind,
            recipient: &prepared.email.to,
            subject: &prepared.email.subject,
            order_id: prepared.order_id,
            user_id: prepared.user_id,
            error: error.clone(),
            event_id: prepared.event_id,
            html: &prepared.email.html,
            text: &prepared.email.text,
        },
    )
    .await?;
    tx.commit().await?;
    let delivered = state.hub.push(
        prepared.user_id,
        &ServerMessage::Notification {
            data: prepared.push,
        },
    );
    tracing::info!(event_id = %prepared.event_id, sockets = delivered, email_sent = error.is_none(), "event handled");
    Ok(if error.is_none() {
        Outcome::Sent
    } else {
        Outcome::Failed
    })
}
