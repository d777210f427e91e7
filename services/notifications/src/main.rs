//! The notifications service binary: configuration from the environment, then serve.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shop_platform::server::run_standalone(
        shop_notifications::NAME,
        shop_notifications::DEFAULT_PORT,
        |env| async move {
            shop_notifications::build(shop_notifications::Config::from_env(&env)?).await
        },
    )
    .await
}
