//! The WebAssembly pipeline for web/.

use anyhow::Result;
use xshell::Shell;

pub fn ensure_toolchain(_sh: &Shell) -> Result<()> {
    Ok(())
}

pub fn build(_sh: &Shell) -> Result<()> {
    Ok(())
}
