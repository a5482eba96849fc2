//! `bccreds demo`: the whole flow against the built-in simulator and a temporary store.

use clap::Args;

#[derive(Debug, Args)]
pub struct DemoArgs {}

pub fn run(_args: &DemoArgs) -> u8 {
    eprintln!("bccreds demo: not yet available");
    super::EXIT_OK
}
