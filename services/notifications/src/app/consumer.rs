//! The queue consumer: messages are handled concurrently; each is deleted
//! only after it was handled; a repeated `event_id` is recognised by a
//! database constraint and produces nothing.
//!
//! Claim, then send: one short transaction claims the event, records its
//! notification as `sending` and announces the toast (see `crate::push`);
//! the email goes out with no transaction open and no connection held; a
//! second statement records `sent` or `failed`. A slow mail server therefore
//! never holds the pool. If the process dies before its SMTP exchange began,
//! the message comes back after its visibility timeout and takes the claim
//! over once [`SENDING_LEASE`] has run out. If it dies during the exchange,
//! the recipient may have the email already: the next delivery settles it as
//! failed with [`repo::OUTCOME_UNKNOWN`] and sends nothing; an admin's retry
//! decides. Every claim carries an attempt number, and only the current one
//! may begin the exchange or record its outcome, so no email goes out twice
//! on its own.

use crate::{AppState, app::push::Push, domain::messages, store::notifications as repo};
use shop_events::{Consumer, Delivery};
use shop_types::ServerMessage;
use std::{sync::Arc, time::Duration};
use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Failed,
    Duplicate,
    /// Another delivery took the claim over while this one waited: its
    /// message is left for that holder to delete (a delete with this
    /// older receipt could remove the message the holder still needs).
    Superseded,
}

/// How long a handler may take to send before another delivery of the same
/// message takes its claim over: shorter than the queue's visibility timeout
/// (60 s), and at least twice the whole SMTP exchange's deadline
/// (`SMTP_SEND_DEADLINE_MS`, a third of this by default), so a send that
/// ran out of time has recorded its outcome long before anyone may take over.
pub const SENDING_LEASE: Duration = Duration::from_secs(45);

/// What a failed notification says; the mail server's own error is logged.
pub const DELIVERY_FAILED: &str =
    "The email could not be delivered: the mail server was unreachable or refused it";

/// Receive loops polling the queue side by side: one waits out its long
/// poll while another hands its messages over.
pub const POLLERS: usize = 2;
/// Messages in hand per SMTP exchange allowed at once: a message is claimed
/// and its toast pushed the moment it arrives, while its email waits for one
/// of `concurrency` SMTP exchanges. A slow mail server delays emails, never
/// toasts.
const IN_HAND_PER_SEND: usize = 8;
/// The longest a claimed email waits for its SMTP exchange: well inside the
/// claim ([`SENDING_LEASE`], renewed when the exchange begins) and the
/// queue's visibility timeout (60 s), so no other delivery takes it over
/// while it waits.
const TURN_WAIT: Duration = Duration::from_secs(20);

pub async fn run(
    state: AppState,
    consumer: Arc<dyn Consumer>,
    concurrency: usize,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let in_hand = Arc::new(Semaphore::new(concurrency.max(1) * IN_HAND_PER_SEND));
    let sends = Arc::new(Semaphore::new(concurrency.max(1)));
    let (acks, handled) = mpsc::channel(concurrency.max(1) * IN_HAND_PER_SEND);
    let pollers: Vec<_> = (0..POLLERS)
        .map(|_| {
            poll(
                state.clone(),
                consumer.clone(),
                in_hand.clone(),
                sends.clone(),
                acks.clone(),
                shutdown.clone(),
            )
        })
        .collect();
    drop(acks);
    // At shutdown no new SMTP exchange begins: emails still waiting for one
    // are left on the queue for the next delivery.
    let close_turns = async {
        shutdown.cancelled().await;
        sends.close();
    };
    // The acknowledger ends once every poller (and so every sender) has.
    let (polled, (), ()) = tokio::join!(
        futures::future::join_all(pollers),
        acknowledge(consumer.clone(), handled),
        close_turns,
    );
    for polled in polled {
        polled?;
    }
    Ok(())
}

/// How long a handled message's receipt waits for others to share its
/// delete call (SQS `DeleteMessageBatch`, ten at most).
const ACK_WINDOW: Duration = Duration::from_millis(20);
/// The longest one delete call may take; its messages come back otherwise
/// and are recognised as handled.
const ACK_LIMIT: Duration = Duration::from_secs(10);

/// Deletes handled messages ten to a call, until every sender is gone.
async fn acknowledge(consumer: Arc<dyn Consumer>, mut handled: mpsc::Receiver<String>) {
    let mut batch = Vec::with_capacity(shop_events::MAX_BATCH);
    while let Some(first) = handled.recv().await {
        batch.push(first);
        let window = tokio::time::Instant::now() + ACK_WINDOW;
        while batch.len() < shop_events::MAX_BATCH {
            match tokio::time::timeout_at(window, handled.recv()).await {
                Ok(Some(receipt)) => batch.push(receipt),
                Ok(None) | Err(_) => break,
            }
        }
        let outcomes = tokio::time::timeout(ACK_LIMIT, consumer.ack_batch(&batch))
            .await
            .unwrap_or_else(|_| {
                shop_events::all_failed(
                    &batch,
                    &anyhow::anyhow!("deleting took over {ACK_LIMIT:?}"),
                )
            });
        for e in outcomes.into_iter().filter_map(Result::err) {
            // It will come back and be recognised as a duplicate.
            tracing::warn!(
                error = format!("{e:#}"),
                "could not delete a handled message"
            );
        }
        batch.clear();
    }
}

async fn poll(
    state: AppState,
    consumer: Arc<dyn Consumer>,
    in_hand: Arc<Semaphore>,
    sends: Arc<Semaphore>,
    acks: mpsc::Sender<String>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        // Receive only as many as can be held now. At shutdown a receive
        // in flight is given its poll limit to end: the queue may already have
        // handed it messages, which would stay invisible to every other
        // consumer for the visibility timeout. Its messages are handled
        // before the service stops.
        let free = in_hand.available_permits().clamp(1, 10);
        let receive = consumer.receive(free);
        tokio::pin!(receive);
        let batch = tokio::select! {
            r = &mut receive => r,
            () = shutdown.cancelled() => {
                match tokio::time::timeout(consumer.poll_limit(), &mut receive).await {
                    Ok(r) => r,
                    Err(_) => break,
                }
            }
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
            let permit = in_hand.clone().acquire_owned().await?;
            let (state, sends, acks) = (state.clone(), sends.clone(), acks.clone());
            tasks.spawn(async move {
                let _permit = permit;
                handle_and_ack(&state, delivery, &sends, &acks).await;
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

/// Each message is handled in a consumer span whose parent is the
/// publisher's span (OpenTelemetry's messaging conventions allow the
/// creation context as the parent when one message is processed on its
/// own, as here): one checkout is then one trace, from the click to the
/// email and the toast.
async fn handle_and_ack(
    state: &AppState,
    delivery: Delivery,
    sends: &Semaphore,
    acks: &mpsc::Sender<String>,
) {
    let span = tracing::info_span!(
        "process",
        otel.name = "order-events process",
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        messaging.system = "aws_sqs",
        messaging.operation.type = "process",
        messaging.destination.name = "notification-queue",
        messaging.message.delivery_count = delivery.receive_count,
        outcome = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    shop_platform::traces::continue_from(&span, &delivery.trace, "notifications");
    handle_and_ack_in(state, delivery, sends, acks)
        .instrument(span)
        .await;
}

async fn handle_and_ack_in(
    state: &AppState,
    delivery: Delivery,
    sends: &Semaphore,
    acks: &mpsc::Sender<String>,
) {
    let handled = handle_with(state, &delivery.body, Some(sends)).await;
    let outcome = match &handled {
        Ok(Outcome::Sent) => "sent",
        Ok(Outcome::Failed) => "failed",
        Ok(Outcome::Duplicate) => "duplicate",
        Ok(Outcome::Superseded) => "superseded",
        Err(_) => "error",
    };
    metrics::counter!("notifications_events_total", "outcome" => outcome).increment(1);
    let span = tracing::Span::current();
    span.record("outcome", outcome);
    if handled.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    match handled {
        Ok(Outcome::Superseded) => {}
        Ok(outcome) => {
            if acks.send(delivery.receipt).await.is_err() {
                // It will come back and be recognised as a duplicate.
                tracing::warn!(?outcome, "stopping: a handled message was not deleted");
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
    handle_with(state, body, None).await
}

/// As [`handle`]; the email waits for one of `sends` after the claim (and
/// its toast) is committed.
async fn handle_with(
    state: &AppState,
    body: &str,
    sends: Option<&Semaphore>,
) -> anyhow::Result<Outcome> {
    let prepared = messages::prepare(body)?;
    let span = tracing::info_span!(
        "event",
        event_id = %prepared.event_id,
        event_type = prepared.event_type,
        order_id = prepared.order_id,
        request_id = prepared.correlation_id,
    );
    process(state, prepared, sends).instrument(span).await
}

async fn process(
    state: &AppState,
    prepared: messages::Prepared,
    sends: Option<&Semaphore>,
) -> anyhow::Result<Outcome> {
    let claimed = match claim(state, &prepared).await? {
        Some(claimed) => claimed,
        None => match repo::take_over(&state.pool, prepared.event_id, SENDING_LEASE).await? {
            repo::Claimed::TakenOver(claimed) => {
                tracing::warn!(event_id = %prepared.event_id, "taking over an email whose sender died before sending");
                claimed
            }
            // Another copy of the event (SNS delivers at least once) is
            // being sent right now. This copy can go: if that handler dies,
            // its own message comes back after the visibility timeout (60 s),
            // after its claim (45 s) ran out, and takes the claim over.
            repo::Claimed::Busy => {
                tracing::info!(event_id = %prepared.event_id, "another copy is being sent; skipped");
                return Ok(Outcome::Duplicate);
            }
            repo::Claimed::Settled => {
                tracing::info!(event_id = %prepared.event_id, "already handled; skipped");
                return Ok(Outcome::Duplicate);
            }
        },
    };
    // The toast is out (committed with the claim); the email waits its
    // turn, but not past [`TURN_WAIT`]: then the message is left on the
    // queue and its next delivery takes the expired claim over. At
    // shutdown the turns are closed and the same happens.
    let _turn = match sends {
        Some(sends) => match tokio::time::timeout(TURN_WAIT, sends.acquire()).await {
            Ok(Ok(turn)) => Some(turn),
            Ok(Err(_)) => anyhow::bail!("stopping before the email's turn came"),
            Err(_) => anyhow::bail!(
                "no SMTP exchange was free within {TURN_WAIT:?}; left for the next delivery"
            ),
        },
        None => None,
    };
    // From here on the recipient may get the email: a claim that runs out
    // after this point is settled as of unknown outcome, never sent again by
    // itself. A claim taken over meanwhile sends nothing here.
    if !repo::begin_send(&state.pool, claimed, SENDING_LEASE).await? {
        tracing::warn!(event_id = %prepared.event_id, "the claim was taken over before sending; left to its new holder");
        return Ok(Outcome::Superseded);
    }
    let send = tracing::info_span!(
        "smtp",
        otel.name = "smtp send",
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
    );
    let sent = state
        .mailer
        .send(&prepared.email)
        .instrument(send.clone())
        .await;
    if sent.is_err() {
        send.record("otel.status_code", "ERROR");
    }
    if let Err(e) = &sent {
        tracing::warn!(event_id = %prepared.event_id, error = format!("{e:#}"), "email failed");
    }
    let error = sent.is_err().then(|| DELIVERY_FAILED.to_owned());
    record_outcome(state, claimed, error).await?;
    tracing::info!(event_id = %prepared.event_id, email_sent = sent.is_ok(), "event handled");
    Ok(if sent.is_ok() {
        Outcome::Sent
    } else {
        Outcome::Failed
    })
}

/// The short transaction: claims the event, records the notification as
/// `sending`, and announces the toast to every replica on commit. `None`
/// when the event was claimed before.
async fn claim(
    state: &AppState,
    prepared: &messages::Prepared,
) -> anyhow::Result<Option<repo::Claim>> {
    let mut push = Push {
        id: None,
        user_id: prepared.user_id,
        message: ServerMessage::Notification {
            data: prepared.push.clone(),
        },
        trace: shop_platform::traces::carrier(&tracing::Span::current()),
    };
    let recorded = serde_json::to_string(&push)?;
    let mut tx = state.pool.begin().await?;
    if !repo::claim_event(&mut tx, prepared.event_id, &prepared.event_type).await? {
        return Ok(None);
    }
    let claimed = repo::insert_sending(
        &mut tx,
        repo::NewNotification {
            kind: prepared.kind,
            recipient: &prepared.email.to,
            subject: &prepared.email.subject,
            order_id: prepared.order_id,
            user_id: prepared.user_id,
            event_id: prepared.event_id,
            html: &prepared.email.html,
            text: &prepared.email.text,
            push: &recorded,
        },
        SENDING_LEASE,
    )
    .await?;
    push.id = Some(claimed.id);
    repo::notify_push(&mut tx, &serde_json::to_string(&push)?).await?;
    tx.commit().await?;
    Ok(Some(claimed))
}

/// Sends a failed notification again, exactly as it was rendered, and
/// records the outcome.
pub async fn retry(state: &AppState, id: i64) -> Result<repo::Row, crate::error::Error> {
    use crate::error::Error;
    // Claimed first, in one statement: of two admins retrying at once, one
    // sends and the other is told it is not retryable.
    let Some(row) = repo::claim_retry(&state.pool, id, SENDING_LEASE).await? else {
        return Err(match repo::get(&state.pool, id).await? {
            Some(_) => Error::NotRetryable,
            None => Error::NotFound,
        });
    };
    let claimed = repo::Claim {
        id: row.id,
        attempt: row.attempt,
    };
    if !repo::begin_send(&state.pool, claimed, SENDING_LEASE).await? {
        return Err(Error::NotRetryable);
    }
    let email = crate::domain::messages::Email {
        to: row.recipient_email.clone(),
        subject: row.subject.clone(),
        html: row.body_html.clone(),
        text: row.body_text.clone(),
    };
    let error = match state.mailer.send(&email).await {
        Ok(()) => None,
        Err(e) => {
            tracing::warn!(
                notification_id = id,
                error = format!("{e:#}"),
                "retried email failed"
            );
            Some(DELIVERY_FAILED.to_owned())
        }
    };
    match record_outcome(state, claimed, error).await? {
        Some(row) => Ok(row),
        None => repo::get(&state.pool, id).await?.ok_or(Error::NotFound),
    }
}

/// Records how a send went, retrying a failed write for a while: a send the
/// server accepted must not stay `sending`, or its claim would run out and
/// the email go out a second time. Gives up after a third of the claim; the
/// claim then runs out and is settled as of unknown outcome, not resent.
/// `None` when the claim is no longer this sender's.
async fn record_outcome(
    state: &AppState,
    claimed: repo::Claim,
    error: Option<String>,
) -> Result<Option<repo::Row>, sqlx::Error> {
    let give_up = tokio::time::Instant::now() + SENDING_LEASE / 3;
    let mut wait = Duration::from_millis(100);
    loop {
        match repo::set_outcome(&state.pool, claimed, error.clone()).await {
            Ok(None) => {
                tracing::warn!(
                    notification_id = claimed.id,
                    "the claim ran out before the outcome was recorded"
                );
                return Ok(None);
            }
            Ok(row) => return Ok(row),
            Err(e) if tokio::time::Instant::now() + wait < give_up => {
                tracing::warn!(notification_id = claimed.id, error = %e, "recording an email's outcome failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}
