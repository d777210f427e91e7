//! Sessions that end. Every access token is a session (its `jti`) in the
//! users service; logout revokes one, deactivating an account revokes all of
//! the account's. Verifiers learn revocations by following the users
//! service's feed (`GET /internal/revocations?after=`) in the background,
//! every `REVOCATION_POLL_MS`, so a request never waits on a network call and
//! a revoked token is refused everywhere within one poll.
//!
//! The feed is read by a strictly increasing cursor (transaction ids, see
//! the users service's `sessions::feed`), so no committed revocation is
//! skipped however late it commits. A token is listed until it would have
//! expired anyway. While the feed cannot be read, what was read stays
//! refused, and for at most `REVOCATION_STALE_SECS` (30 s) more the list is
//! trusted as it is; after that every token is refused with 503 until the
//! feed answers again (`auth_revocation_feed_age_seconds` on `/metrics`).

use chrono::Utc;
pub use shop_types::internal::{RevocationBatch, RevokedToken};
use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long a verifier trusts its list while the feed cannot be read.
pub const DEFAULT_STALE_LIMIT: Duration = Duration::from_secs(30);

/// The revoked tokens a verifier knows. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Revocations {
    inner: Arc<State>,
}

#[derive(Debug)]
struct State {
    revoked: RwLock<HashMap<String, i64>>,
    /// A follower is attached: until its first answer, nothing verifies.
    followed: AtomicBool,
    /// Whether the feed has answered once.
    synced: watch::Sender<bool>,
    /// Bumped by every change to `revoked`: open sockets look again.
    changed: watch::Sender<u64>,
    /// When the feed last answered.
    heard: std::sync::Mutex<Option<std::time::Instant>>,
    /// How long the list is trusted after that.
    stale_limit: std::sync::Mutex<Duration>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            revoked: RwLock::default(),
            followed: AtomicBool::new(false),
            synced: watch::channel(false).0,
            changed: watch::channel(0).0,
            heard: std::sync::Mutex::new(None),
            stale_limit: std::sync::Mutex::new(DEFAULT_STALE_LIMIT),
        }
    }
}

impl Revocations {
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.inner
            .revoked
            .read()
            .is_ok_and(|set| set.contains_key(jti))
    }

    /// False while a follower is attached but has not heard from the feed,
    /// or has not heard from it for longer than its stale limit: the
    /// service cannot tell which sessions have ended.
    pub fn ready(&self) -> bool {
        if !self.inner.followed.load(Ordering::Acquire) {
            return true;
        }
        *self.inner.synced.borrow() && self.age().is_some_and(|age| age <= self.stale_limit())
    }

    /// How long ago the feed last answered.
    pub fn age(&self) -> Option<Duration> {
        self.inner
            .heard
            .lock()
            .ok()
            .and_then(|h| h.map(|at| at.elapsed()))
    }

    fn stale_limit(&self) -> Duration {
        self.inner
            .stale_limit
            .lock()
            .map_or(DEFAULT_STALE_LIMIT, |l| *l)
    }

    /// Waits up to `limit` for [`ready`](Self::ready): a service that just
    /// started answers its first requests once the feed has answered.
    pub async fn wait_ready(&self, limit: Duration) -> bool {
        if self.ready() {
            return true;
        }
        let mut rx = self.inner.synced.subscribe();
        let heard = tokio::time::timeout(limit, rx.wait_for(|synced| *synced))
            .await
            .is_ok_and(|r| r.is_ok());
        // Heard once, but perhaps too long ago.
        heard && self.ready()
    }

    /// Adds a batch and forgets tokens that have expired anyway.
    pub fn apply(&self, batch: &RevocationBatch) {
        let now = Utc::now().timestamp();
        if let Ok(mut set) = self.inner.revoked.write() {
            for t in &batch.revoked {
                set.insert(t.jti.clone(), t.exp);
            }
            // Kept a minute past expiry: verification allows 30 s of leeway.
            set.retain(|_, exp| *exp + 60 > now);
        }
        if !batch.revoked.is_empty() {
            self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
        }
        if let Ok(mut heard) = self.inner.heard.lock() {
            *heard = Some(std::time::Instant::now());
        }
        self.inner.synced.send_replace(true);
    }

    /// Refuses one session here and now, before the feed reports it: the
    /// process that forwarded a logout knows first.
    pub fn revoke_now(&self, jti: &str, exp: i64) {
        if let Ok(mut set) = self.inner.revoked.write() {
            set.insert(jti.to_owned(), exp);
        }
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Resolves when `session` is revoked here (a logout, a deactivation)
    /// or its token expires at `expires_at` (Unix seconds): an open socket
    /// waits on this and is closed with the answer.
    pub async fn ended(&self, session: &str, expires_at: i64) -> SessionEnd {
        let mut changes = self.inner.changed.subscribe();
        let left = u64::try_from(expires_at.saturating_sub(Utc::now().timestamp())).unwrap_or(0);
        let expiry = tokio::time::sleep(Duration::from_secs(left));
        tokio::pin!(expiry);
        loop {
            if self.is_revoked(session) {
                return SessionEnd::Revoked;
            }
            // The feed has been silent past its limit: nobody here can tell
            // whether this session ended, so the socket does not outlive it.
            if !self.ready() {
                return SessionEnd::Unverifiable;
            }
            tokio::select! {
                () = &mut expiry => return SessionEnd::Expired,
                changed = changes.changed() => {
                    if changed.is_err() {
                        // No more changes can come; only expiry is left.
                        (&mut expiry).await;
                        return SessionEnd::Expired;
                    }
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.inner.revoked.read().map_or(0, |s| s.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Polls `fetch(after)` every `every` until `stop`, `after` being the
    /// cursor of the last answer; a failed poll is logged and retried, the
    /// tokens already known stay refused, and after `stale_limit` without
    /// an answer nothing is verified until one comes.
    pub async fn follow<F, Fut>(
        self,
        every: Duration,
        stale_limit: Duration,
        stop: CancellationToken,
        mut fetch: F,
    ) -> anyhow::Result<()>
    where
        F: FnMut(Option<u64>) -> Fut,
        Fut: Future<Output = anyhow::Result<RevocationBatch>>,
    {
        if let Ok(mut limit) = self.inner.stale_limit.lock() {
            *limit = stale_limit;
        }
        self.inner.followed.store(true, Ordering::Release);
        let mut after: Option<u64> = None;
        let mut failing = false;
        loop {
            match fetch(after).await {
                Ok(batch) => {
                    if failing {
                        tracing::info!("revocation feed reachable again");
                        failing = false;
                    }
                    self.apply(&batch);
                    after = Some(batch.cursor);
                }
                Err(e) => {
                    metrics::counter!("auth_revocation_feed_failures_total").increment(1);
                    if !failing {
                        tracing::warn!(error = %e, "cannot read the revocation feed");
                        failing = true;
                    }
                    if !self.ready() {
                        // Open sockets look again: they close (see `ended`).
                        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
                    }
                }
            }
            if let Some(age) = self.age() {
                metrics::gauge!("auth_revocation_feed_age_seconds").set(age.as_secs_f64());
            }
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// [`follow`](Self::follow) over HTTP: `url?since=<RFC 3339>`.
    pub async fn follow_url(
        self,
        url: String,
        every: Duration,
        stale_limit: Duration,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()?;
        self.follow(every, stale_limit, stop, move |after| {
            let mut req = http.get(&url);
            if let Some(after) = after {
                req = req.query(&[("after", after)]);
            }
            async move { Ok(req.send().await?.error_for_status()?.json().await?) }
        })
        .await
    }
}

/// Why an open socket's session is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Logged out, or the account was deactivated.
    Revoked,
    Expired,
    /// The revocation feed has been silent longer than its stale limit:
    /// whether the session ended cannot be told, so it is not trusted.
    Unverifiable,
}

impl SessionEnd {
    /// The WebSocket close code of an ended session: 1008, policy violation
    /// (RFC 6455 §7.4.1).
    pub const CLOSE_CODE: u16 = 1008;
    /// The close code while sessions cannot be verified: 1013, try again
    /// later (the client reconnects once the feed answers again).
    pub const TRY_AGAIN_CODE: u16 = 1013;

    /// The WebSocket close code.
    pub fn code(self) -> u16 {
        match self {
            Self::Revoked | Self::Expired => Self::CLOSE_CODE,
            Self::Unverifiable => Self::TRY_AGAIN_CODE,
        }
    }

    /// The close frame's reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Revoked => "session ended",
            Self::Expired => "token expired",
            Self::Unverifiable => "sessions cannot be verified now",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(revoked: &[(&str, i64)]) -> RevocationBatch {
        RevocationBatch {
            as_of: Utc::now(),
            cursor: 1,
            revoked: revoked
                .iter()
                .map(|(j, e)| RevokedToken {
                    jti: (*j).into(),
                    exp: *e,
                })
                .collect(),
        }
    }

    #[test]
    fn applied_tokens_are_revoked_until_they_expire_anyway() {
        let r = Revocations::default();
        let now = Utc::now().timestamp();
        r.apply(&batch(&[("live", now + 600), ("old", now - 3600)]));
        assert!(r.is_revoked("live"));
        assert!(!r.is_revoked("old"), "an expired token needs no entry");
        assert!(!r.is_revoked("other"));
        // Batches overlap: applying one twice changes nothing.
        r.apply(&batch(&[("live", now + 600)]));
        assert_eq!(r.len(), 1);
    }

    /// A follower (polling every 10 ms, trusting 200 ms of silence) of a
    /// feed that answers its first poll and then fails.
    fn follower_of_a_feed_that_answers_once() -> (
        Revocations,
        CancellationToken,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ) {
        let r = Revocations::default();
        let stop = CancellationToken::new();
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let task = tokio::spawn(r.clone().follow(
            Duration::from_millis(10),
            Duration::from_millis(200),
            stop.clone(),
            move |_| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        Ok(batch(&[]))
                    } else {
                        anyhow::bail!("users is down")
                    }
                }
            },
        ));
        (r, stop, task)
    }

    #[tokio::test]
    async fn a_list_not_heard_from_for_longer_than_its_limit_is_not_trusted() {
        let (r, stop, task) = follower_of_a_feed_that_answers_once();
        assert!(
            r.wait_ready(Duration::from_secs(2)).await,
            "the first answer"
        );
        // The feed has stopped answering: trusted until the limit, then not.
        let started = std::time::Instant::now();
        while r.ready() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "still trusted long after its limit"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(r.age().is_some_and(|age| age > Duration::from_millis(200)));
        assert!(!r.wait_ready(Duration::from_millis(50)).await);
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    /// An open socket waits on `ended`: once the feed has been silent past
    /// its limit, it ends too, rather than outliving a logout nobody heard.
    #[tokio::test]
    async fn a_socket_does_not_outlive_a_silent_feed() {
        let (r, stop, task) = follower_of_a_feed_that_answers_once();
        assert!(r.wait_ready(Duration::from_secs(2)).await);
        let far = Utc::now().timestamp() + 3600;

        let why = tokio::time::timeout(Duration::from_secs(5), r.ended("open", far))
            .await
            .expect("the socket ends once the feed is stale");

        assert_eq!(why, SessionEnd::Unverifiable);
        assert_eq!(why.code(), 1013);
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_session_ends_when_revoked_or_expired() {
        let r = Revocations::default();
        let now = Utc::now().timestamp();
        let waiting = tokio::spawn({
            let r = r.clone();
            async move { r.ended("s1", now + 600).await }
        });
        // Another session's end wakes the waiter, which keeps waiting.
        r.apply(&batch(&[("s2", now + 600)]));
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        r.apply(&batch(&[("s1", now + 600)]));
        assert_eq!(waiting.await.unwrap(), SessionEnd::Revoked);
        r.revoke_now("s3", now + 600);
        assert_eq!(r.ended("s3", now + 600).await, SessionEnd::Revoked);
        assert_eq!(r.ended("s4", now - 1).await, SessionEnd::Expired);
    }

    #[tokio::test]
    async fn a_follower_is_not_ready_until_the_feed_answers_and_keeps_what_it_knew() {
        let r = Revocations::default();
        assert!(r.ready(), "without a follower there is nothing to wait for");
        let stop = CancellationToken::new();
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let now = Utc::now().timestamp();
        let task = tokio::spawn(r.clone().follow(
            Duration::from_millis(10),
            DEFAULT_STALE_LIMIT,
            stop.clone(),
            {
                let (calls, r2) = (calls.clone(), r.clone());
                move |after| {
                    let r2 = r2.clone();
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    async move {
                        match n {
                            0 => anyhow::bail!("users is down"),
                            1 => {
                                assert!(after.is_none());
                                assert!(!r2.ready(), "not ready before the feed has answered");
                                Ok(batch(&[("a", now + 600)]))
                            }
                            _ => {
                                assert_eq!(after, Some(1), "later polls ask from the last cursor");
                                anyhow::bail!("users is down again")
                            }
                        }
                    }
                }
            },
        ));
        while calls.load(Ordering::SeqCst) < 4 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(r.ready());
        assert!(r.is_revoked("a"), "a failing feed forgets nothing");
        stop.cancel();
        task.await.unwrap().unwrap();
    }
}
