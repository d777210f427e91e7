//! `shop`: the whole platform in one process, on embedded defaults.

/// Password hashes allocate 19 MiB each; see the users service's binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use shop_platform::{
    config::{Env, LogSettings},
    shutdown, telemetry,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shop_platform::install_crypto_provider();
    let env = Env::from_process()?.shared();
    let _log = telemetry::init(&LogSettings::from_env(&env)?, &shop_stack::PARTS);
    let stack = match shop_stack::Stack::start(&env).await {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("shop: cannot start: {e:#}");
            // What was logged while starting is written out first.
            drop(_log);
            std::process::exit(1);
        }
    };
    println!("{}", stack.banner());
    shutdown::signal().await;
    stack.shutdown().await
}
