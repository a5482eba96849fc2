//! The BigCommerceCredential resource: one type for file manifests and Kubernetes objects.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::secret_source::{ClientId, SecretSource};

/// API group of the resource.
pub const GROUP: &str = "bigcommerce.unopim.io";
/// API version of the resource.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as written in manifests.
pub const API_VERSION: &str = "bigcommerce.unopim.io/v1alpha1";
/// `kind` as written in manifests.
pub const KIND: &str = "BigCommerceCredential";
/// The prefix of bccreds' annotations; a change of any of them is a change of the credential.
pub const ANNOTATION_PREFIX: &str = "bigcommerce.unopim.io/";
/// Annotation choosing what happens to the stored row when the manifest goes away.
pub const DELETION_POLICY_ANNOTATION: &str = "bigcommerce.unopim.io/deletion-policy";
/// Annotation allowing bccreds to take over an existing, unowned row with the same label.
pub const ADOPT_ANNOTATION: &str = "bigcommerce.unopim.io/adopt";

/// What happens to the stored row when its manifest goes away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeletionPolicy {
    /// The row is deleted (the default).
    #[default]
    Delete,
    /// The row stays, no longer managed by bccreds.
    Orphan,
}

impl DeletionPolicy {
    /// As written in the annotation and stored in the ownership table.
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionPolicy::Delete => "Delete",
            DeletionPolicy::Orphan => "Orphan",
        }
    }

    /// Reads the annotation value; anything but `Orphan` deletes.
    pub fn parse(text: &str) -> DeletionPolicy {
        if text == "Orphan" {
            DeletionPolicy::Orphan
        } else {
            DeletionPolicy::Delete
        }
    }
}

/// Column sizes of the connector table, checked at validation on every engine (SQLite enforces
/// none). The schema attributes below and `store::migrate` spell the same numbers; a test in
/// `store::migrate` keeps them together.
pub const MAX_LABEL_CHARS: usize = 255;
/// See [`MAX_LABEL_CHARS`]; counted on the normalized URL, which is what is stored.
pub const MAX_API_URL_CHARS: usize = 500;
/// See [`MAX_LABEL_CHARS`]; counted on the resolved value, wherever it comes from.
pub const MAX_CLIENT_ID_CHARS: usize = 255;
/// The ownership table's `owner_id` (`--owner`).
pub const MAX_OWNER_CHARS: usize = 255;

/// Desired state of one BigCommerce API credential of UnoPim's connector.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "bigcommerce.unopim.io",
    version = "v1alpha1",
    kind = "BigCommerceCredential",
    namespaced,
    shortname = "bcc",
    status = "BigCommerceCredentialStatus",
    doc = "A BigCommerce API credential of UnoPim's BigCommerce connector, verified with BigCommerce and reconciled into the connector store.",
    printcolumn = r#"{"name":"Label","type":"string","jsonPath":".spec.label"}"#,
    printcolumn = r#"{"name":"API URL","type":"string","jsonPath":".spec.apiUrl"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.credentialStatus"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BigCommerceCredentialSpec {
    /// Name shown on the credentials page; unique across the connector store.
    #[schemars(length(min = 1, max = 255))]
    pub label: String,
    /// The API path from the BigCommerce API account, `https://api.bigcommerce.com/stores/{hash}/`.
    #[schemars(
        length(max = 500),
        regex(pattern = r"^https://[^/?#@\s]+/stores/[A-Za-z0-9]+/?((v2|v3)/?)?$")
    )]
    pub api_url: String,
    /// Client ID of the API account; stored as given, since no store-level call can verify it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    /// Client secret of the API account; absent or `**********` keeps the stored value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<SecretSource>,
    /// Access token of the API account; required to create, absent or `**********` keeps the stored value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<SecretSource>,
    /// Active credentials appear in the connector's import and export dropdowns.
    #[serde(default = "default_active")]
    pub active: bool,
    /// UnoPim locale (ICU, e.g. `en_US`) used when a product lacks a locale-specific value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2,3}(_[A-Z][a-z]{3})?(_([A-Z]{2}|[0-9]{3}))?$"))]
    pub default_locale: Option<String>,
    /// UnoPim currency (ISO 4217, e.g. `USD`) used when a product lacks a currency-specific value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub default_currency: Option<String>,
    /// UnoPim locale (ICU) to BigCommerce locale (language tag such as `en` or `en-US`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 256))]
    pub locale_mapping: BTreeMap<String, String>,
    /// UnoPim currency (ISO 4217) to BigCommerce currency (ISO 4217).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 256))]
    pub currency_mapping: BTreeMap<String, String>,
}

fn default_active() -> bool {
    true
}

impl BigCommerceCredentialSpec {
    /// Every secret source of the spec with its field name: accessToken, clientSecret, and
    /// clientId when it is read from a source rather than written inline.
    pub fn secret_sources(&self) -> impl Iterator<Item = (&'static str, &SecretSource)> {
        let client_id = match &self.client_id {
            Some(ClientId::Source(s)) => Some(s),
            _ => None,
        };
        [
            ("accessToken", self.access_token.as_ref()),
            ("clientSecret", self.client_secret.as_ref()),
            ("clientId", client_id),
        ]
        .into_iter()
        .filter_map(|(field, source)| source.map(|s| (field, s)))
    }
}

impl BigCommerceCredential {
    /// The deletion policy its annotation asks for; anything but `Orphan` deletes.
    pub fn deletion_policy(&self) -> DeletionPolicy {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DELETION_POLICY_ANNOTATION))
            .map_or(DeletionPolicy::Delete, |v| DeletionPolicy::parse(v))
    }

    /// Whether its annotation asks to take over an unowned row with the same label.
    pub fn wants_adoption(&self) -> bool {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ADOPT_ANNOTATION))
            .is_some_and(|v| v == "true")
    }
}

/// Observed state, written by bccreds; never holds a secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BigCommerceCredentialStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Verified, Stored and Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `Active` or `Inactive`, as the credentials page shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_status: Option<String>,
    /// What BigCommerce reported about the store at the last successful verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreInfo>,
    /// What the token was shown to be able to do, e.g. `products:read`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Row id of the credential in the connector store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<i64>,
    /// When BigCommerce last answered a verification of this credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_time: Option<Time>,
}

/// The store facts bccreds keeps from `GET v2/store`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreInfo {
    /// The store hash (`id` in `v2/store`).
    pub hash: String,
    /// The store's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The store's primary domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The store's default language, e.g. `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The store's default currency code, e.g. `USD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}
