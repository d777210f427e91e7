//! `cargo xtask up` runs the whole platform; `cargo xtask test` installs and
//! starts what the tests need, then runs every check.

mod web;

use anyhow::Result;
use std::path::PathBuf;
use xshell::Shell;

fn main() -> Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("web") => {
            web::ensure_toolchain(&sh)?;
            web::build(&sh)
        }
        _ => {
            eprintln!("usage: cargo xtask <up|test|web>");
            std::process::exit(2);
        }
    }
}

/// The workspace root (the parent of this crate's folder).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the root")
        .to_path_buf()
}
