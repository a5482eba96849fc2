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

/// One credential's result, as `--output json` prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    namespace: String,
    name: String,
    label: String,
    store_hash: String,
    verified: bool,
    reason: Reason,
    status: ConditionStatus,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    store: Option<VerifiedStore>,
}

#[derive(Debug, Serialize)]
struct Summary {
    verified: usize,
    failed: usize,
}

/// The verify result of a pass item; `None` for invalid manifests, which are reported as
/// diagnostics (as `validate` reports them) and never sent anywhere.
fn item(report: &ItemReport) -> Option<Item> {
    let mut item = Item {
        namespace: report.namespace.clone(),
        name: report.name.clone(),
        label: report.label.clone(),
        store_hash: String::new(),
        verified: false,
        reason: report.reason,
        status: ConditionStatus::Unknown,
        message: String::new(),
        store: None,
    };
    match &report.verification {
        Some(v) => {
            item.store_hash = v.store_hash.clone();
            item.verified = v.status == ConditionStatus::True;
            item.status = v.status;
            item.message = v.message.clone();
            item.store = v.store.clone();
        }
        None if report.reason == Reason::SecretNotFound => {
            item.message = format!("{}/{}: {}", report.namespace, report.name, report.message);
        }
        None => return None,
    }
    Some(item)
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
    let items: Vec<Item> = report.items.iter().filter_map(item).collect();
    let failed = items.iter().filter(|i| !i.verified).count();
    let summary = Summary {
        verified: items.len() - failed,
        failed,
    };
    match args.output {
        Output::Json | Output::Yaml => {
            let doc = serde_json::json!({ "items": items, "summary": summary });
            if let Some(Ok(text)) = args.output.document(&doc) {
                out!("{text}");
            }
        }
        Output::Text => {
            for item in &items {
                let mark = if item.verified { "ok  " } else { "FAIL" };
                // Messages quote what BigCommerce answered (a store's name): escaped.
                outln!(
                    "{mark} {}: {}",
                    item.reason,
                    crate::redact::escape_controls(&item.message)
                );
            }
            outln!("{} verified, {} failed", summary.verified, summary.failed);
        }
    }
    if failed == 0 && scan.problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}
