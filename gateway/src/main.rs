//! The gateway binary: configuration from the environment, then serve.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shop_platform::server::run_standalone(
        "gateway",
        shop_gateway::config::DEFAULT_PORT,
        |env| async move { shop_gateway::build(shop_gateway::Config::from_env(&env)?).await },
    )
    .await
}
