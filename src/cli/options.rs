//! Flags shared by several commands; names and variables are stable because scripts use them.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::validate::{SemanticOptions, ValidateOptions};
use crate::verify::{ClientOptions, RetryPolicy, DEFAULT_BASE_URL};
use crate::yaml::Limits;

/// How manifests are read and resolved.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// Root of `file:` secret sources.
    #[arg(long, env = "BCCREDS_SECRETS_DIR")]
    pub secrets_dir: Option<PathBuf>,
    /// Largest manifest file accepted, in bytes (suffixes KiB and MiB allowed).
    #[arg(long, default_value = "1MiB", value_parser = parse_size, env = "BCCREDS_MAX_FILE_SIZE")]
    pub max_file_size: u64,
    /// Deepest YAML nesting accepted.
    #[arg(long, default_value_t = Limits::default().max_depth, env = "BCCREDS_MAX_DEPTH")]
    pub max_depth: usize,
    /// Hosts an apiUrl may name; the token is only ever sent for those.
    #[arg(long = "allowed-host", default_value = crate::api_url::DEFAULT_ALLOWED_HOST,
          value_delimiter = ',', env = "BCCREDS_ALLOWED_HOSTS")]
    pub allowed_hosts: Vec<String>,
}

impl ManifestArgs {
    /// Validation options from these flags.
    pub fn validate_options(&self, kubernetes: bool) -> ValidateOptions {
        ValidateOptions {
            max_file_size: self.max_file_size,
            limits: Limits {
                max_depth: self.max_depth,
                ..Limits::default()
            },
            semantic: SemanticOptions {
                allowed_hosts: self.allowed_hosts.clone(),
                kubernetes,
            },
        }
    }
}

/// How BigCommerce is reached.
#[derive(Debug, Args)]
pub struct BigCommerceArgs {
    /// Where requests go; http:// only for loopback (a simulator). Manifests keep their apiUrl.
    #[arg(long, default_value = DEFAULT_BASE_URL, env = "BCCREDS_BIGCOMMERCE_BASE_URL")]
    pub bigcommerce_base_url: String,
    /// Limit for establishing a connection (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, env = "BCCREDS_CONNECT_TIMEOUT")]
    pub connect_timeout: Duration,
    /// Limit for one request, body included.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration, env = "BCCREDS_REQUEST_TIMEOUT")]
    pub request_timeout: Duration,
    /// Retries after 5xx, timeouts and broken connections.
    #[arg(long, default_value_t = RetryPolicy::default().max_retries, env = "BCCREDS_MAX_RETRIES")]
    pub max_retries: u32,
    /// First retry delay; doubled on each retry.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration, env = "BCCREDS_RETRY_BASE_DELAY")]
    pub retry_base_delay: Duration,
}

impl BigCommerceArgs {
    /// Client options from these flags.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            base_url: self.bigcommerce_base_url.clone(),
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            retry: RetryPolicy {
                max_retries: self.max_retries,
                base_delay: self.retry_base_delay,
                ..RetryPolicy::default()
            },
        }
    }
}

/// Parses a size in bytes with an optional KiB or MiB suffix.
pub fn parse_size(text: &str) -> Result<u64, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
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
