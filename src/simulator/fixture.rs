//! The simulator's fixture: stores, tokens with scopes, and injected faults, read from YAML or
//! JSON, with `generate` sections for many stores.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::yaml::{self, Limits};

/// All the simulated stores and the tokens that may call them.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fixture {
    /// Optional `simulator.bccreds.unopim.io/v1`; lets `bccreds validate` skip fixture files as
    /// another kind instead of reporting them as manifests without `apiVersion`.
    #[serde(default, rename = "apiVersion")]
    pub api_version: Option<String>,
    /// Optional `BigCommerceFixture`, for the same reason as `api_version`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Status for a store hash the fixture lacks: 404 (default) or 403, as the gateway may answer.
    #[serde(default = "default_unknown_store_status")]
    pub unknown_store_status: u16,
    /// The stores.
    #[serde(default)]
    pub stores: Vec<StoreFixture>,
    /// The tokens; each belongs to one store.
    #[serde(default)]
    pub tokens: Vec<TokenFixture>,
    /// Stores made from patterns (N stores, each with its own token), expanded at load.
    #[serde(default)]
    pub generate: Vec<super::generate::Generate>,
}

fn default_unknown_store_status() -> u16 {
    404
}

// Written out so that `..Default::default()` in code gets the same values as an omitted YAML key.
impl Default for Fixture {
    fn default() -> Self {
        Fixture {
            api_version: None,
            kind: None,
            unknown_store_status: default_unknown_store_status(),
            stores: Vec::new(),
            tokens: Vec::new(),
            generate: Vec::new(),
        }
    }
}

/// One store.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreFixture {
    /// The store hash, as in `/stores/{hash}/`.
    pub hash: String,
    /// `name` in `v2/store`.
    pub name: String,
    /// `domain` in `v2/store`.
    #[serde(default)]
    pub domain: String,
    /// Default language, `language` in `v2/store`.
    #[serde(default = "default_language")]
    pub language: String,
    /// Default currency code, `currency` in `v2/store`.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// `v2/currencies`; empty means the endpoint answers 204.
    #[serde(default)]
    pub currencies: Vec<CurrencyFixture>,
    /// `default_shopper_language` in `v3/settings/store/locale`; the store language when absent.
    #[serde(default)]
    pub shopper_language: Option<String>,
    /// `v3/channels`; channel 1 (the default storefront) when empty.
    #[serde(default)]
    pub channels: Vec<ChannelFixture>,
    /// `v3/catalog/summary` inventory count.
    #[serde(default)]
    pub product_count: u64,
    /// Requests allowed per window (150 on Standard and Plus plans).
    #[serde(default = "default_quota")]
    pub quota: u64,
    /// Window length in milliseconds (30000 on BigCommerce).
    #[serde(default = "default_window_ms")]
    pub window_ms: u64,
    /// Faults injected into every request to this store, whatever the token.
    #[serde(default)]
    pub faults: Vec<Fault>,
}

fn default_language() -> String {
    "en".into()
}
fn default_currency() -> String {
    "USD".into()
}
fn default_quota() -> u64 {
    150
}
fn default_window_ms() -> u64 {
    30_000
}

// Written out so that `..Default::default()` in code gets the same values as an omitted YAML key.
impl Default for StoreFixture {
    fn default() -> Self {
        StoreFixture {
            hash: String::new(),
            name: String::new(),
            domain: String::new(),
            language: default_language(),
            currency: default_currency(),
            currencies: Vec::new(),
            shopper_language: None,
            channels: Vec::new(),
            product_count: 0,
            quota: default_quota(),
            window_ms: default_window_ms(),
            faults: Vec::new(),
        }
    }
}

/// One currency of `v2/currencies`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CurrencyFixture {
    /// ISO 4217 code.
    pub code: String,
    /// Display name; the code when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether the currency is enabled (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Exchange rate, sent as a string as BigCommerce does (default "1.0000000000").
    #[serde(default)]
    pub exchange_rate: Option<String>,
}

fn default_true() -> bool {
    true
}

/// One channel, with its currency assignments and GraphQL locales.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelFixture {
    /// Channel id; 1 is the default storefront.
    pub id: u64,
    /// Channel name.
    pub name: String,
    /// Enabled currency codes (`v3/channels/{id}/currency-assignments`).
    #[serde(default)]
    pub currencies: Vec<String>,
    /// Default currency of the channel; the first of `currencies` when absent.
    #[serde(default)]
    pub default_currency: Option<String>,
    /// Locale codes served by GraphQL `store.locales`; the first is the default.
    #[serde(default)]
    pub locales: Vec<String>,
}

/// A store-level API account's access token.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenFixture {
    /// The access token (fixtures hold test tokens only).
    pub token: String,
    /// Hash of the store the token belongs to.
    pub store: String,
    /// OAuth scopes, e.g. `store_v2_information_read_only`, `store_v2_products_read_only`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Faults injected into requests made with this token.
    #[serde(default)]
    pub faults: Vec<Fault>,
}

/// A fault injected into matching requests.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    /// Only requests whose path after `/stores/{hash}/` starts with this (e.g. `v2/store`).
    #[serde(default)]
    pub path: Option<String>,
    /// Answer with this status instead of the real response (for 429, with rate-limit headers).
    #[serde(default)]
    pub status: Option<u16>,
    /// Apply only to the first N matching requests, then behave normally; forever when absent.
    #[serde(default)]
    pub times: Option<u64>,
    /// Delay before answering, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Close the connection without a complete response.
    #[serde(default)]
    pub drop_connection: bool,
    /// `X-Rate-Limit-Time-Reset-Ms` sent with an injected 429 (default: the real window's reset).
    #[serde(default)]
    pub reset_ms: Option<u64>,
}

// Debug hides the token, like every other secret in bccreds.
impl std::fmt::Debug for TokenFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFixture")
            .field("token", &"**********")
            .field("store", &self.store)
            .field("scopes", &self.scopes)
            .field("faults", &self.faults)
            .finish()
    }
}

impl Fault {
    /// The injected latency.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
}

/// Why a fixture could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The file could not be read.
    #[error("cannot read fixture {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The YAML is malformed or does not match the fixture format.
    #[error("invalid fixture {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with a line where known.
        message: String,
    },
}

/// The YAML loader's node budget for fixtures: far above the manifests' (fixtures are the
/// tester's own files), but still bounded. Beyond it, a JSON fixture or `generate`.
pub const FIXTURE_MAX_NODES: usize = 5_000_000;

impl Fixture {
    /// Reads a fixture from YAML text; `path` is only used in messages.
    pub fn from_yaml(text: &str, path: &str) -> Result<Fixture, FixtureError> {
        let invalid = |message: String| FixtureError::Invalid {
            path: path.to_string(),
            message,
        };
        let limits = Limits {
            max_nodes: FIXTURE_MAX_NODES,
            ..Limits::default()
        };
        let docs = yaml::load(text, limits).map_err(|e| {
            let pos = e.pos();
            let hint = match e {
                yaml::YamlError::TooManyNodes { .. } => {
                    "; for larger fixtures use a JSON file (*.json) or a `generate` section"
                }
                _ => "",
            };
            invalid(format!("{}:{}: {e}{hint}", pos.line, pos.column))
        })?;
        let root = docs
            .into_iter()
            .find_map(|d| d.root)
            .ok_or_else(|| invalid("the fixture is empty".into()))?;
        let fixture: Fixture =
            serde_json::from_value(root.to_json()).map_err(|e| invalid(e.to_string()))?;
        fixture.finish().map_err(invalid)
    }

    /// Reads a fixture from JSON text, which has no node budget: for fixtures of 100,000 stores.
    pub fn from_json(text: &str, path: &str) -> Result<Fixture, FixtureError> {
        let invalid = |message: String| FixtureError::Invalid {
            path: path.to_string(),
            message,
        };
        let fixture: Fixture = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        fixture.finish().map_err(invalid)
    }

    /// Expands `generate` and checks the result.
    fn finish(self) -> Result<Fixture, String> {
        let fixture = super::generate::expand(self)?;
        fixture.check()?;
        Ok(fixture)
    }

    /// Reads a fixture file: JSON for `*.json`, YAML otherwise.
    pub fn load(path: &Path) -> Result<Fixture, FixtureError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Io {
            path: shown.clone(),
            source,
        })?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Self::from_json(&text, &shown)
        } else {
            Self::from_yaml(&text, &shown)
        }
    }
}
