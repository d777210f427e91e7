//! For tests: starts the real platform on free ports with throwaway
//! databases, and drops those databases afterwards.

use crate::Stack;
use shop_platform::config::Env;

pub const SERVICES: [&str; 4] = ["users", "products", "orders", "notifications"];

/// A running platform owned by one test.
pub struct TestStack {
    pub stack: Stack,
    databases: Vec<String>,
    pub client: reqwest::Client,
}

/// The PostgreSQL server the tests use: `DATABASE_URL` without its database.
fn server_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    match url.rsplit_once('/') {
        Some((server, _)) => server.to_owned(),
        None => url,
    }
}

impl TestStack {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Extra variables override the defaults (e.g. `AWS_ENDPOINT_URL`).
    pub async fn start_with(extra: &[(&str, &str)]) -> Self {
        shop_platform::install_crypto_provider();
        let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        let server = server_url();
        let mut vars: Vec<(String, String)> = vec![
            ("GATEWAY_PORT".into(), "0".into()),
            ("WEB_PORT".into(), "0".into()),
        ];
        let mut databases = Vec::new();
        for svc in SERVICES {
            let upper = svc.to_uppercase();
            let url = format!("{server}/shop_test_{tag}_{svc}");
            vars.push((format!("{upper}_PORT"), "0".into()));
            vars.push((format!("{upper}_DATABASE_URL"), url.clone()));
            databases.push(url);
        }
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let env = Env::from_pairs(vars)
            .expect("valid test configuration")
            .shared();
        let stack = Stack::start(&env).await.expect("the platform starts");
        Self {
            stack,
            databases,
            client: reqwest::Client::new(),
        }
    }

    pub fn gateway(&self) -> String {
        self.stack.url("gateway").expect("gateway is running")
    }

    pub async fn get_json(&self, url: &str) -> (u16, serde_json::Value) {
        let resp = self.client.get(url).send().await.expect("request sent");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("a JSON body"))
    }

    /// Stops everything and drops the throwaway databases.
    pub async fn finish(self) {
        self.stack.shutdown().await.expect("clean shutdown");
        for url in &self.databases {
            if let Err(e) = shop_platform::db::drop_database(url).await {
                eprintln!("could not drop {url}: {e:#}");
            }
        }
    }
}
