//! `bccreds plan PATH…` and `bccreds apply PATH…`: one reconcile pass over a manifest tree.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::options::{BigCommerceArgs, ManifestArgs, ReconcileArgs, StoreArgs};
use super::{Output, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::reconcile::{plan_report, PassReport, Reconciler, Scan};
use crate::source::files;

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

/// Prints a report; the summary line is the one scripts grep for.
pub fn print_report(report: &PassReport, scan: &Scan, output: Output) {
    for problem in &scan.problems {
        eprintln!("{problem}");
    }
    match output {
        Output::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(report).unwrap_or_default()
            );
        }
        Output::Text => {
            for item in &report.items {
                println!(
                    "{:<9} {}/{} ({}): {}",
                    item.action, item.namespace, item.name, item.label, item.message
                );
            }
            let s = &report.summary;
            println!(
                "{} created, {} updated, {} deleted, {} unchanged, {} failed",
                s.created, s.updated, s.deleted, s.unchanged, s.failed
            );
        }
    }
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
    let opts = args.manifests.validate_options(false);
    let scan = files::scan(&args.paths, &opts, args.manifests.secrets_dir.as_deref());
    let result = rt.block_on(async {
        let store = Arc::new(args.store.connect().await?);
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
            print_report(&report, &scan, args.output);
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
