//! The users service binary: configuration from the environment, then serve.

/// Each password hash allocates 19 MiB. With glibc's allocator, whose mmap
/// threshold rises after the first such block is freed, a burst of logins
/// left the process hundreds of megabytes larger for good; mimalloc hands
/// large blocks back to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shop_platform::server::run_standalone(
        shop_users::NAME,
        shop_users::DEFAULT_PORT,
        |env| async move { shop_users::build(shop_users::Config::from_env(&env)?).await },
    )
    .await
}
