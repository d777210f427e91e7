//! A bound, ready-to-run service: its listener, its router wrapped in the
//! standard layers, and its background tasks, all stopped by one token.
//! Port 0 binds a free port, which is how tests run many services side by side.

use crate::{
    config::{Env, LogSettings, ServiceSettings},
    conn::{self, ConnectionLimits},
    shutdown, telemetry,
};
use anyhow::{Context, Result};
use axum::Router;
use futures::future::BoxFuture;
use std::{
    future::Future,
    net::{IpAddr, SocketAddr},
    time::Duration,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

type Task = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, Result<()>> + Send>;

pub struct Service {
    name: &'static str,
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tasks: Vec<(&'static str, Task)>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.name)
            .field("addr", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

pub async fn bind(host: IpAddr, port: u16) -> Result<TcpListener> {
    let addr = SocketAddr::new(host, port);
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (is another process using the port?)"))
}

impl Service {
    /// Binds the service's address and wraps `router` in the standard layers.
    pub async fn bind(settings: &ServiceSettings, router: Router) -> Result<Self> {
        Self::bind_addr(
            settings.name,
            settings.host,
            settings.port,
            settings.request_timeout,
            router,
        )
        .await
    }

    pub async fn bind_addr(
        name: &'static str,
        host: IpAddr,
        port: u16,
        request_timeout: Duration,
        router: Router,
    ) -> Result<Self> {
        let listener = bind(host, port).await?;
        Ok(Self {
            name,
            listener,
            router: telemetry::http_layers(router, name, request_timeout),
            limits: ConnectionLimits::default(),
            // Histogram samples are folded in between scrapes.
            tasks: vec![(
                "metrics upkeep",
                Box::new(|token| Box::pin(crate::metrics::upkeep(token))),
            )],
        })
    }

    /// Bounds on connections and request heads (see [`crate::conn`]).
    pub fn with_limits(mut self, limits: ConnectionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds a background task (a consumer, a relay) that must stop with the service.
    pub fn with_task<F, Fut>(mut self, name: &'static str, task: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.tasks
            .push((name, Box::new(move |token| Box::pin(task(token)))));
        self
    }

    /// Reports the pool's idle and used connections on `/metrics`.
    #[cfg(feature = "database")]
    pub fn with_pool_metrics(self, pool: sqlx::PgPool) -> Self {
        let name = self.name;
        self.with_task("pool metrics", move |token| {
            crate::metrics::watch_pool(name, pool, token)
        })
    }

    /// Prunes `rules` on the schedule of `settings` (see `crate::retention`).
    #[cfg(feature = "database")]
    pub fn with_retention(
        self,
        pool: sqlx::PgPool,
        rules: &'static [crate::retention::Rule],
        settings: crate::retention::RetentionSettings,
    ) -> Self {
        self.with_task("retention", move |token| {
            crate::retention::run(pool, rules, settings, token)
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until `shutdown` is cancelled, lets in-flight requests finish,
    /// then waits for the background tasks to stop.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let addr = self.local_addr();
        let name = self.name;
        let handles: Vec<_> = self
            .tasks
            .into_iter()
            .map(|(task_name, task)| {
                let fut = task(shutdown.child_token());
                (task_name, tokio::spawn(fut))
            })
            .collect();
        tracing::info!(service = name, %addr, "listening");
        conn::serve(
            name,
            self.listener,
            self.router,
            self.limits,
            shutdown.clone(),
        )
        .await;
        // If the server died on its own, stop the tasks too.
        shutdown.cancel();
        for (task_name, handle) in handles {
            match handle.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(service = name, task = task_name, error = ?e, "task failed")
                }
                Err(e) => {
                    tracing::error!(service = name, task = task_name, error = %e, "task panicked")
                }
            }
        }
        tracing::info!(service = name, "stopped");
        Ok(())
    }
}

/// The whole `main` of a service binary: configuration from the process
/// environment, telemetry, build, serve until Ctrl-C or SIGTERM.
///
/// `<binary> health` is the container's health check instead: it asks the
/// running process's own `/health/ready` (on `{NAME}_PORT`, else `PORT`,
/// else `default_port`, as the service itself reads it) and exits 0 when it answers 200, else 1. A
/// container image then needs no shell, curl or wget.
pub async fn run_standalone<F, Fut>(name: &'static str, default_port: u16, build: F) -> Result<()>
where
    F: FnOnce(Env) -> Fut,
    Fut: Future<Output = Result<Service>>,
{
    crate::install_crypto_provider();
    let env = Env::from_process()?;
    if std::env::args().nth(1).as_deref() == Some("health") {
        let port = env
            .service_var(name, "PORT")
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(default_port);
        let host = env
            .service_var(name, "HOST")
            .or_else(|| env.get("HOST"))
            .and_then(|h| h.parse::<IpAddr>().ok())
            .filter(|ip| !ip.is_unspecified())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let ready = tokio::task::spawn_blocking(move || ready_at(SocketAddr::new(host, port)))
            .await
            .unwrap_or(false);
        std::process::exit(if ready { 0 } else { 1 });
    }
    let _log = telemetry::init(&LogSettings::from_env(&env)?, &[name]);
    // Seconds between the stop signal and closing the listener, while
    // `/health/ready` answers 503.
    let delay = Duration::from_secs(env.parse_or("SHUTDOWN_DELAY_SECS", 0u64)?);
    let limits = ConnectionLimits::from_env(&env)?;
    let service = match build(env).await {
        Ok(s) => s.with_limits(limits),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "start-up failed");
            return Err(e);
        }
    };
    service
        .run(shutdown::token_after(shutdown::signal(), delay))
        .await
}

/// True when `GET /health/ready` at `addr` answers 200 within 3 seconds.
fn ready_at(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let limit = Duration::from_secs(3);
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, limit) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(limit));
    let _ = stream.set_write_timeout(Some(limit));
    let request = format!("GET /health/ready HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}
