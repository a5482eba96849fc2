//! `bccreds validate PATH…`.

use crate::cli::out::{errln, out, outln};
use std::path::PathBuf;

use clap::Args;

use super::options::ManifestArgs;
use super::{Output, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::source::FileSource;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files and directories; directories are searched recursively for *.yaml and *.yml.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "BCCREDS_OUTPUT")]
    output: Output,
    /// Secrets live in the cluster: skip resolving secretKeyRefs in the tree, refuse file/env refs.
    #[arg(long, env = "BCCREDS_KUBERNETES")]
    kubernetes: bool,
    #[command(flatten)]
    manifests: ManifestArgs,
    /// Also print notes, such as documents of other kinds that were skipped.
    #[arg(short, long)]
    verbose: bool,
}

pub fn run(args: &ValidateArgs) -> u8 {
    // Only the tree is read: validation resolves no secret, so no variable or secret file is.
    let mut source = FileSource::new(
        args.paths.clone(),
        args.manifests.validate_options(args.kubernetes),
    );
    let report = match source.read() {
        Ok(r) => r,
        Err(e) => {
            errln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    match args.output.document(&report.diagnostics) {
        Some(Ok(doc)) => out!("{doc}"),
        Some(Err(e)) => {
            errln!("error: {e}");
            return EXIT_FAILED;
        }
        None => report.diagnostics.iter().for_each(|d| outln!("{d}")),
    }
    if args.verbose {
        report.notes.iter().for_each(|n| errln!("note: {n}"));
    }
    let summary = summary(&report);
    if report.is_valid() {
        errln!("valid: {summary}");
        EXIT_OK
    } else {
        errln!(
            "invalid: {} in {summary}",
            count(report.diagnostics.len(), "problem", "problems")
        );
        EXIT_FAILED
    }
}

/// `1 file`, `2 files`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What was read: `3 files, 4 documents: 3 credentials (1 invalid), 1 Secret`. Credential
/// documents that failed their own checks, or clash with another, count as invalid.
fn summary(report: &crate::validate::Report) -> String {
    let invalid = report.rejected.len()
        + report
            .credentials
            .iter()
            .filter(|c| c.conflict.is_some())
            .count();
    let credentials = report.credentials.len() + report.rejected.len();
    let mut text = format!(
        "{}, {}: {}",
        count(report.files, "file", "files"),
        count(report.documents, "document", "documents"),
        count(credentials, "credential", "credentials"),
    );
    if invalid > 0 {
        text.push_str(&format!(" ({invalid} invalid)"));
    }
    text.push_str(&format!(
        ", {}",
        count(report.secrets.len(), "Secret", "Secrets")
    ));
    text
}
