//! `bccreds validate PATH…`.

use std::path::PathBuf;

use clap::Args;

use super::{Output, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::validate::{validate_paths, SemanticOptions, ValidateOptions};
use crate::yaml::Limits;

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
    /// Largest manifest file accepted, in bytes (suffixes KiB and MiB allowed).
    #[arg(long, default_value = "1MiB", value_parser = parse_size, env = "BCCREDS_MAX_FILE_SIZE")]
    max_file_size: u64,
    /// Deepest YAML nesting accepted.
    #[arg(long, default_value_t = Limits::default().max_depth, env = "BCCREDS_MAX_DEPTH")]
    max_depth: usize,
    /// Hosts an apiUrl may name; the token is only ever sent there.
    #[arg(long = "allowed-host", default_value = crate::api_url::DEFAULT_ALLOWED_HOST,
          value_delimiter = ',', env = "BCCREDS_ALLOWED_HOSTS")]
    allowed_hosts: Vec<String>,
    /// Also print notes, such as documents of other kinds that were skipped.
    #[arg(short, long)]
    verbose: bool,
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |i| text.split_at(i));
    let factor = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" | "k" => 1024,
        "M" | "MiB" => 1024 * 1024,
        other => {
            return Err(format!(
                "unknown size unit `{other}`; use bytes, KiB or MiB"
            ))
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size"))?;
    n.checked_mul(factor)
        .ok_or_else(|| "size too large".to_string())
}

pub fn run(args: &ValidateArgs) -> u8 {
    let opts = ValidateOptions {
        max_file_size: args.max_file_size,
        limits: Limits {
            max_depth: args.max_depth,
            ..Limits::default()
        },
        semantic: SemanticOptions {
            allowed_hosts: args.allowed_hosts.clone(),
            kubernetes: args.kubernetes,
        },
    };
    let report = match validate_paths(&args.paths, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    match args.output {
        Output::Json => match serde_json::to_string_pretty(&report.diagnostics) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_FAILED;
            }
        },
        Output::Text => report.diagnostics.iter().for_each(|d| println!("{d}")),
    }
    if args.verbose {
        report.notes.iter().for_each(|n| eprintln!("note: {n}"));
    }
    let summary = format!(
        "{} files, {} documents: {} credentials, {} Secrets",
        report.files,
        report.documents,
        report.credentials.len(),
        report.secrets.len()
    );
    if report.is_valid() {
        eprintln!("valid: {summary}");
        EXIT_OK
    } else {
        eprintln!(
            "invalid: {} problems in {summary}",
            report.diagnostics.len()
        );
        EXIT_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;
    use crate::manifest::DEFAULT_MAX_FILE_SIZE;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("2KiB"), Ok(2048));
        assert_eq!(parse_size("1MiB"), Ok(DEFAULT_MAX_FILE_SIZE));
        assert!(parse_size("1GB").is_err());
        assert!(parse_size("x").is_err());
    }
}
