//! Flags shared by several commands; names and variables are stable because scripts use them.

use crate::cli::out::errln;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::crypto::{AppKey, Encrypter};
use crate::model::MAX_OWNER_CHARS;
use crate::reconcile::{OnRevoked, ReconcilerConfig};
use crate::secret::SecretValue;
use crate::source::FileSource;
use crate::store::{Encryption, Store, StoreOptions};

use crate::validate::{SemanticOptions, ValidateOptions, DEFAULT_ENV_ALLOW};
use crate::verify::{ClientOptions, RetryPolicy, DEFAULT_BASE_URL};
use crate::yaml::Limits;

/// How manifests are read and resolved.
#[derive(Debug, Args)]
#[command(next_help_heading = "Manifests")]
pub struct ManifestArgs {
    /// Root of `file:` secret sources (watched by `watch`).
    #[arg(long, env = "BCCREDS_SECRETS_DIR")]
    pub secrets_dir: Option<PathBuf>,
    /// Largest manifest file read (KiB and MiB suffixes allowed).
    #[arg(long, default_value = "1MiB", value_parser = parse_size, env = "BCCREDS_MAX_FILE_SIZE")]
    pub max_file_size: u64,
    /// Deepest YAML nesting accepted.
    #[arg(long, default_value_t = Limits::default().max_depth, env = "BCCREDS_MAX_DEPTH")]
    pub max_depth: usize,
    /// Hosts an apiUrl may name; tokens are sent to no other.
    #[arg(long = "allowed-host", default_value = crate::api_url::DEFAULT_ALLOWED_HOST,
          value_delimiter = ',', env = "BCCREDS_ALLOWED_HOSTS")]
    pub allowed_hosts: Vec<String>,
    /// More variables `env:` sources may read, besides BC_* and BIGCOMMERCE_* (name or glob).
    #[arg(
        long = "env-allow",
        value_name = "GLOB",
        value_delimiter = ',',
        env = "BCCREDS_ENV_ALLOW"
    )]
    pub env_allow: Vec<String>,
}

impl ManifestArgs {
    /// The manifest tree under `paths`, read with these flags.
    pub fn source(&self, paths: &[PathBuf]) -> FileSource {
        FileSource::new(paths.to_vec(), self.validate_options(false))
            .with_secrets_dir(self.secrets_dir.clone())
    }

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
                env_allow: DEFAULT_ENV_ALLOW
                    .iter()
                    .map(|p| p.to_string())
                    .chain(self.env_allow.iter().filter(|p| !p.is_empty()).cloned())
                    .collect(),
            },
        }
    }
}

/// How BigCommerce is reached.
#[derive(Debug, Args)]
#[command(next_help_heading = "BigCommerce")]
pub struct BigCommerceArgs {
    /// Where requests go (http:// only on loopback); answers over 1 MiB are refused.
    #[arg(long, default_value = DEFAULT_BASE_URL, env = "BCCREDS_BIGCOMMERCE_BASE_URL")]
    pub bigcommerce_base_url: String,
    /// Limit for connecting (5s, 500ms, …).
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
    /// The BigCommerce client, or `None` after printing why these flags cannot make one.
    pub fn client(&self) -> Option<std::sync::Arc<crate::verify::BigCommerceClient>> {
        match crate::verify::BigCommerceClient::new(&self.client_options()) {
            Ok(c) => Some(std::sync::Arc::new(c)),
            Err(e) => {
                errln!("error: {e}");
                None
            }
        }
    }

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

/// How the reconciler behaves.
#[derive(Debug, Args)]
#[command(next_help_heading = "Reconciling")]
pub struct ReconcileArgs {
    /// Owner id of the rows managed; reconcilers sharing a store need distinct ids.
    #[arg(long, default_value = "bccreds", value_parser = parse_owner, env = "BCCREDS_OWNER")]
    pub owner: String,
    /// Verifications running at once.
    #[arg(long, default_value_t = 8, env = "BCCREDS_CONCURRENCY")]
    pub concurrency: usize,
    /// Verify unchanged credentials again after this long.
    #[arg(long, default_value = "6h", value_parser = humantime::parse_duration, env = "BCCREDS_REVERIFY_INTERVAL")]
    pub reverify_interval: Duration,
    /// What to do with the row of a revoked token: keep it, or mark it inactive.
    #[arg(long, value_enum, default_value_t = OnRevoked::Keep, env = "BCCREDS_ON_REVOKED")]
    pub on_revoked: OnRevoked,
    /// Allow deleting every managed row when no manifest is found.
    #[arg(long, env = "BCCREDS_ALLOW_EMPTY")]
    pub allow_empty: bool,
    /// Delete rows whose manifests are gone from the given paths (`--prune=false`: never).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", env = "BCCREDS_PRUNE")]
    pub prune: bool,
}

impl ReconcileArgs {
    /// The reconciler configuration from these flags.
    pub fn config(&self) -> ReconcilerConfig {
        ReconcilerConfig {
            owner: self.owner.clone(),
            concurrency: self.concurrency.max(1),
            reverify_interval: self.reverify_interval,
            on_revoked: self.on_revoked,
            allow_empty: self.allow_empty,
            prune: self.prune,
        }
    }
}

/// How secrets are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SecretEncryption {
    // Laravel's encrypter (AES-256-CBC with HMAC), readable by UnoPim's `encrypted` cast.
    Laravel,
    // Plaintext, for connectors that keep it.
    None,
}

/// Where the connector store is and how it is written.
#[derive(Debug, Args)]
#[command(next_help_heading = "Store")]
pub struct StoreArgs {
    /// sqlite://PATH, mysql://… (MariaDB too) or postgres://….
    #[arg(long = "store", default_value = crate::store::DEFAULT_STORE_URL, env = "BCCREDS_STORE", hide_env_values = true)]
    pub store_url: String,
    /// UnoPim's DB_PREFIX.
    #[arg(long, default_value = "", env = "BCCREDS_TABLE_PREFIX")]
    pub table_prefix: String,
    /// UnoPim's APP_KEY (`base64:…`); SQLite without one uses a key file beside it.
    #[arg(long, env = "APP_KEY", hide_env_values = true)]
    pub app_key: Option<String>,
    /// A file holding APP_KEY.
    #[arg(long, env = "BCCREDS_APP_KEY_FILE", conflicts_with = "app_key")]
    pub app_key_file: Option<PathBuf>,
    /// Older keys, comma-separated, accepted when decrypting.
    #[arg(long, env = "APP_PREVIOUS_KEYS", hide_env_values = true)]
    pub app_previous_keys: Option<String>,
    /// How secrets are stored: Laravel-encrypted, or plaintext.
    #[arg(long, value_enum, default_value_t = SecretEncryption::Laravel, env = "BCCREDS_SECRET_ENCRYPTION")]
    pub secret_encryption: SecretEncryption,
}

impl StoreArgs {
    fn encryption(&self) -> anyhow::Result<Encryption> {
        if self.secret_encryption == SecretEncryption::None {
            return Ok(Encryption::None);
        }
        let key_text = match (&self.app_key, &self.app_key_file) {
            (Some(key), _) => Some(SecretValue::new(key.trim())),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read --app-key-file {}", path.display()))?;
                Some(SecretValue::new(text.trim()))
            }
            (None, None) => None,
        };
        let Some(key_text) = key_text else {
            return Ok(Encryption::KeyFile);
        };
        let key = AppKey::parse(key_text.expose())?;
        let previous = match &self.app_previous_keys {
            Some(text) => Encrypter::parse_previous_keys(text)?,
            None => Vec::new(),
        };
        Ok(Encryption::Key { key, previous })
    }

    /// Connects to the store (running its migrations).
    pub async fn connect(&self) -> anyhow::Result<Store> {
        self.connect_with(self.encryption()?).await
    }

    /// Opens the store only to read it (`plan`): nothing is created, migrated or written.
    pub async fn open_existing(&self) -> anyhow::Result<Store> {
        Ok(Store::open_existing(self.options(self.encryption()?)).await?)
    }

    /// Opens the store only to read it, decrypting secrets only when a key is given: what needs
    /// no secret (`export --secrets none`) then needs no APP_KEY either.
    pub async fn open_existing_for_names(&self) -> anyhow::Result<Store> {
        let encryption = if self.app_key.is_some() || self.app_key_file.is_some() {
            self.encryption()?
        } else {
            Encryption::None
        };
        Ok(Store::open_existing(self.options(encryption)).await?)
    }

    async fn connect_with(&self, encryption: Encryption) -> anyhow::Result<Store> {
        Ok(Store::connect(self.options(encryption)).await?)
    }

    fn options(&self, encryption: Encryption) -> StoreOptions {
        StoreOptions {
            url: self.store_url.clone(),
            table_prefix: self.table_prefix.clone(),
            encryption,
        }
    }
}

/// Who may read `/status` and the credentials page, for the commands that serve them.
#[derive(Debug, Args)]
#[command(next_help_heading = "Endpoints")]
pub struct AccessArgs {
    /// Bearer token /status and the page require (open the page once with ?token=…); without
    /// one they are served on loopback only.
    #[arg(long, env = "BCCREDS_STATUS_TOKEN", hide_env_values = true, value_parser = super::status::status_token_arg)]
    pub status_token: Option<SecretValue>,
    /// Another name the loopback listener answers to without a token (localhost always).
    #[arg(
        long = "status-host",
        value_name = "NAME",
        value_delimiter = ',',
        env = "BCCREDS_STATUS_HOSTS"
    )]
    pub status_hosts: Vec<String>,
}

impl AccessArgs {
    /// The checked token (see `checked_status_token`), or why it cannot be one.
    pub fn token(&self) -> Result<Option<SecretValue>, String> {
        super::status::checked_status_token(self.status_token.as_ref())
    }
}

/// Parses a size in bytes with an optional KiB or MiB suffix.
/// An owner id: 1 to 255 characters, none of them control characters, checked before any
/// verification so that SQLite (which does not enforce lengths) refuses it as MariaDB would.
pub fn parse_owner(text: &str) -> Result<String, String> {
    let chars = text.chars().count();
    if text.trim().is_empty() {
        Err("must not be blank".into())
    } else if chars > MAX_OWNER_CHARS {
        Err(format!(
            "is {chars} characters; the store's owner_id column holds {MAX_OWNER_CHARS}"
        ))
    } else if text.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else {
        Ok(text.to_string())
    }
}

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

/// Where the connector store is, for commands that only read it and no secret (`list`): no
/// key and no encryption flag, since nothing they read is encrypted.
#[derive(Debug, Args)]
#[command(next_help_heading = "Store")]
pub struct StoreReadArgs {
    /// sqlite://PATH, mysql://… (also MariaDB) or postgres://…; read only: nothing is created.
    #[arg(long = "store", default_value = crate::store::DEFAULT_STORE_URL, env = "BCCREDS_STORE", hide_env_values = true)]
    pub store_url: String,
    /// UnoPim's DB_PREFIX.
    #[arg(long, default_value = "", env = "BCCREDS_TABLE_PREFIX")]
    pub table_prefix: String,
    /// Accepted for scripts that pass the same flags to every command, and ignored.
    #[arg(long, hide = true)]
    pub app_key: Option<String>,
    /// Accepted and ignored, as --app-key.
    #[arg(long, hide = true)]
    pub app_key_file: Option<PathBuf>,
    /// Accepted and ignored, as --app-key.
    #[arg(long, hide = true)]
    pub app_previous_keys: Option<String>,
}

impl StoreReadArgs {
    /// Opens the store only to read it: nothing is created, migrated or written, and no key is
    /// read or needed.
    pub async fn open_existing(&self) -> anyhow::Result<Store> {
        Ok(Store::open_existing(StoreOptions {
            url: self.store_url.clone(),
            table_prefix: self.table_prefix.clone(),
            encryption: Encryption::None,
        })
        .await?)
    }
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
