//! What the store holds: credential rows as the connector reads them, and bccreds' ownership.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{DeletionPolicy, Field, Reason, SourceKey, StoreInfo};
use crate::secret::SecretValue;

/// A secret column on write: keep what is stored, or set a new value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretUpdate {
    /// Leave the stored value as it is ("leave blank to keep the current value").
    Keep,
    /// Store this value (encrypted).
    Set(SecretValue),
}

/// A credential's columns. `C` is how its client secret is held and `T` its access token:
/// updates on the way in ([`CredentialData`]), values as stored ([`StoredData`]), or only
/// whether they are set, for pages that never hold a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialFields<C, T> {
    /// Unique label.
    pub label: String,
    /// Normalised API URL.
    pub api_url: String,
    /// Client ID (not secret on its own).
    pub client_id: Option<String>,
    /// Client secret.
    pub client_secret: C,
    /// Access token.
    pub access_token: T,
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

/// The columns bccreds writes: each secret is kept as stored or set; the token must be set to
/// create.
pub type CredentialData = CredentialFields<SecretUpdate, SecretUpdate>;

/// Stored columns, with their secrets decrypted.
pub type StoredData = CredentialFields<Option<SecretValue>, SecretValue>;

impl<C, T> CredentialFields<C, T> {
    /// The same columns with the secrets held another way.
    pub fn map_secrets<C2, T2>(
        self,
        client_secret: impl FnOnce(C) -> C2,
        access_token: impl FnOnce(T) -> T2,
    ) -> CredentialFields<C2, T2> {
        CredentialFields {
            label: self.label,
            api_url: self.api_url,
            client_id: self.client_id,
            client_secret: client_secret(self.client_secret),
            access_token: access_token(self.access_token),
            active: self.active,
            default_locale: self.default_locale,
            default_currency: self.default_currency,
            locale_mapping: self.locale_mapping,
            currency_mapping: self.currency_mapping,
            store_info: self.store_info,
        }
    }

    /// A field that is not a secret, as `plan --diff` shows it; `None` when it has no value,
    /// and always for a secret.
    pub fn shown(&self, field: Field) -> Option<String> {
        fn mapping(m: &BTreeMap<String, String>) -> Option<String> {
            (!m.is_empty()).then(|| {
                m.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
        }
        match field {
            Field::Label => Some(self.label.clone()),
            Field::ApiUrl => Some(self.api_url.clone()),
            Field::ClientId => self.client_id.clone(),
            Field::Status => Some(if self.active { "Active" } else { "Inactive" }.into()),
            Field::DefaultLocale => self.default_locale.clone(),
            Field::DefaultCurrency => self.default_currency.clone(),
            Field::LocaleMapping => mapping(&self.locale_mapping),
            Field::CurrencyMapping => mapping(&self.currency_mapping),
            Field::ClientSecret | Field::AccessToken => None,
        }
    }

    /// Whether a field that is not a secret holds the same value in both (secrets: `true`).
    pub fn same<C2, T2>(&self, other: &CredentialFields<C2, T2>, field: Field) -> bool {
        match field {
            Field::Label => self.label == other.label,
            Field::ApiUrl => self.api_url == other.api_url,
            Field::ClientId => self.client_id == other.client_id,
            Field::Status => self.active == other.active,
            Field::DefaultLocale => self.default_locale == other.default_locale,
            Field::DefaultCurrency => self.default_currency == other.default_currency,
            Field::LocaleMapping => self.locale_mapping == other.locale_mapping,
            Field::CurrencyMapping => self.currency_mapping == other.currency_mapping,
            Field::ClientSecret | Field::AccessToken => true,
        }
    }
}

impl CredentialData {
    /// Whether writing these columns over `stored` (`None`: no row) changes `field`. A secret
    /// kept as stored changes nothing.
    pub fn changes(&self, stored: Option<&StoredData>, field: Field) -> bool {
        let set_and_differs = |wanted: &SecretUpdate, stored: Option<&SecretValue>| match wanted {
            SecretUpdate::Keep => false,
            SecretUpdate::Set(v) => stored.is_none_or(|s| s != v),
        };
        match (field, stored) {
            (Field::ClientSecret, _) => set_and_differs(
                &self.client_secret,
                stored.and_then(|s| s.client_secret.as_ref()),
            ),
            (Field::AccessToken, _) => {
                set_and_differs(&self.access_token, stored.map(|s| &s.access_token))
            }
            (_, Some(stored)) => !self.same(stored, field),
            (_, None) => self.shown(field).is_some(),
        }
    }

    /// The fields that writing these columns over `stored` changes, in [`Field::ALL`]'s order.
    pub fn changed_fields(&self, stored: Option<&StoredData>) -> Vec<Field> {
        Field::ALL
            .into_iter()
            .filter(|f| self.changes(stored, *f))
            .collect()
    }
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

/// bccreds' record of a row it manages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// The credential row.
    pub credential_id: i64,
    /// Which reconciler owns it, so that two sharing a store never prune each other.
    pub owner_id: String,
    /// `namespace/name` of the manifest.
    pub source_key: SourceKey,
    /// sha256 of the normalised spec.
    pub spec_sha256: String,
    /// sha256 of the resolved secrets.
    pub secret_sha256: String,
    /// When BigCommerce last gave a verdict.
    pub last_verified_at: Option<DateTime<Utc>>,
    /// Reason of the last verification (`Verified`, `InvalidToken` …); a text this version does
    /// not know (written by another version) reads as none.
    pub last_result: Option<Reason>,
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
