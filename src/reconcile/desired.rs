//! Desired state: each manifest's credential with resolved secrets and content hashes.

use sha2::{Digest, Sha256};

use crate::diagnostic::Diagnostic;
pub use crate::model::SourceKey;
use crate::model::{DeletionPolicy, Reason};
use crate::store::{CredentialData, SecretUpdate};

/// The digest of an entry ([`Entry::digest`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EntryDigest([u8; 32]);

#[cfg(test)]
impl EntryDigest {
    /// A digest made up for a test.
    pub(crate) fn made_up(byte: u8) -> EntryDigest {
        EntryDigest([byte; 32])
    }
}

/// One credential as its manifest wants it, ready to verify and store.
#[derive(Clone, Debug)]
pub struct Desired {
    /// Identity.
    pub key: SourceKey,
    /// `metadata.generation` (Kubernetes), for observedGeneration.
    pub generation: Option<i64>,
    /// Where it came from, e.g. `shop.yaml:4`, for messages.
    pub origin: String,
    /// The columns to write; secrets resolved or `Keep`.
    pub data: CredentialData,
    /// Store hash from the normalised apiUrl.
    pub store_hash: String,
    /// Deletion policy annotation.
    pub policy: DeletionPolicy,
    /// `bigcommerce.unopim.io/adopt: "true"`.
    pub adopt: bool,
    /// sha256 of the normalised spec.
    pub spec_sha256: String,
    /// sha256 of the resolved secrets; kept in memory only (the store gets a keyed fingerprint).
    pub secret_digest: String,
    /// The manifest file (absolute), in file mode: what decides which pass may prune its row.
    pub source_path: Option<String>,
}

/// A manifest that could not become a desired credential, but whose identity is known: its
/// stored row is kept as it is.
#[derive(Clone, Debug)]
pub struct Invalid {
    /// Identity.
    pub key: SourceKey,
    /// Label, where readable.
    pub label: Option<String>,
    /// `metadata.generation`, where known.
    pub generation: Option<i64>,
    /// `InvalidSpec` for a manifest that breaks a rule, `SecretNotFound` for a secret that cannot
    /// be resolved.
    pub reason: Reason,
    /// Why it is invalid.
    pub message: String,
}

/// A manifest that is gone (a deleted Kubernetes object): its row is deleted, or released
/// under the Orphan policy.
#[derive(Clone, Debug)]
pub struct Gone {
    /// Identity.
    pub key: SourceKey,
    /// What happens to its row.
    pub policy: DeletionPolicy,
}

/// One entry of a scan.
#[derive(Clone, Debug)]
pub enum Entry {
    /// A credential to reconcile.
    Desired(Box<Desired>),
    /// A credential to leave alone, with the reason.
    Invalid(Invalid),
    /// A credential whose manifest is gone.
    Gone(Gone),
}

impl Entry {
    /// The entry's identity.
    pub fn key(&self) -> &SourceKey {
        match self {
            Entry::Desired(d) => &d.key,
            Entry::Invalid(i) => &i.key,
            Entry::Gone(g) => &g.key,
        }
    }

    /// The label, where the manifest shows one.
    pub fn label(&self) -> Option<&str> {
        match self {
            Entry::Desired(d) => Some(&d.data.label),
            Entry::Invalid(i) => i.label.as_deref(),
            Entry::Gone(_) => None,
        }
    }

    /// The digest of everything a pass acts on for this entry: two entries with the same
    /// digest plan alike against the same row, so `watch` passes over changed digests only and
    /// the controller's backoff holds back a retry of the same content.
    pub fn digest(&self) -> EntryDigest {
        let mut h = Sha256::new();
        let mut part = |bytes: &[u8]| {
            // Length-prefixed, so that no two different sequences hash alike.
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        part(self.key().namespace.as_bytes());
        part(self.key().name.as_bytes());
        match self {
            Entry::Desired(d) => {
                part(b"desired");
                part(d.spec_sha256.as_bytes());
                part(d.secret_digest.as_bytes());
                part(d.source_path.as_deref().unwrap_or("").as_bytes());
                part(d.origin.as_bytes());
                part(&[u8::from(d.adopt)]);
                part(d.policy.as_str().as_bytes());
                part(&d.generation.unwrap_or(-1).to_be_bytes());
            }
            Entry::Invalid(i) => {
                part(b"invalid");
                part(i.reason.as_str().as_bytes());
                part(i.message.as_bytes());
                part(i.label.as_deref().unwrap_or("").as_bytes());
                part(&i.generation.unwrap_or(-1).to_be_bytes());
            }
            Entry::Gone(g) => {
                part(b"gone");
                part(g.policy.as_str().as_bytes());
            }
        }
        EntryDigest(h.finalize().into())
    }

    /// `metadata.generation`, where known.
    pub fn generation(&self) -> Option<i64> {
        match self {
            Entry::Desired(d) => d.generation,
            Entry::Invalid(i) => i.generation,
            Entry::Gone(_) => None,
        }
    }
}

/// What part of its source a scan covers, which decides what a pass may delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// The whole source: a row whose manifest is not in the scan is deleted.
    Complete,
    /// The whole source, but part of it could not be read: nothing is deleted.
    Incomplete,
    /// Only the scan's own entries (one Kubernetes object): rows of other manifests are neither
    /// deleted nor reported, and their status is left alone.
    Entries,
}

/// The manifest files and directories a file-mode scan read, as absolute paths. A pass prunes
/// only rows whose recorded source lies inside them, as a Flux Kustomization prunes only its own
/// inventory: `apply one.yaml` never deletes what other files declare.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneScope {
    /// Files given as paths.
    pub files: Vec<String>,
    /// Directories given as paths (everything below them).
    pub dirs: Vec<String>,
}

impl PruneScope {
    /// Whether a row recorded from `source` may be pruned by this scan. A row recorded before
    /// sources were kept (`None`) may be pruned only by a scan of a directory.
    pub fn covers(&self, source: Option<&str>) -> bool {
        match source {
            Some(path) => {
                self.files.iter().any(|f| f == path)
                    || self
                        .dirs
                        .iter()
                        .any(|d| std::path::Path::new(path).starts_with(d))
            }
            None => !self.dirs.is_empty(),
        }
    }
}

/// The desired state from one source, as one pass sees it.
#[derive(Clone, Debug)]
pub struct Scan {
    /// Every credential found.
    pub entries: Vec<Entry>,
    /// What the scan covers.
    pub coverage: Coverage,
    /// The paths a file scan read, which limit pruning; `None`: every row of the owner.
    pub scope: Option<PruneScope>,
    /// Problems not tied to one credential (files that do not parse), with their locations.
    pub problems: Vec<Diagnostic>,
}

impl Scan {
    /// A scan of the given entries only (Kubernetes mode: one object).
    pub fn of_entries(entries: Vec<Entry>) -> Scan {
        Scan {
            entries,
            coverage: Coverage::Entries,
            scope: None,
            problems: Vec::new(),
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The spec hash: every non-secret column, normalised, in a fixed order.
pub fn spec_hash(data: &CredentialData, policy: DeletionPolicy) -> String {
    let normalised = serde_json::json!({
        "label": data.label,
        "apiUrl": data.api_url,
        "active": data.active,
        "defaultLocale": data.default_locale,
        "defaultCurrency": data.default_currency,
        "localeMapping": data.locale_mapping,
        "currencyMapping": data.currency_mapping,
        "deletionPolicy": policy.as_str(),
    });
    sha256_hex(normalised.to_string().as_bytes())
}

/// The secret hash: the resolved client ID, client secret and token ("keep" where absent).
pub fn secret_digest(data: &CredentialData) -> String {
    fn exposed(u: &SecretUpdate) -> Option<&str> {
        match u {
            SecretUpdate::Set(v) => Some(v.expose()),
            SecretUpdate::Keep => None,
        }
    }
    crate::crypto::secret_digest(
        data.client_id.as_deref(),
        exposed(&data.client_secret),
        exposed(&data.access_token),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretValue;
    use std::collections::BTreeMap;

    fn data() -> CredentialData {
        CredentialData {
            label: "Shop".into(),
            api_url: "https://api.bigcommerce.com/stores/abc/".into(),
            client_id: None,
            client_secret: SecretUpdate::Keep,
            access_token: SecretUpdate::Set(SecretValue::new("t")),
            active: true,
            default_locale: None,
            default_currency: None,
            locale_mapping: BTreeMap::new(),
            currency_mapping: BTreeMap::new(),
            store_info: None,
        }
    }

    #[test]
    fn hashes_change_with_content_only() {
        let a = data();
        assert_eq!(
            spec_hash(&a, DeletionPolicy::Delete),
            spec_hash(&data(), DeletionPolicy::Delete)
        );
        let mut b = data();
        b.active = false;
        assert_ne!(
            spec_hash(&a, DeletionPolicy::Delete),
            spec_hash(&b, DeletionPolicy::Delete)
        );
        assert_eq!(
            secret_digest(&a),
            secret_digest(&b),
            "the secret hash ignores the spec"
        );
        let mut c = data();
        c.access_token = SecretUpdate::Set(SecretValue::new("u"));
        assert_ne!(secret_digest(&a), secret_digest(&c));
        let mut keep = data();
        keep.access_token = SecretUpdate::Keep;
        assert_ne!(secret_digest(&a), secret_digest(&keep));
        assert_eq!(secret_digest(&a).len(), 64);
    }

    #[test]
    fn source_keys_round_trip() {
        let key = SourceKey::parse("shop/prod").expect("key");
        assert_eq!(key.to_string(), "shop/prod");
        assert!(SourceKey::parse("nokey").is_none());
    }
}

#[cfg(test)]
mod scope_tests {
    use super::PruneScope;

    #[test]
    fn a_scope_covers_its_files_and_what_lies_below_its_directories() {
        let dir = PruneScope {
            files: vec![],
            dirs: vec!["/srv/m".into()],
        };
        assert!(dir.covers(Some("/srv/m/a.yaml")));
        assert!(dir.covers(Some("/srv/m/eu/b.yaml")));
        assert!(
            !dir.covers(Some("/srv/mx/a.yaml")),
            "a prefix is not a parent"
        );
        assert!(!dir.covers(Some("/srv/other/a.yaml")));
        assert!(
            dir.covers(None),
            "a directory pass prunes rows of unknown source"
        );
        let file = PruneScope {
            files: vec!["/srv/m/a.yaml".into()],
            dirs: vec![],
        };
        assert!(file.covers(Some("/srv/m/a.yaml")));
        assert!(!file.covers(Some("/srv/m/b.yaml")));
        assert!(
            !file.covers(None),
            "a single-file pass never prunes rows of unknown source"
        );
    }
}
