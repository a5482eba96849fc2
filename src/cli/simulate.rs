//! `bccreds simulate-bigcommerce --listen ADDR --fixture FILE`.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on; port 0 picks a free port. The bound address is the first stdout line.
    #[arg(long, default_value = "127.0.0.1:0", env = "BCCREDS_SIMULATOR_LISTEN")]
    listen: String,
    /// YAML fixture of stores, tokens, scopes and faults (see examples/simulator/).
    #[arg(long, env = "BCCREDS_SIMULATOR_FIXTURE")]
    fixture: PathBuf,
}

pub fn run(_args: &SimulateArgs) -> u8 {
    eprintln!("simulate-bigcommerce: not yet available");
    super::EXIT_FAILED
}
