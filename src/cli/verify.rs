//! `bccreds verify PATH…`.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Files and directories of manifests.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub fn run(_args: &VerifyArgs) -> u8 {
    eprintln!("verify: not yet available");
    super::EXIT_FAILED
}
