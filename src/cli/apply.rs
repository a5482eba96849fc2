//! `bccreds plan PATH…` and `bccreds apply PATH…`: one reconcile pass over a manifest tree.

use crate::cli::out::errln;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::options::{BigCommerceArgs, ManifestArgs, ReconcileArgs, StoreArgs};
use super::{Output, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::diagnostic::Diagnostic;
use std::io::Write;

use crate::reconcile::{plan_diff_report, plan_report, Action, Coverage, Reconciler, Scan};

#[derive(Debug, Args)]
pub struct PassArgs {
    /// Files and directories of manifests.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "BCCREDS_OUTPUT")]
    pub output: Output,
    /// Also list unchanged credentials (text output; the summary always counts them).
    #[arg(short, long)]
    pub verbose: bool,
    #[command(flatten)]
    pub manifests: ManifestArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub bigcommerce: BigCommerceArgs,
    /// `plan` only: exit 0 when nothing would change, 2 when changes are pending, 1 on errors
    /// (as `terraform plan -detailed-exitcode`), for drift checks in CI.
    #[arg(long)]
    pub exit_code: bool,
    /// `plan` only: show the fields each credential would change; secrets only as `(changed)`.
    #[arg(long)]
    pub diff: bool,
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
}

/// Exit code of `plan --exit-code` when changes are pending.
const EXIT_CHANGES: u8 = 2;

/// What a scan reports when the paths hold no manifest file at all (`src/source/tree.rs`).
const NO_MANIFESTS: &str = "no *.yaml or *.yml files found";

/// Whether `problem` only says that the tree is empty: with `--allow-empty` that is what was
/// asked for, not an error. Any other problem (an unreadable directory, a broken Secret
/// document) still fails the pass.
fn is_empty_tree_notice(scan: &Scan, problem: &Diagnostic) -> bool {
    scan.entries.is_empty()
        && scan.coverage == Coverage::Complete
        && problem.message == NO_MANIFESTS
}

/// Runs `plan` (`execute == false`) or `apply`.
pub fn run(args: &PassArgs, execute: bool) -> u8 {
    if let Some(missing) = args.paths.iter().find(|p| !p.exists()) {
        errln!("error: {}: no such file or directory", missing.display());
        return EXIT_USAGE;
    }
    if execute && (args.exit_code || args.diff) {
        errln!("error: --exit-code and --diff are options of `bccreds plan`");
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
        let rec = Reconciler::new(store.clone(), client, args.reconcile.config()).one_shot();
        let report = if execute {
            rec.apply(&scan).await?
        } else if args.diff {
            plan_diff_report(&rec.plan(&scan).await?)
        } else {
            plan_report(&rec.plan(&scan).await?)
        };
        store.close().await;
        // `rec` is dropped here, not left to the exit: it holds the store's APP_KEY, which is
        // zeroed only on drop (BENCHMARKS.md: tens of milliseconds at most at 10,000).
        anyhow::Ok(report)
    });
    let code = match result {
        Ok(report) => {
            let deletes = report
                .items
                .iter()
                .filter(|i| matches!(i.action, Action::Delete | Action::Orphan))
                .count();
            if !execute && deletes > 0 && args.output == Output::Text {
                let noun = if deletes == 1 {
                    "credential"
                } else {
                    "credentials"
                };
                // Before any Delete line, so that nobody applies a plan without seeing it.
                let _ = writeln!(
                    std::io::stdout(),
                    "warning: {deletes} {noun} would be deleted or orphaned"
                );
            }
            // A closed stdout (`| head`) is no reason to fail a pass that ran.
            let _ = super::report::print(&report, &scan.problems, args.output, args.verbose);
            let failing = scan
                .problems
                .iter()
                .filter(|p| !(args.reconcile.allow_empty && is_empty_tree_notice(&scan, p)))
                .count();
            let changes = report.items.iter().any(|i| {
                matches!(
                    i.action,
                    Action::Create
                        | Action::Update
                        | Action::Adopt
                        | Action::Delete
                        | Action::Orphan
                )
            });
            let code = if report.summary.failed > 0 || failing > 0 {
                EXIT_FAILED
            } else if !execute && args.exit_code && changes {
                EXIT_CHANGES
            } else {
                EXIT_OK
            };
            // The exit reclaims the report faster than freeing its items one by one; it holds
            // names, reasons and messages, never a secret (`tests/secrets_zeroized.rs` counts).
            std::mem::forget(report);
            code
        }
        Err(e) => super::errors::report(&e),
    };
    // The scan holds every resolved token: dropping it zeroes them before the process exits.
    drop(scan);
    code
}
