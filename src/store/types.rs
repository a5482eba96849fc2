//! What the store holds: credential rows as the connector reads them, and bccreds' ownership.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{DeletionPolicy, StoreInfo};
use crate::secret::SecretValue;

/// A secret column on write: keep what is stored, or set a new value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretUpdate {
    /// Leave the stored value as it is ("leave blank to keep the current value").
    Keep,
    /// Store this value (encrypted).
    Set(SecretValue),
}

/// The credential columns bccreds writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialData {
    /// Unique label.
    pub label: String,
    /// Normalised API URL.
    pub api_url: String,
    /// Client ID (not secret on its own).
    pub client_id: Option<String>,
    /// Client secret.
    pub client_secret: SecretUpdate,
    /// Access token; must be `Set` to create.
    pub access_token: SecretUpdate,
    /// Active (`status` column).
    pub active: bool,
    /// UnoPim default locale.
    pub default_locale: Option<String>,
    /// UnoPim default currency.
    pub default_currency: Option<String>,
    /// UnoPim locale to BigCommerce locale.
    pub locale_mapping: BTreeMap<String, String>,
    /// UnoPim currency to BigCommerce currency.
    pub currency_mapping: BTreeMap<String, String>,
    /// What BigCommerce said about the store.
    pub store_info: Option<StoreInfo>,
}

/// A credential row as stored, with its secrets decrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCredential {
    /// Row id.
    pub id: i64,
    /// The columns.
    pub data: StoredData,
    /// `created_at`.
    pub created_at: Option<DateTime<Utc>>,
    /// `updated_at`.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Stored columns; secrets are values here, not updates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredData {
    /// Label.
    pub label: String,
    /// API URL.
    pub api_url: String,
    /// Client ID.
    pub client_id: Option<String>,
    /// Client secret, decrypted.
    pub client_secret: Option<SecretValue>,
    /// Access token, decrypted.
    pub access_token: SecretValue,
    /// Active.
    pub active: bool,
    /// Default locale.
    pub default_locale: Option<String>,
    /// Default currency.
    pub default_currency: Option<String>,
    /// Locale mapping.
    pub locale_mapping: BTreeMap<String, String>,
    /// Currency mapping.
    pub currency_mapping: BTreeMap<String, String>,
    /// Store info.
    pub store_info: Option<StoreInfo>,
}

/// bccreds' record of a row it manages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// The credential row.
    pub credential_id: i64,
    /// Which reconciler owns it, so that two sharing a store never prune each other.
    pub owner_id: String,
    /// `namespace/name` of the manifest.
    pub source_key: String,
    /// sha256 of the normalised spec.
    pub spec_sha256: String,
    /// sha256 of the resolved secrets.
    pub secret_sha256: String,
    /// When BigCommerce last gave a verdict.
    pub last_verified_at: Option<DateTime<Utc>>,
    /// Reason of the last verification (`Verified`, `InvalidToken` …).
    pub last_result: Option<String>,
    /// Message of the last verification.
    pub last_message: Option<String>,
    /// What happens to the row when the manifest goes away, remembered for when it has.
    pub deletion_policy: DeletionPolicy,
    /// The manifest file it came from (absolute), in file mode; `None` in Kubernetes mode and for
    /// rows recorded before sources were kept.
    pub source_path: Option<String>,
}

/// One owner's rows as a pass reads them.
#[derive(Debug, Default)]
pub struct OwnedRows {
    /// Each ownership record with its credential; `None` when the row is gone or unreadable.
    pub rows: Vec<(Ownership, Option<StoredCredential>)>,
    /// Rows that exist but cannot be read, by id, with the column and why.
    pub unreadable: std::collections::BTreeMap<i64, super::ColumnError>,
}

impl Ownership {
    /// The last verification's reason, where the stored text names one bccreds knows.
    pub fn last_reason(&self) -> Option<crate::model::Reason> {
        self.last_result
            .as_deref()
            .and_then(crate::model::Reason::parse)
    }
}

/// How `list` sorts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortColumn {
    /// By label (the default).
    #[default]
    Label,
    /// By API URL.
    ApiUrl,
    /// By status (Active/Inactive).
    Status,
    /// By Ready, as `list` shows it (False, True, Unknown; unmanaged rows last).
    Ready,
    /// By the owning reconciler (unmanaged rows last).
    ManagedBy,
    /// By the last verification, oldest first (never verified last).
    LastVerified,
    /// By the reason of the last failure (rows without one last).
    Reason,
    /// By last update (not a column; kept for scripts that sort by it).
    Updated,
}

/// Search, sort and filter for `list`, as on the credentials page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Case-insensitive substring of the label.
    pub search: Option<String>,
    /// Sort column.
    pub sort: SortColumn,
    /// Descending order.
    pub descending: bool,
    /// Only active (`Some(true)`) or inactive (`Some(false)`) rows.
    pub active: Option<bool>,
}

/// One row of `list`; never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedCredential {
    /// Row id.
    pub id: i64,
    /// Label.
    pub label: String,
    /// API URL.
    pub api_url: String,
    /// Active.
    pub active: bool,
    /// The owning reconciler, if bccreds manages the row.
    pub owner_id: Option<String>,
    /// Reason of the last verification.
    pub last_result: Option<String>,
    /// When BigCommerce last gave a verdict.
    pub last_verified_at: Option<DateTime<Utc>>,
    /// Last update.
    pub updated_at: Option<DateTime<Utc>>,
}

/// UnoPim's enabled locale and currency codes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnoPimCodes {
    /// Enabled locale codes; `None` when the `locales` table does not exist.
    pub locales: Option<Vec<String>>,
    /// Enabled currency codes; `None` when the `currencies` table does not exist.
    pub currencies: Option<Vec<String>>,
}
