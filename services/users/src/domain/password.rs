//! Argon2id password hashes, computed off the async threads, at most one per
//! core at a time: each takes 19 MiB and a core's worth of work, so a burst
//! of logins waits its turn instead of growing the process by gigabytes.

use anyhow::{Context, Result};
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use std::sync::{
    Arc, LazyLock,
    atomic::{AtomicUsize, Ordering},
};
use tokio::sync::Semaphore;

static CORES: LazyLock<usize> =
    LazyLock::new(|| std::thread::available_parallelism().map_or(1, usize::from));
/// One permit per core.
static HASHING: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(*CORES)));
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// How many hashes may run at once (the number of cores).
pub fn max_concurrent() -> usize {
    *CORES
}

/// The most hashes that ever ran at once in this process.
pub fn peak_concurrent() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Runs `work` on a blocking thread once a core is free. The permit travels
/// with the work, so a request that gives up does not free a core that is
/// still busy.
async fn on_a_free_core<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let permit = HASHING
        .clone()
        .acquire_owned()
        .await
        .context("the hashing semaphore closed")?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(now, Ordering::SeqCst);
        let out = work();
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        out
    })
    .await
    .context("hashing task")
}

pub async fn hash(password: String) -> Result<String> {
    on_a_free_core(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    })
    .await?
}

/// A hash of a random password, verified against when the email is unknown so
/// that "no such user" takes as long as "wrong password".
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2hvcC1kdW1teS1zYWx0$5hXvbn2vbHlkZNf6pHbDHuv0v5bJEDvDH1kqcF0u8v0";

pub async fn verify(password: String, stored: Option<String>) -> Result<bool> {
    on_a_free_core(move || {
        let (hash, real) = match &stored {
            Some(h) => (h.as_str(), true),
            None => (DUMMY_HASH, false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return Ok(false);
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && real)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify("correct horse".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse".into(), Some(h)).await.unwrap());
    }

    #[test]
    fn the_dummy_hash_parses_so_unknown_emails_cost_a_full_verification() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_logins_hashes_at_most_one_per_core_at_a_time() {
        let burst = (0..12).map(|_| verify("guess".into(), None));
        let results = futures::future::join_all(burst).await;

        assert!(results.iter().all(|r| matches!(r, Ok(false))));
        assert!(peak_concurrent() >= 1);
        assert!(
            peak_concurrent() <= max_concurrent(),
            "{} hashes ran at once on {} cores",
            peak_concurrent(),
            max_concurrent()
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        assert!(!verify("anything".into(), None).await.unwrap());
    }
}
