//! `bccreds verify PATH…`: verify manifests with BigCommerce now, store nothing. A verify-only
//! pass of the reconciler: the same scan, plan and verification as `apply`, without a store.

use crate::cli::out::{errln, out, outln};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::options::{BigCommerceArgs, ManifestArgs};
use super::{Output, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::model::{ConditionStatus, Reason};
use crate::reconcile::{verify_only, ItemReport};
use crate::verify::VerifiedStore;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Files and directories of manifests.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "BCCREDS_OUTPUT")]
    output: Output,
    /// Verifications running at once.
    #[arg(long, default_value_t = 8, env = "BCCREDS_CONCURRENCY")]
    concurrency: usize,
    #[command(flatten)]
    manifests: ManifestArgs,
    #[command(flatten)]
    bigcommerce: BigCommerceArgs,
}

/// What came of one credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    /// BigCommerce accepted it.
    Verified,
    /// Invalid, or BigCommerce did not accept it (or could not be asked).
    Failed,
    /// Nothing to verify without a store: the manifest keeps the stored token.
    Skipped,
}

/// One credential's result, as `--output json` prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    namespace: String,
    name: String,
    label: String,
    store_hash: String,
    result: Verdict,
    verified: bool,
    reason: Reason,
    status: ConditionStatus,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    store: Option<VerifiedStore>,
}

#[derive(Debug, Default, Serialize)]
struct Summary {
    verified: usize,
    failed: usize,
    skipped: usize,
}

/// The verify result of a pass item. Invalid manifests are failures with their reason (and
/// also reported as diagnostics, as `validate` reports them); they are never sent anywhere.
fn item(report: &ItemReport) -> Item {
    let mut item = Item {
        namespace: report.key.namespace.clone(),
        name: report.key.name.clone(),
        label: report.label.clone(),
        store_hash: String::new(),
        result: Verdict::Failed,
        verified: false,
        reason: report.reason,
        status: ConditionStatus::Unknown,
        message: report.message.clone(),
        store: None,
    };
    match &report.verification {
        Some(v) => {
            item.store_hash = v.store_hash.clone();
            item.verified = v.status == ConditionStatus::True;
            item.result = if item.verified {
                Verdict::Verified
            } else {
                Verdict::Failed
            };
            item.status = v.status;
            item.message = v.message.clone();
            item.store = v.store.clone();
        }
        None if !report.failed() => item.result = Verdict::Skipped,
        None => item.status = ConditionStatus::False,
    }
    item
}

/// One item's text line: `ok   Verified: shop/prod (Prod): verified with …`, `FAIL …`, `skip …`.
fn line(item: &Item) -> String {
    let mark = match item.result {
        Verdict::Verified => "ok  ",
        Verdict::Failed => "FAIL",
        Verdict::Skipped => "skip",
    };
    // Names, labels and messages quote manifests and BigCommerce: escaped.
    let safe = crate::redact::escape_controls;
    let label = if item.label.is_empty() {
        String::new()
    } else {
        format!(" ({})", safe(&item.label))
    };
    format!(
        "{mark} {}: {}/{}{label}: {}",
        item.reason,
        safe(&item.namespace),
        safe(&item.name),
        safe(&item.message)
    )
}

pub fn run(args: &VerifyArgs) -> u8 {
    if let Some(missing) = args.paths.iter().find(|p| !p.exists()) {
        errln!("error: {}: no such file or directory", missing.display());
        return EXIT_USAGE;
    }
    let Some(client) = args.bigcommerce.client() else {
        return EXIT_USAGE;
    };
    let scan = args.manifests.source(&args.paths).scan();
    // Invalid manifests are reported as validate does and never sent anywhere.
    scan.problems.iter().for_each(|d| errln!("{d}"));
    let Some(runtime) = super::process::runtime() else {
        return EXIT_FAILED;
    };
    let report = runtime.block_on(verify_only(&*client, &scan, args.concurrency.max(1)));
    let items: Vec<Item> = report.items.iter().map(item).collect();
    let mut summary = Summary::default();
    for item in &items {
        *match item.result {
            Verdict::Verified => &mut summary.verified,
            Verdict::Failed => &mut summary.failed,
            Verdict::Skipped => &mut summary.skipped,
        } += 1;
    }
    match args.output {
        Output::Json | Output::Yaml => {
            let doc = serde_json::json!({ "items": items, "summary": summary });
            if let Some(Ok(text)) = args.output.document(&doc) {
                out!("{text}");
            }
        }
        Output::Text => {
            for item in &items {
                outln!("{}", line(item));
            }
            outln!(
                "{} verified, {} failed, {} skipped",
                summary.verified,
                summary.failed,
                summary.skipped
            );
        }
    }
    let failed = summary.failed;
    if failed == 0 && scan.problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}
