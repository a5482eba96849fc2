//! `bccreds rekey`: re-encrypt the secrets of this owner's rows with the current APP_KEY.

use crate::cli::out::errln;
use std::io::Write;

use clap::Args;

use super::options::StoreArgs;
use super::{EXIT_FAILED, EXIT_OK};

#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// Owner id whose rows are re-encrypted; rows of other owners and unowned rows are left alone.
    #[arg(long, default_value = "bccreds", env = "BCCREDS_OWNER")]
    owner: String,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: &RekeyArgs) -> u8 {
    let Some(runtime) = super::process::runtime() else {
        return EXIT_FAILED;
    };
    let result = runtime.block_on(async {
        let store = args.store.connect().await?;
        let report = store.rekey(&args.owner).await;
        store.close().await;
        anyhow::Ok(report?)
    });
    match result {
        Ok(report) => {
            for (id, problem) in &report.unreadable {
                errln!("credential {id}: {problem}; left as it was");
            }
            // A closed stdout (`| head`) is no reason to fail a rekey that ran.
            let _ = writeln!(
                std::io::stdout(),
                "{} re-encrypted with the current key, {} already current, {} unreadable; {} secret fingerprints re-keyed",
                report.changed,
                report.current,
                report.unreadable.len(),
                report.fingerprints
            );
            if report.unreadable.is_empty() {
                EXIT_OK
            } else {
                EXIT_FAILED
            }
        }
        Err(e) => super::errors::report(&e),
    }
}
