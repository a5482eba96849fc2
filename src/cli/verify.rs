//! `bccreds verify PATH…`: verify manifests with BigCommerce now, store nothing.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use serde::Serialize;
use tokio::sync::Semaphore;

use super::options::{BigCommerceArgs, ManifestArgs};
use super::{Output, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::api_url;
use crate::manifest::{FileSecrets, DEFAULT_NAMESPACE};
use crate::validate::{validate_paths, ValidCredential};
use crate::verify::{BigCommerceClient, Outcome, Verifier, VerifyRequest};

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
    reason: String,
    status: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    store: Option<crate::verify::VerifiedStore>,
}

#[derive(Debug, Serialize)]
struct Summary {
    verified: usize,
    failed: usize,
}

pub fn run(args: &VerifyArgs) -> u8 {
    let Some(client) = args.bigcommerce.client() else {
        return EXIT_USAGE;
    };
    let report = match validate_paths(&args.paths, &args.manifests.validate_options(false)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    // Invalid manifests are reported as validate does and never sent anywhere.
    report.diagnostics.iter().for_each(|d| eprintln!("{d}"));
    let secrets = FileSecrets::new(&report.secrets, args.manifests.secrets_dir.as_deref());
    let mut jobs = Vec::new();
    for cred in &report.credentials {
        jobs.push(prepare(cred, &secrets, &args.manifests.allowed_hosts));
    }
    let Some(runtime) = super::process::runtime() else {
        return EXIT_FAILED;
    };
    let items = runtime.block_on(verify_all(client, jobs, args.concurrency.max(1)));
    let failed = items.iter().filter(|i| !i.verified).count();
    let summary = Summary {
        verified: items.len() - failed,
        failed,
    };
    match args.output {
        Output::Json => {
            let doc = serde_json::json!({ "items": items, "summary": summary });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Output::Text => {
            for item in &items {
                let mark = if item.verified { "ok  " } else { "FAIL" };
                println!("{mark} {}: {}", item.reason, item.message);
            }
            println!("{} verified, {} failed", summary.verified, summary.failed);
        }
    }
    if failed == 0 && report.is_valid() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// A credential ready to verify, or the reason it cannot be.
struct Job {
    item: Item,
    request: Option<VerifyRequest>,
}

fn prepare(cred: &ValidCredential, secrets: &FileSecrets<'_>, allowed_hosts: &[String]) -> Job {
    let (namespace, name) = cred.key();
    let spec = &cred.resource.spec;
    let mut item = Item {
        namespace: namespace.clone(),
        name: name.clone(),
        label: spec.label.clone(),
        store_hash: String::new(),
        verified: false,
        reason: String::new(),
        status: "False",
        message: String::new(),
        store: None,
    };
    let id = format!("{namespace}/{name}");
    let fail = |mut item: Item, reason: &str, message: String| {
        item.reason = reason.to_string();
        item.message = format!("{id}: {message}");
        Job {
            item,
            request: None,
        }
    };
    // validate_paths has checked the URL already; this is the guard right before the network.
    let url = match api_url::normalize(&spec.api_url, allowed_hosts) {
        Ok(u) => u,
        Err(e) => return fail(item, "InvalidSpec", format!("apiUrl {e}")),
    };
    item.store_hash = url.store_hash.clone();
    let Some(source) = &spec.access_token else {
        return fail(
            item,
            "SecretMissing",
            "no accessToken: there is nothing to verify with".into(),
        );
    };
    let ns = cred
        .resource
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(DEFAULT_NAMESPACE);
    let token = match secrets.resolve(source, ns) {
        Ok(t) if t.is_keep_current() => {
            return fail(
                item,
                "SecretMissing",
                "accessToken is `**********` (keep current): there is nothing to verify with"
                    .into(),
            )
        }
        Ok(t) => t,
        Err(e) => return fail(item, "SecretMissing", format!("accessToken: {e}")),
    };
    Job {
        item,
        request: Some(VerifyRequest {
            store_hash: url.store_hash,
            token,
            locale_mapping: spec.locale_mapping.clone(),
            currency_mapping: spec.currency_mapping.clone(),
        }),
    }
}

async fn verify_all(
    client: Arc<BigCommerceClient>,
    jobs: Vec<Job>,
    concurrency: usize,
) -> Vec<Item> {
    let limit = Arc::new(Semaphore::new(concurrency));
    let mut handles = Vec::new();
    for job in jobs {
        let client = client.clone();
        let limit = limit.clone();
        handles.push(tokio::spawn(async move {
            let Job { mut item, request } = job;
            let Some(request) = request else {
                return item;
            };
            // Invariant: the semaphore is never closed.
            let _permit = limit.acquire().await;
            let outcome = client.verify(&request).await;
            fill(&mut item, &outcome);
            item
        }));
    }
    let mut items = Vec::new();
    for handle in handles {
        match handle.await {
            Ok(item) => items.push(item),
            Err(e) => tracing::error!("a verification task failed: {e}"),
        }
    }
    items
}

fn fill(item: &mut Item, outcome: &Outcome) {
    let id = format!("{}/{}", item.namespace, item.name);
    item.verified = outcome.is_verified();
    item.reason = outcome.reason().to_string();
    item.status = outcome.status().as_str();
    item.message = outcome.message(&id, &item.store_hash);
    item.store = outcome.store().cloned();
}
