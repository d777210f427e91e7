//! Starts the four services, the gateway and the web front in one process,
//! each on its own port with its own database, all stopped by one token.
//! `cargo xtask up` runs it; the test kit (`dev/testkit`) starts it on free
//! ports for the cross-service and browser tests.

pub mod inbox;
pub mod web;

use anyhow::{Context, Result};
use shop_gateway::proxy::Upstream;
use shop_platform::{Service, config::Env};
use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The parts this process runs, each its own `service.name` in traces; the
/// first also owns whatever starts outside every part.
pub const PARTS: [&str; 7] = [
    "gateway",
    "web",
    "users",
    "products",
    "orders",
    "notifications",
    "inbox",
];

struct Running {
    addr: SocketAddr,
    token: CancellationToken,
    handle: JoinHandle<Result<()>>,
}

/// The running platform.
pub struct Stack {
    parts: BTreeMap<&'static str, Running>,
    /// Shown in the banner when the development admin is in use.
    admin_hint: Option<String>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.parts.iter().map(|(k, v)| (k, v.addr)))
            .finish()
    }
}

fn reachable(addr: SocketAddr) -> SocketAddr {
    // A service listening on every interface is reached through loopback.
    if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    }
}

impl Stack {
    /// Builds and starts every part. Ports and databases come from `env`
    /// (`PRODUCTS_PORT`, `USERS_DATABASE_URL`, `GATEWAY_PORT`, `WEB_PORT`, ...).
    pub async fn start(env: &Env) -> Result<Self> {
        let url = |s: &Service| format!("http://{}", reachable(s.local_addr()));
        let users = shop_users::build(shop_users::Config::from_env(env)?)
            .await
            .context("starting the users service")?;
        // Every part verifies tokens with the keys and the revocation feed
        // of this users service.
        let users_url = url(&users);

        let mut products_config = shop_products::Config::from_env(env)?;
        products_config.auth.follow_users(&users_url);
        let products = shop_products::build(products_config)
            .await
            .context("starting the products service")?;

        let mut orders_config = shop_orders::Config::from_env(env)?;
        orders_config.auth.follow_users(&users_url);
        orders_config.products_url = url(&products);
        let mut notifications_config = shop_notifications::Config::from_env(env)?;
        notifications_config.auth.follow_users(&users_url);
        // Without a mail server, mail goes over SMTP to the inbox on :8025.
        let inbox = if env.get("SMTP_URL").is_none() && !env.is_production() {
            let (inbox, smtp_url) = inbox::build(env).await.context("starting the mail inbox")?;
            notifications_config.mail = shop_notifications::config::MailSettings::Smtp(smtp_url);
            Some(inbox)
        } else {
            None
        };
        // In one process the in-process bus must be the same for both ends.
        if let shop_events::EventsSettings::Embedded(_) = &orders_config.events {
            notifications_config.events = orders_config.events.clone();
        }
        let orders = shop_orders::build(orders_config)
            .await
            .context("starting the orders service")?;
        let notifications = shop_notifications::build(notifications_config)
            .await
            .context("starting the notifications service")?;

        let mut gateway_config = shop_gateway::Config::from_env(env)?;
        gateway_config.upstreams = shop_gateway::Upstreams::new(
            &url(&users),
            &url(&products),
            &url(&orders),
            &url(&notifications),
        )?;
        gateway_config.auth.follow_users(&users_url);
        let gateway = shop_gateway::build(gateway_config)
            .await
            .context("starting the gateway")?;
        let web_config = web::Config::from_env(env)?;
        let web = web::build(&web_config, Upstream::new("gateway", &url(&gateway))?)
            .await
            .context("starting the web front")?;

        let admin_hint = (env.get("ADMIN_PASSWORD").is_none() && !env.is_production()).then(|| {
            format!(
                "{} / {} (development default)",
                shop_users::config::DEV_ADMIN_EMAIL,
                shop_users::config::DEV_ADMIN_PASSWORD
            )
        });
        let mut stack = Self {
            parts: BTreeMap::new(),
            admin_hint,
        };
        for service in [users, products, orders, notifications, gateway, web]
            .into_iter()
            .chain(inbox)
        {
            stack.adopt(service);
        }
        Ok(stack)
    }

    /// Runs a bound part under this stack, stopped with the rest.
    pub fn adopt(&mut self, service: Service) {
        let token = CancellationToken::new();
        let addr = reachable(service.local_addr());
        let name = service.name();
        let handle = tokio::spawn(service.run(token.clone()));
        self.parts.insert(
            name,
            Running {
                addr,
                token,
                handle,
            },
        );
    }

    /// `http://127.0.0.1:PORT` of a part: `users`, `products`, `orders`,
    /// `notifications`, `gateway`, `web`, or `inbox` when it runs.
    pub fn url(&self, part: &str) -> Option<String> {
        self.parts.get(part).map(|r| format!("http://{}", r.addr))
    }

    /// Stops one part and waits for it to finish (tests use this to show the
    /// gateway noticing).
    pub async fn stop(&mut self, part: &str) -> Result<()> {
        let running = self
            .parts
            .remove(part)
            .with_context(|| format!("no running part named {part}"))?;
        running.token.cancel();
        running.handle.await.context("part panicked")?
    }

    /// Stops everything: the web front and gateway first, then the services.
    pub async fn shutdown(mut self) -> Result<()> {
        for part in [
            "web",
            "gateway",
            "orders",
            "notifications",
            "inbox",
            "products",
            "users",
        ] {
            if self.parts.contains_key(part)
                && let Err(e) = self.stop(part).await
            {
                tracing::error!(part, error = ?e, "stopped with an error");
            }
        }
        Ok(())
    }

    /// What a person needs to know once it is up.
    pub fn banner(&self) -> String {
        let line = |label: &str, part: &str, extra: &str| {
            self.url(part)
                .map(|u| format!("  {label:<22} {u}{extra}\n"))
                .unwrap_or_default()
        };
        let mut out = String::from("\nShop is running:\n");
        out += &line("web app", "web", "");
        out += &line("API gateway", "gateway", "  (health: /health)");
        out += &line("users service", "users", "");
        out += &line("products service", "products", "");
        out += &line("orders service", "orders", "");
        out += &line("notifications service", "notifications", "");
        out += &line("mail inbox", "inbox", "  (SMTP on INBOX_SMTP_PORT)");
        if let Some(hint) = &self.admin_hint {
            out += &format!("  {:<22} {hint}\n", "admin sign-in");
        }
        out += "Press Ctrl-C to stop.\n";
        out
    }
}

/// Where the built web app lives, relative to the working directory.
pub fn default_dist_dir() -> PathBuf {
    PathBuf::from("web/dist")
}
