//! The products service binary: configuration from the environment, then serve.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shop_platform::server::run_standalone(
        shop_products::NAME,
        shop_products::DEFAULT_PORT,
        |env| async move { shop_products::build(shop_products::Config::from_env(&env)?).await },
    )
    .await
}
