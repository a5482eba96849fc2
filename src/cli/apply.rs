//! `bccreds plan PATH…` and `bccreds apply PATH…`: one reconcile pass over a manifest tree.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::options::{BigCommerceArgs, ManifestArgs, ReconcileArgs, StoreArgs};
use super::{Output, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::reconcile::{plan_report, Reconciler};

#[derive(Debug, Args)]
pub struct PassArgs {
    /// Files and directories of manifests.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "BCCREDS_OUTPUT")]
    pub output: Output,
    #[command(flatten)]
    pub manifests: ManifestArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub bigcommerce: BigCommerceArgs,
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
}

/// Runs `plan` (`execute == false`) or `apply`.
pub fn run(args: &PassArgs, execute: bool) -> u8 {
    if let Some(missing) = args.paths.iter().find(|p| !p.exists()) {
        eprintln!("error: {}: no such file or directory", missing.display());
        return EXIT_USAGE;
    }
    let Some(client) = args.bigcommerce.client() else {
        return EXIT_USAGE;
    };
    let Some(rt) = super::process::runtime() else {
        return EXIT_FAILED;
    };
    let scan = args.manifests.source(&args.paths).scan();
    let result = rt.block_on(async {
        // `plan` only reads: it creates no database, table or key file.
        let store = Arc::new(if execute {
            args.store.connect().await?
        } else {
            args.store.open_existing().await?
        });
        let rec = Reconciler::new(store.clone(), client, args.reconcile.config());
        let report = if execute {
            rec.apply(&scan).await?
        } else {
            plan_report(&rec.plan(&scan).await?)
        };
        store.close().await;
        anyhow::Ok(report)
    });
    match result {
        Ok(report) => {
            // A closed stdout (`| head`) is no reason to fail a pass that ran.
            let _ = super::report::print(&report, &scan.problems, args.output);
            if report.summary.failed == 0 && scan.problems.is_empty() {
                EXIT_OK
            } else {
                EXIT_FAILED
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_FAILED
        }
    }
}
