//! The orders service binary: configuration from the environment, then serve.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shop_platform::server::run_standalone(
        shop_orders::NAME,
        shop_orders::DEFAULT_PORT,
        |env| async move { shop_orders::build(shop_orders::Config::from_env(&env)?).await },
    )
    .await
}
