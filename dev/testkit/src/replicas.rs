//! Several replicas of every service, as a deployment runs them: each
//! replica in a runtime of its own (so it can be killed like a process,
//! every task and connection dropped mid-flight), all replicas of a service
//! behind a round-robin forwarder, sharing PostgreSQL, moto and maildev, with
//! one gateway in front.

use crate::{SERVICES, Shop, database_of, infra_vars, unique_tag};
use anyhow::{Context, Result};
use shop_platform::{Service, config::Env};
use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    thread::JoinHandle,
};
use tokio_util::sync::CancellationToken;

/// One running replica: a thread with its own runtime.
pub struct Replica {
    pub addr: SocketAddr,
    stop: Option<std::sync::mpsc::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl Replica {
    /// Builds the service inside a fresh runtime on its own thread and runs it.
    pub async fn spawn<F, Fut>(name: &str, build: F) -> Result<Self>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Service>>,
    {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<bool>();
        let thread = std::thread::Builder::new()
            .name(format!("replica-{name}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow::Error::from(e)));
                        return;
                    }
                };
                let service = match rt.block_on(build()) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let token = CancellationToken::new();
                let _ = ready_tx.send(Ok(service.local_addr()));
                let running = rt.spawn(service.run(token.clone()));
                // `true`: stop gracefully; `false` or a dropped sender: crash.
                if stop_rx.recv().unwrap_or(false) {
                    token.cancel();
                    let _ = rt.block_on(running);
                } else {
                    rt.shutdown_background();
                }
            })
            .context("spawning a replica thread")?;
        let addr = ready_rx.await.context("the replica thread died")??;
        Ok(Self {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Stops like a killed process: every task and connection is dropped
    /// wherever it was, nothing is cleaned up.
    pub fn kill(&mut self) {
        self.finish(false);
    }

    /// Stops gracefully.
    pub fn stop(&mut self) {
        self.finish(true);
    }

    fn finish(&mut self, graceful: bool) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(graceful);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.finish(true);
    }
}

/// A TCP forwarder handing each new connection to the next replica in turn,
/// skipping replicas that refuse connections (an L4 load balancer).
#[derive(Debug)]
pub struct RoundRobin {
    pub url: String,
    /// Connections handed to each replica.
    pub hits: Arc<Vec<AtomicU64>>,
}

impl RoundRobin {
    pub async fn start(targets: Vec<SocketAddr>) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let hits: Arc<Vec<AtomicU64>> =
            Arc::new(targets.iter().map(|_| AtomicU64::new(0)).collect());
        let next = Arc::new(AtomicUsize::new(0));
        let counts = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (targets, next, counts) = (targets.clone(), next.clone(), counts.clone());
                tokio::spawn(async move {
                    let first = next.fetch_add(1, Ordering::Relaxed);
                    for i in 0..targets.len() {
                        let at = (first + i) % targets.len();
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(targets[at]).await
                        {
                            counts[at].fetch_add(1, Ordering::Relaxed);
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                });
            }
        });
        Ok(Self { url, hits })
    }

    pub fn hits(&self) -> Vec<u64> {
        self.hits
            .iter()
            .map(|h| h.load(Ordering::Relaxed))
            .collect()
    }
}

/// `REPLICAS` replicas of each service on moto and maildev, one gateway.
pub struct Replicated {
    pub replicas: Vec<(&'static str, Vec<Replica>)>,
    pub forwarders: Vec<(&'static str, RoundRobin)>,
    gateway: Option<(
        SocketAddr,
        CancellationToken,
        tokio::task::JoinHandle<Result<()>>,
    )>,
    pub databases: Vec<String>,
    pub client: reqwest::Client,
}

fn server_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    url.rsplit_once('/')
        .map_or(url.clone(), |(server, _)| server.to_owned())
}

impl Replicated {
    /// Starts `n` replicas of each service; `extra` overrides variables.
    pub async fn start(n: usize, extra: &[(&str, &str)]) -> Result<Self> {
        shop_platform::install_crypto_provider();
        let tag = unique_tag();
        let server = server_url();
        let mut vars: Vec<(String, String)> = infra_vars(&tag);
        for (k, v) in [
            ("ADMIN_EMAIL", crate::ADMIN_EMAIL),
            ("ADMIN_PASSWORD", crate::ADMIN_PASSWORD),
            ("SEED_DEMO_CATALOGUE", "false"),
            ("DB_MAX_CONNECTIONS", "4"),
            // Every test client is 127.0.0.1: per-address limits off.
            ("REGISTRATIONS_PER_ADDRESS", "100000"),
            ("LOGIN_FAILURES_PER_ADDRESS", "100000"),
            ("GATEWAY_PORT", "0"),
        ] {
            vars.push((k.into(), v.into()));
        }
        let mut databases = Vec::new();
        for svc in SERVICES {
            let url = format!("{server}/shop_test_{tag}_{svc}");
            vars.push((format!("{}_PORT", svc.to_uppercase()), "0".into()));
            vars.push((format!("{}_DATABASE_URL", svc.to_uppercase()), url.clone()));
            databases.push(url);
        }
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let env = Env::from_pairs(vars)?.shared();
        let mut platform = Self {
            replicas: Vec::new(),
            forwarders: Vec::new(),
            gateway: None,
            databases,
            client: reqwest::Client::new(),
        };

        // Replicas start one after the other: the first users replica
        // creates the signing key.
        let users_rr = platform
            .replicate("users", n, || {
                let config = shop_users::Config::from_env(&env)?;
                Ok(move || shop_users::build(config))
            })
            .await?;
        let products_rr = platform
            .replicate("products", n, || {
                let mut config = shop_products::Config::from_env(&env)?;
                config.auth.follow_users(&users_rr);
                Ok(move || shop_products::build(config))
            })
            .await?;
        let orders_rr = platform
            .replicate("orders", n, || {
                let mut config = shop_orders::Config::from_env(&env)?;
                config.auth.follow_users(&users_rr);
                config.products_url.clone_from(&products_rr);
                Ok(move || shop_orders::build(config))
            })
            .await?;
        let notifications_rr = platform
            .replicate("notifications", n, || {
                let mut config = shop_notifications::Config::from_env(&env)?;
                config.auth.follow_users(&users_rr);
                Ok(move || shop_notifications::build(config))
            })
            .await?;

        let mut gateway_config = shop_gateway::Config::from_env(&env)?;
        gateway_config.upstreams =
            shop_gateway::Upstreams::new(&users_rr, &products_rr, &orders_rr, &notifications_rr)?;
        gateway_config.auth.follow_users(&users_rr);
        let gateway = shop_gateway::build(gateway_config).await?;
        let addr = gateway.local_addr();
        let token = CancellationToken::new();
        let handle = tokio::spawn(gateway.run(token.clone()));
        platform.gateway = Some((addr, token, handle));
        Ok(platform)
    }

    /// Starts `n` replicas of a service, each built by what `make` returns,
    /// behind a forwarder; returns the forwarder's URL.
    async fn replicate<F, Fut>(
        &mut self,
        name: &'static str,
        n: usize,
        make: impl Fn() -> Result<F>,
    ) -> Result<String>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Service>>,
    {
        let mut replicas = Vec::with_capacity(n);
        for i in 0..n {
            replicas.push(Replica::spawn(&format!("{name}-{i}"), make()?).await?);
        }
        let rr = RoundRobin::start(replicas.iter().map(|r| r.addr).collect()).await?;
        let url = rr.url.clone();
        self.replicas.push((name, replicas));
        self.forwarders.push((name, rr));
        Ok(url)
    }

    /// The replicas of one service.
    pub fn replicas_mut(&mut self, service: &str) -> &mut Vec<Replica> {
        &mut self
            .replicas
            .iter_mut()
            .find(|(n, _)| *n == service)
            .expect("a replicated service")
            .1
    }

    /// Connections each replica of `service` was handed.
    pub fn hits(&self, service: &str) -> Vec<u64> {
        self.forwarders
            .iter()
            .find(|(n, _)| *n == service)
            .map(|(_, rr)| rr.hits())
            .unwrap_or_default()
    }

    /// Stops everything and drops the throwaway databases.
    pub async fn finish(mut self) {
        if let Some((_, token, handle)) = self.gateway.take() {
            token.cancel();
            let _ = handle.await;
        }
        let replicas = std::mem::take(&mut self.replicas);
        // Joining replica threads blocks: do it off the runtime.
        let _ = tokio::task::spawn_blocking(move || drop(replicas)).await;
        for url in &self.databases {
            if let Err(e) = shop_platform::db::drop_database(url).await {
                eprintln!("could not drop {url}: {e:#}");
            }
        }
    }
}

impl Shop for Replicated {
    fn gateway(&self) -> String {
        let (addr, _, _) = self.gateway.as_ref().expect("the gateway runs");
        format!("http://{addr}")
    }

    fn client(&self) -> &reqwest::Client {
        &self.client
    }

    fn database_url(&self, service: &str) -> Option<&str> {
        database_of(&self.databases, service)
    }
}
