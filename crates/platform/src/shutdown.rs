//! Graceful shutdown: one token, cancelled on Ctrl-C or SIGTERM, that every
//! server and background task of a process watches.

use std::sync::atomic::{AtomicBool, Ordering};
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
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        signal().await;
        trigger.cancel();
    });
    token
}
