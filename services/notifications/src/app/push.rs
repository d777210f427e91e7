//! Live toasts across replicas. The replica that handles an event does not
//! push to its own sockets directly: it sends a PostgreSQL `NOTIFY` on
//! [`CHANNEL`] in the transaction that records the notification, and every
//! replica (itself included) listens on the shared database and pushes to
//! the sockets connected to it. No new infrastructure: every deployment
//! already has the database.
//!
//! Nothing is lost across a listener that stops hearing: the notification's
//! row keeps its push. The listener proves it still hears the database with
//! a heartbeat every [`HEARTBEAT`] on a connection of its own; one not heard
//! back by the next beat, or a lost connection, starts a new listener, which
//! first listens, then replays every push recorded since [`REPLAY_MARGIN`]
//! before it last heard its heartbeat. Pushes already delivered by this
//! replica are recognised by their notification id and not sent twice.

use crate::{app::hub::Hub, store::push as store};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shop_types::ServerMessage;
use sqlx::{PgPool, postgres::PgListener};
use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
    time::Duration,
};
use tokio_util::sync::CancellationToken;

pub const CHANNEL: &str = "shop_push";
/// Where each listener hears its own heartbeat.
const HEARTBEAT_CHANNEL: &str = "shop_push_heartbeat";
/// How often the listener proves it still hears the database.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// Replay reaches this far behind the last heartbeat heard: a claim
/// transaction that began before it may commit after it.
pub const REPLAY_MARGIN: Duration = Duration::from_secs(10);
/// How many delivered ids a replica remembers to skip in a replay.
const REMEMBERED: usize = 10_000;
/// A replay reaches back at most this far: older toasts are news no more
/// (the notifications list still has them).
pub const REPLAY_AT_MOST: Duration = Duration::from_secs(300);

/// What travels on the channel: a message for one user's sockets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Push {
    /// The notification it announces; set on the channel, not in the row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub user_id: i64,
    pub message: ServerMessage,
    /// The trace context of the event that caused it: the push is a span
    /// of that trace, on whichever replica holds the sockets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<std::collections::HashMap<String, String>>,
}

/// The ids this replica pushed lately, and when it last knew it heard
/// everything.
#[derive(Debug, Default)]
struct Delivered {
    ids: HashSet<i64>,
    order: VecDeque<i64>,
    /// The database time of the last heartbeat heard back.
    heard_at: Option<DateTime<Utc>>,
    /// When this replica first listened: nothing before it is its to push.
    listening_since: Option<DateTime<Utc>>,
}

impl Delivered {
    /// True the first time `id` is seen.
    fn first(&mut self, id: i64) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }
}

/// Listens until cancelled; after a lost connection or a missed heartbeat
/// it listens again and replays what it may have missed.
pub async fn listen(
    pool: PgPool,
    hub: Arc<Hub>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let own = shop_platform::db::listener_pool(&pool);
    let mut delivered = Delivered::default();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            Err(e) = relay(&own, &hub, &mut delivered) => {
                metrics::counter!("notifications_push_listener_restarts_total").increment(1);
                tracing::warn!(error = format!("{e:#}"), "push listener stopped hearing the database; listening again");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// Relays pushes to this replica's sockets until the listener stops hearing.
async fn relay(
    pool: &PgPool,
    hub: &Hub,
    delivered: &mut Delivered,
) -> anyhow::Result<std::convert::Infallible> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection is reported (and handled here, with a replay)
    // instead of being re-established inside `try_recv` while pushes go
    // unheard.
    listener.eager_reconnect(false);
    listener.listen_all([CHANNEL, HEARTBEAT_CHANNEL]).await?;
    tracing::debug!(channel = CHANNEL, "listening for pushes");
    let now = tokio::time::timeout(HEARTBEAT, store::database_now(pool)).await??;
    match (delivered.heard_at, delivered.listening_since) {
        (Some(heard_at), Some(first)) => {
            let since = (heard_at - chrono::Duration::from_std(REPLAY_MARGIN)?)
                .max(first)
                .max(now - chrono::Duration::from_std(REPLAY_AT_MOST)?);
            tokio::time::timeout(HEARTBEAT * 5, replay(pool, hub, delivered, since)).await??;
        }
        // The first listener hears everything committed from now on.
        _ => {
            delivered.heard_at = Some(now);
            delivered.listening_since = Some(now);
        }
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The heartbeat sent and not yet heard back, with its database time.
    let mut awaited: Option<(String, DateTime<Utc>)> = None;
    let mut sequence = 0u64;
    loop {
        let next = tokio::select! {
            _ = beat.tick() => {
                anyhow::ensure!(awaited.is_none(), "a heartbeat was not heard back within {HEARTBEAT:?}");
                sequence += 1;
                let payload = format!("{token}:{sequence}");
                let sent_at = tokio::time::timeout(
                    HEARTBEAT,
                    store::notify(pool, HEARTBEAT_CHANNEL, &payload),
                )
                .await??;
                awaited = Some((payload, sent_at));
                continue;
            }
            next = listener.try_recv() => next?,
        };
        let Some(n) = next else {
            anyhow::bail!("the listening connection was lost");
        };
        if n.channel() == HEARTBEAT_CHANNEL {
            if let Some((payload, sent_at)) = &awaited
                && payload == n.payload()
            {
                // Everything committed before the heartbeat was heard.
                delivered.heard_at = Some(*sent_at);
                awaited = None;
            }
            continue;
        }
        match serde_json::from_str::<Push>(n.payload()) {
            Ok(push) => deliver(hub, delivered, push),
            Err(e) => tracing::warn!(error = %e, "unreadable push"),
        }
    }
}

/// Pushes recorded since `since` that this replica has not delivered.
async fn replay(
    pool: &PgPool,
    hub: &Hub,
    delivered: &mut Delivered,
    since: DateTime<Utc>,
) -> anyhow::Result<()> {
    let rows = store::pushes_since(pool, since).await?;
    let mut replayed = 0u64;
    for (id, push) in rows {
        match serde_json::from_value::<Push>(push) {
            Ok(push) if !delivered.ids.contains(&id) => {
                replayed += 1;
                deliver(
                    hub,
                    delivered,
                    Push {
                        id: Some(id),
                        ..push
                    },
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(notification_id = id, error = %e, "unreadable recorded push"),
        }
    }
    metrics::counter!("notifications_pushes_replayed_total").increment(replayed);
    tracing::info!(replayed, %since, "push listener caught up");
    Ok(())
}

fn deliver(hub: &Hub, delivered: &mut Delivered, push: Push) {
    if let Some(id) = push.id
        && !delivered.first(id)
    {
        return;
    }
    let span = push.trace.as_ref().map(|carrier| {
        let span = tracing::info_span!(
            "push",
            otel.name = "toast push",
            user_id = push.user_id,
            sockets = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        );
        shop_platform::traces::continue_from(&span, carrier, "notifications");
        span
    });
    let _entered = span.as_ref().map(tracing::Span::enter);
    let sockets = hub.push(push.user_id, &push.message);
    if let Some(span) = &span {
        span.record("sockets", sockets);
    }
    tracing::debug!(user_id = push.user_id, sockets, "pushed");
}
