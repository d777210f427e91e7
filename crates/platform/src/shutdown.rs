//! Graceful shutdown: one token, cancelled on Ctrl-C or SIGTERM, that every
//! server and background task of a process watches.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};
use tokio_util::sync::CancellationToken;

/// Set once the process has been asked to stop: from then on
/// `/health/ready` answers 503, so a load balancer (a Kubernetes Service)
/// stops sending new requests while the in-flight ones finish.
static DRAINING: AtomicBool = AtomicBool::new(false);

/// True once Ctrl-C or SIGTERM has arrived.
pub fn draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    DRAINING.store(true, Ordering::Relaxed);
    tracing::info!("shutdown requested");
}

/// A token that is cancelled when the process is asked to stop.
pub fn token_on_signal() -> CancellationToken {
    token_after(signal(), Duration::ZERO)
}

/// A token cancelled `delay` after `stop` resolves. From `stop` on,
/// [`draining`] is true, so `/health/ready` answers 503 while the server
/// still serves: a load balancer that polls readiness takes the process
/// out before it stops accepting (`SHUTDOWN_DELAY_SECS`; 0 where, as in
/// Kubernetes, a `preStop` hook has already done that).
pub fn token_after(
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    delay: Duration,
) -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        stop.await;
        DRAINING.store(true, Ordering::Relaxed);
        if !delay.is_zero() {
            tracing::info!(delay_secs = delay.as_secs_f32(), "draining before shutdown");
            tokio::time::sleep(delay).await;
        }
        trigger.cancel();
    });
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readiness_fails_for_the_whole_delay_before_the_server_stops() {
        let delay = Duration::from_millis(300);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let token = token_after(
            async {
                let _ = rx.await;
            },
            delay,
        );
        tokio::task::yield_now().await;
        assert!(!draining() && !token.is_cancelled());
        let asked = std::time::Instant::now();
        tx.send(()).unwrap();
        while !draining() {
            tokio::task::yield_now().await;
        }
        assert!(
            !token.is_cancelled(),
            "the server still serves while ready answers 503"
        );
        tokio::time::timeout(Duration::from_secs(10), token.cancelled())
            .await
            .expect("the server stops after the delay");
        assert!(
            asked.elapsed() >= delay,
            "stopped {:?} after the signal",
            asked.elapsed()
        );
    }
}
