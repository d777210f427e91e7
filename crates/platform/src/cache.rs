//! Answers served from memory, kept correct by the database: a service
//! keeps the JSON of rows it serves often (items, by id) and of views built
//! from many rows (a catalogue page), with an `ETag`, and drops them when
//! the database announces a change.
//!
//! A trigger on the table announces every changed row's id with
//! `pg_notify(channel, id)` when its transaction commits, whichever replica
//! or statement made the change. Every replica listens and drops that item
//! and every view. A read that started before a change was announced does
//! not keep what it read (the generation check). While the listener is not
//! connected nothing is served from memory: a lost connection may have lost
//! announcements, so the copy is emptied and reads go to the database until
//! the listener is back.
//!
//! Changes made many times a second (stock moved by checkouts) are announced
//! by the replica instead, in batches: a `NOTIFY` in the changing transaction
//! would make every such commit wait for PostgreSQL's one notification lock.
//! The transaction tells the trigger to stay quiet (see each service's
//! migration), the replica forgets the rows at once after the commit
//! ([`Announced::change`]) and [`Announced::announce`] sends every id
//! gathered meanwhile in one notification, within about one round trip. A
//! replica that dies between a commit and its batch leaves the others a
//! stale copy for at most [`MAX_AGE`]: nothing is served older than that.
//!
//! Items and views are kept in `quick_cache`'s scan-resistant cache (S3-FIFO):
//! a newcomer earns a place among the kept by being asked for again, so a
//! flood of one-off queries (distinct query strings an attacker makes up)
//! passes through a small probation queue and never evicts the pages that
//! are read.

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use quick_cache::sync::Cache;
use sqlx::{PgPool, postgres::PgListener};
use std::{
    collections::BTreeSet,
    hash::{Hash, Hasher},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio_util::sync::CancellationToken;

/// Views kept at most (every distinct query is one; those read again stay),
/// and the largest kept.
const MAX_VIEWS: usize = 64;
/// How often the listener proves it still hears the database: it announces
/// a heartbeat of its own and must hear it back within the next period.
const HEARTBEAT: Duration = Duration::from_secs(5);
const MAX_VIEW_BYTES: usize = 64 * 1024;
/// Nothing kept is served once this old: the bound on how stale a replica
/// can be when a change's batched announcement never came (its replica
/// died between the commit and the batch).
pub const MAX_AGE: Duration = Duration::from_secs(10);
/// After shutdown, the longest the announcer waits for changes in flight.
pub const LAST_CHANGES: Duration = Duration::from_secs(30);
/// A notification's payload must stay under 8,000 bytes.
const MAX_PAYLOAD: usize = 7_000;

/// A serialized answer and its validator.
#[derive(Debug, Clone)]
pub struct Cached {
    body: Bytes,
    etag: HeaderValue,
    cache_control: HeaderValue,
    read_at: Instant,
}

impl Cached {
    fn new(body: Bytes, cache_control: HeaderValue) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        body.hash(&mut hasher);
        let etag = HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish()))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        Self {
            body,
            etag,
            cache_control,
            read_at: Instant::now(),
        }
    }

    fn fresh(&self) -> bool {
        self.read_at.elapsed() < MAX_AGE
    }

    /// 304 when `If-None-Match` names this version, else 200 with the JSON.
    pub fn respond(&self, request: &HeaderMap) -> Response {
        let mut headers = HeaderMap::with_capacity(3);
        headers.insert(header::ETAG, self.etag.clone());
        headers.insert(header::CACHE_CONTROL, self.cache_control.clone());
        if not_modified(request, &self.etag) {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        (headers, Body::from(self.body.clone())).into_response()
    }
}

/// `If-None-Match` with the weak comparison RFC 9110 §13.1.2 asks for: `*`,
/// or any listed tag equal to ours once `W/` is set aside. Also for answers
/// kept elsewhere than here (a product's picture).
pub fn not_modified(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.as_bytes();
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").as_bytes() == ours)
}

#[derive(Debug)]
struct Inner {
    /// The listener is connected: what is kept is up to date.
    live: AtomicBool,
    /// Moves on every announced change.
    generation: AtomicU64,
    cache_control: HeaderValue,
    /// Held while checking the generation and keeping, and while announcing
    /// a change: a read that overlaps a change is never kept.
    writes: Mutex<()>,
    items: Cache<i64, Cached>,
    views: Cache<String, Cached>,
    /// Rows this replica changed that the other replicas have not been told of.
    unannounced: Mutex<Unannounced>,
    /// [`Change`]s begun and not yet ended.
    in_flight: AtomicUsize,
    to_announce: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Unannounced {
    ids: BTreeSet<i64>,
    /// A change that may have moved any row.
    everything: bool,
}

/// A change in flight; see [`Announced::change`].
#[derive(Debug)]
#[must_use = "a change counts as touching every row unless finished with `moved`"]
pub struct Change {
    cache: Announced,
    finished: bool,
}

impl Change {
    /// The transaction ended having moved (or possibly moved) these rows.
    pub fn moved(mut self, ids: &[i64]) {
        self.cache.changed_here(Some(ids));
        self.finished = true;
    }
}

impl Drop for Change {
    fn drop(&mut self) {
        if !self.finished {
            self.cache.changed_here(None);
        }
        self.cache.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.cache.inner.to_announce.notify_one();
    }
}

/// This replica's copy. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Announced {
    inner: Arc<Inner>,
}

impl Announced {
    /// `cache_control` goes on every answer (`public, no-cache` for data
    /// anyone may see that changes any time, `private, no-cache` for a
    /// user's own); at most `max_items` items are kept.
    pub fn new(cache_control: &'static str, max_items: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                live: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                cache_control: HeaderValue::from_static(cache_control),
                writes: Mutex::new(()),
                items: Cache::new(max_items.max(1)),
                views: Cache::new(MAX_VIEWS),
                unannounced: Mutex::new(Unannounced::default()),
                in_flight: AtomicUsize::new(0),
                to_announce: tokio::sync::Notify::new(),
            }),
        }
    }

    /// An answer not kept (read while not listening, or built elsewhere),
    /// with the same validator and headers.
    pub fn uncached(&self, body: Bytes) -> Cached {
        Cached::new(body, self.inner.cache_control.clone())
    }

    /// Whether the listener is connected, so answers are kept and served.
    pub fn is_live(&self) -> bool {
        self.inner.live.load(Ordering::SeqCst)
    }

    /// How many items and views are kept now.
    pub fn kept(&self) -> (usize, usize) {
        (self.inner.items.len(), self.inner.views.len())
    }

    /// Read before going to the database; pass it to `keep_*`.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    pub fn item(&self, id: i64) -> Option<Cached> {
        if !self.inner.live.load(Ordering::SeqCst) {
            return None;
        }
        self.inner.items.get(&id).filter(Cached::fresh)
    }

    pub fn view(&self, key: &str) -> Option<Cached> {
        if !self.inner.live.load(Ordering::SeqCst) {
            return None;
        }
        self.inner.views.get(key).filter(Cached::fresh)
    }

    /// Keeps an item read from the database at generation `seen`, unless a
    /// change was announced since (then what was read may be old).
    pub fn keep_item(&self, seen: u64, id: i64, body: Bytes) -> Cached {
        let cached = self.uncached(body);
        if let Ok(_writes) = self.inner.writes.lock()
            && self.current(seen)
        {
            self.inner.items.insert(id, cached.clone());
        }
        cached
    }

    /// Keeps a view (a list built from many rows), as `keep_item`.
    pub fn keep_view(&self, seen: u64, key: String, body: Bytes) -> Cached {
        let cached = self.uncached(body);
        if cached.body.len() <= MAX_VIEW_BYTES
            && let Ok(_writes) = self.inner.writes.lock()
            && self.current(seen)
        {
            self.inner.views.insert(key, cached.clone());
        }
        cached
    }

    fn current(&self, seen: u64) -> bool {
        self.inner.live.load(Ordering::SeqCst) && self.generation() == seen
    }

    /// A row changed (`None`: possibly any): drop its item and every view.
    /// The trigger announces every change; a replica also calls this after
    /// its own writes, so its next read never waits on the announcement.
    pub fn changed(&self, id: Option<i64>) {
        match id {
            Some(id) => self.forget(Some(&[id])),
            None => self.forget(None),
        }
    }

    /// A change to rows that this replica makes in a transaction keeping the
    /// trigger quiet: counted while in flight, so the announcer does not
    /// stop (at shutdown) before it has been told. Finish it with
    /// [`Change::moved`]; dropped unfinished (an error, a lost commit
    /// acknowledgement, a request given up) it may have moved any row, and
    /// everything is forgotten and announced.
    pub fn change(&self) -> Change {
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        Change {
            cache: self.clone(),
            finished: false,
        }
    }

    /// Forgets these rows (`None`: all) here now, and queues them for
    /// [`Announced::announce`] to tell every replica.
    fn changed_here(&self, ids: Option<&[i64]>) {
        if ids.is_some_and(<[i64]>::is_empty) {
            return;
        }
        self.forget(ids);
        if let Ok(mut queued) = self.inner.unannounced.lock() {
            match ids {
                Some(ids) => queued.ids.extend(ids),
                None => queued.everything = true,
            }
        }
        self.inner.to_announce.notify_one();
    }

    /// Drops these items (`None`: all) and every view.
    fn forget(&self, ids: Option<&[i64]>) {
        let _writes = self.inner.writes.lock();
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        match ids {
            Some(ids) => {
                for id in ids {
                    self.inner.items.remove(id);
                }
            }
            None => self.inner.items.clear(),
        }
        self.inner.views.clear();
    }

    /// What is queued, as payloads that fit a notification (`*` for
    /// everything), emptying the queue.
    fn take_unannounced(&self) -> Vec<String> {
        let queued = match self.inner.unannounced.lock() {
            Ok(mut queued) => std::mem::take(&mut *queued),
            Err(_) => return vec!["*".into()],
        };
        if queued.everything {
            return vec!["*".into()];
        }
        let mut payloads = Vec::new();
        let mut payload = String::new();
        for id in queued.ids {
            if payload.len() > MAX_PAYLOAD {
                payloads.push(std::mem::take(&mut payload));
            }
            if !payload.is_empty() {
                payload.push(',');
            }
            payload.push_str(&id.to_string());
        }
        if !payload.is_empty() {
            payloads.push(payload);
        }
        payloads
    }

    fn settled(&self) -> bool {
        self.inner.in_flight.load(Ordering::SeqCst) == 0
            && self
                .inner
                .unannounced
                .lock()
                .map_or(true, |queued| queued.ids.is_empty() && !queued.everything)
    }

    /// Tells every replica (this one included) of the rows queued by
    /// [`Change`]s, until `shutdown`: whatever gathered while one batch was
    /// being sent goes in the next, so a burst of changes costs a few
    /// notifications, not one each. A batch that cannot be sent is tried
    /// again. After `shutdown` it goes on until no change is in flight and
    /// nothing is queued (requests still finishing), for at most
    /// [`LAST_CHANGES`].
    pub async fn announce(
        self,
        pool: PgPool,
        channel: &'static str,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let pool = crate::db::listener_pool(&pool);
        let mut backoff = Duration::from_millis(50);
        let mut stopping_since: Option<Instant> = None;
        loop {
            if shutdown.is_cancelled() {
                let since = *stopping_since.get_or_insert_with(Instant::now);
                if self.settled() {
                    return Ok(());
                }
                if since.elapsed() > LAST_CHANGES {
                    tracing::warn!(
                        channel,
                        "cache: stopped with changes unannounced; other replicas serve them for at most MAX_AGE"
                    );
                    return Ok(());
                }
                // A change that ends wakes this; the timeout re-checks.
                let _ = tokio::time::timeout(
                    Duration::from_millis(200),
                    self.inner.to_announce.notified(),
                )
                .await;
            } else {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = self.inner.to_announce.notified() => {}
                }
            }
            let payloads = self.take_unannounced();
            if payloads.is_empty() {
                continue;
            }
            let sent = sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
                .bind(channel)
                .bind(&payloads)
                .execute(&pool)
                .await;
            match sent {
                Ok(_) => backoff = Duration::from_millis(50),
                Err(e) => {
                    tracing::warn!(channel, error = %e, "cache: cannot announce changes; trying again");
                    self.requeue(&payloads);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Puts back what was not sent.
    fn requeue(&self, payloads: &[String]) {
        if let Ok(mut queued) = self.inner.unannounced.lock() {
            for payload in payloads {
                let ids: Result<Vec<i64>, _> = payload.split(',').map(str::parse).collect();
                match ids {
                    Ok(ids) => queued.ids.extend(ids),
                    Err(_) => queued.everything = true,
                }
            }
        }
        self.inner.to_announce.notify_one();
    }

    /// An announcement heard: a comma-separated list of ids drops those
    /// items; anything else (`*` after a truncate) drops everything.
    fn heard(&self, payload: &str) {
        let ids: Result<Vec<i64>, _> = payload.split(',').map(str::parse).collect();
        match ids {
            Ok(ids) => self.forget(Some(&ids)),
            Err(_) => self.forget(None),
        }
    }

    fn set_live(&self, live: bool) {
        // Emptied on both edges: announcements may have been missed.
        self.inner.live.store(false, Ordering::SeqCst);
        self.changed(None);
        self.inner.live.store(live, Ordering::SeqCst);
    }

    /// Listens for announced changes until `shutdown`; reconnects after a
    /// lost connection, serving from the database meanwhile. A connection
    /// that dies without an error (a dropped route, a silent proxy) is found
    /// by the heartbeat: every [`HEARTBEAT`] the listener announces a token
    /// of its own (through a connection of its own, not the request pool),
    /// and one not heard back by the next beat
    /// counts as a lost connection. Payloads starting with `~` are
    /// heartbeats (any replica's); an id, or a comma-separated list of them
    /// (a replica's batch), drops those items; anything else (`*` after a
    /// truncate) drops everything.
    pub async fn follow(
        self,
        pool: PgPool,
        channel: &'static str,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        // The listener and its heartbeat on connections of their own: a
        // request pool saturated by load never delays them.
        let pool = crate::db::listener_pool(&pool);
        let mut backoff = Duration::from_millis(100);
        loop {
            self.set_live(false);
            let connected = async {
                let mut listener = PgListener::connect_with(&pool).await?;
                // A lost connection is reported at once (and handled here)
                // instead of being re-established inside `try_recv` while
                // announcements go unheard.
                listener.eager_reconnect(false);
                listener.listen(channel).await?;
                Ok::<_, sqlx::Error>(listener)
            };
            let mut listener = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                connected = connected => match connected {
                    Ok(listener) => listener,
                    Err(e) => {
                        tracing::warn!(error = %e, channel, "cache: cannot listen for changes; reading the database");
                        tokio::select! {
                            () = shutdown.cancelled() => return Ok(()),
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                },
            };
            backoff = Duration::from_millis(100);
            self.set_live(true);
            let mut beat = tokio::time::interval(HEARTBEAT);
            beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut awaited: Option<String> = None;
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    _ = beat.tick() => {
                        if awaited.is_some() {
                            tracing::warn!(channel, "cache: the change listener stopped hearing the database");
                            break;
                        }
                        let token = format!("~{}", uuid::Uuid::new_v4().simple());
                        let sent = tokio::time::timeout(
                            HEARTBEAT,
                            sqlx::query("SELECT pg_notify($1, $2)")
                                .bind(channel)
                                .bind(&token)
                                .execute(&pool),
                        )
                        .await;
                        if !matches!(sent, Ok(Ok(_))) {
                            tracing::warn!(channel, "cache: cannot reach the database");
                            break;
                        }
                        awaited = Some(token);
                        continue;
                    }
                    next = listener.try_recv() => next,
                };
                match next {
                    Ok(Some(n)) if n.payload().starts_with('~') => {
                        if awaited.as_deref() == Some(n.payload()) {
                            awaited = None;
                        }
                    }
                    Ok(Some(n)) => self.heard(n.payload()),
                    Ok(None) => {
                        tracing::warn!(channel, "cache: the change listener lost its connection");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(channel, error = %e, "cache: the change listener failed");
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Announced {
        let c = Announced::new("public, no-cache", 2);
        c.inner.live.store(true, Ordering::SeqCst);
        c
    }

    #[test]
    fn a_read_that_overlaps_a_change_is_not_kept() {
        let c = live();
        let seen = c.generation();
        c.changed(Some(1));
        c.keep_item(seen, 1, Bytes::from_static(b"{\"old\":1}"));
        assert!(c.item(1).is_none());
        let seen = c.generation();
        c.keep_item(seen, 1, Bytes::from_static(b"{\"new\":1}"));
        assert_eq!(c.item(1).unwrap().body, "{\"new\":1}");
        c.changed(Some(1));
        assert!(c.item(1).is_none());
    }

    #[test]
    fn a_batch_is_forgotten_here_at_once_and_announced_in_payloads_that_fit() {
        let c = live();
        for id in [1, 2] {
            let seen = c.generation();
            c.keep_item(seen, id, Bytes::from_static(b"{}"));
        }
        let change = c.change();
        assert!(!c.settled(), "a change in flight");
        change.moved(&[1, 5]);
        assert!(c.item(1).is_none(), "forgotten before any announcement");
        assert!(c.item(2).is_some());
        c.change().moved(&[5, 3]);
        assert_eq!(c.take_unannounced(), ["1,3,5"], "gathered, once each");
        assert!(c.take_unannounced().is_empty());
        assert!(c.settled());

        let many: Vec<i64> = (1_000_000..1_002_000).collect();
        c.change().moved(&many);
        let payloads = c.take_unannounced();
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() < 8_000));
        let heard: Vec<i64> = payloads
            .iter()
            .flat_map(|p| p.split(','))
            .map(|id| id.parse().unwrap())
            .collect();
        assert_eq!(heard, many);
    }

    #[test]
    fn a_change_that_ends_unfinished_forgets_and_announces_everything() {
        let c = live();
        let seen = c.generation();
        c.keep_item(seen, 2, Bytes::from_static(b"{}"));
        c.change().moved(&[1]);
        drop(c.change());
        assert!(c.item(2).is_none());
        assert_eq!(c.take_unannounced(), ["*"]);
        c.requeue(&["*".into(), "4".into()]);
        assert_eq!(c.take_unannounced(), ["*"], "a failed batch is sent again");
        assert!(c.settled());
    }

    #[test]
    fn a_heard_batch_drops_its_items_and_anything_else_drops_all() {
        let c = live();
        for id in [1, 2] {
            let seen = c.generation();
            c.keep_item(seen, id, Bytes::from_static(b"{}"));
        }
        c.heard("1,3");
        assert!(c.item(1).is_none());
        assert!(c.item(2).is_some());
        c.heard("*");
        assert!(c.item(2).is_none());
    }

    #[test]
    fn nothing_older_than_the_bound_is_served() {
        let c = live();
        let seen = c.generation();
        c.keep_item(seen, 1, Bytes::from_static(b"{}"));
        let mut kept = c.inner.items.get(&1).unwrap();
        kept.read_at -= MAX_AGE;
        c.inner.items.insert(1, kept);
        assert!(c.item(1).is_none());
    }

    #[test]
    fn items_are_bounded() {
        let c = live();
        for id in 0..5 {
            let seen = c.generation();
            c.keep_item(seen, id, Bytes::from_static(b"{}"));
        }
        assert!(c.inner.items.len() <= 2);
        assert!(c.item(4).is_some());
    }

    #[test]
    fn one_off_views_never_evict_a_view_that_is_read() {
        let c = Announced::new("public, no-cache", 2);
        c.inner.live.store(true, Ordering::SeqCst);
        let seen = c.generation();
        c.keep_view(seen, "page=1".into(), Bytes::from_static(b"[1]"));
        for _ in 0..3 {
            assert!(c.view("page=1").is_some());
        }
        for i in 0..(MAX_VIEWS * 20) {
            let seen = c.generation();
            c.keep_view(seen, format!("junk={i}"), Bytes::from_static(b"[]"));
            // Read as often as the hot page is, between the junk.
            if i % 8 == 0 {
                assert!(
                    c.view("page=1").is_some(),
                    "evicted after {i} one-off views"
                );
            }
        }
        assert!(c.view("page=1").is_some());
        assert!(c.kept().1 <= MAX_VIEWS + 1, "bounded: {:?}", c.kept());
    }

    #[test]
    fn nothing_is_served_or_kept_while_not_listening() {
        let c = Announced::new("public, no-cache", 2);
        let seen = c.generation();
        c.keep_item(seen, 1, Bytes::from_static(b"{}"));
        assert!(c.item(1).is_none());
        let c = live();
        let seen = c.generation();
        c.keep_view(seen, "a".into(), Bytes::from_static(b"[]"));
        assert!(c.view("a").is_some());
        c.set_live(false);
        assert!(c.view("a").is_none());
    }

    #[test]
    fn if_none_match_takes_lists_weak_tags_and_star() {
        let cached = live().uncached(Bytes::from_static(b"{\"id\":1}"));
        let tag = cached.etag.to_str().unwrap().to_owned();
        for sent in [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"x\", {tag}"),
            "*".into(),
        ] {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, sent.parse().unwrap());
            assert_eq!(
                cached.respond(&h).status(),
                StatusCode::NOT_MODIFIED,
                "{sent}"
            );
        }
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, "\"other\"".parse().unwrap());
        let resp = cached.respond(&h);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::ETAG], tag.as_str());
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, no-cache");
    }
}
