//! File mode: a manifest tree becomes a [`Scan`] of desired credentials with resolved secrets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::api_url;
use crate::diagnostic::Diagnostic;
use crate::manifest::{FileSecrets, ResolveError, DEFAULT_NAMESPACE};
use crate::model::{
    ClientId, DeletionPolicy, SecretSource, ADOPT_ANNOTATION, DELETION_POLICY_ANNOTATION,
};
use crate::reconcile::{secret_hash, spec_hash, Desired, Entry, Invalid, Scan, SourceKey};
use crate::store::{CredentialData, SecretUpdate};
use crate::validate::{validate_paths, ValidCredential, ValidateOptions};
use crate::yaml::Pos;

/// Reads the tree under `paths` into a scan; `secrets_dir` roots `file:` sources.
///
/// A path that does not exist (an unmounted volume, a directory being swapped) gives an
/// incomplete scan, so that nothing is deleted because of it.
pub fn scan(paths: &[PathBuf], opts: &ValidateOptions, secrets_dir: Option<&Path>) -> Scan {
    let report = match validate_paths(paths, opts) {
        Ok(r) => r,
        Err(missing) => {
            return Scan {
                entries: Vec::new(),
                complete: false,
                problems: vec![Diagnostic::file(
                    &missing.0,
                    Pos::START,
                    missing.to_string(),
                )],
            }
        }
    };
    let secrets = FileSecrets::new(&report.secrets, secrets_dir);
    let mut entries = Vec::new();
    let mut complete = report.unreadable_files == 0;
    for rejected in &report.rejected {
        match &rejected.name {
            Some(name) => entries.push(Entry::Invalid(Invalid {
                key: SourceKey {
                    namespace: rejected
                        .namespace
                        .clone()
                        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
                    name: name.clone(),
                },
                label: rejected.label.clone(),
                generation: None,
                message: rejected.message.clone(),
            })),
            // Without a name its row cannot be told apart from a deleted manifest's.
            None => complete = false,
        }
    }
    let duplicates = duplicate_keys(&report.credentials);
    for cred in &report.credentials {
        let (namespace, name) = cred.key();
        let key = SourceKey { namespace, name };
        let entry = match duplicates.get(&key_of(cred)) {
            Some(message) => Entry::Invalid(Invalid {
                key,
                label: Some(cred.resource.spec.label.clone()),
                generation: None,
                message: message.clone(),
            }),
            None => desired(cred, key, &secrets, &opts.semantic.allowed_hosts),
        };
        entries.push(entry);
    }
    Scan {
        entries,
        complete,
        problems: report.diagnostics,
    }
}

fn key_of(cred: &ValidCredential) -> String {
    let (ns, name) = cred.key();
    format!("{ns}/{name}")
}

/// Credentials sharing a name or a label (ignoring case), each with the same message.
fn duplicate_keys(creds: &[ValidCredential]) -> BTreeMap<String, String> {
    let mut by_name: BTreeMap<String, Vec<&ValidCredential>> = BTreeMap::new();
    let mut by_label: BTreeMap<String, Vec<&ValidCredential>> = BTreeMap::new();
    for c in creds {
        by_name.entry(key_of(c)).or_default().push(c);
        by_label
            .entry(c.resource.spec.label.trim_end().to_lowercase())
            .or_default()
            .push(c);
    }
    let mut out = BTreeMap::new();
    for (what, groups) in [("name", by_name), ("label", by_label)] {
        for (value, group) in groups.into_iter().filter(|(_, g)| g.len() > 1) {
            let files: Vec<String> = group.iter().map(|c| c.doc.file.clone()).collect();
            for c in group {
                out.entry(key_of(c)).or_insert_with(|| {
                    format!(
                        "duplicate {what} `{value}` in {}; neither is applied until it is unique",
                        files.join(", ")
                    )
                });
            }
        }
    }
    out
}

fn resolve(
    secrets: &FileSecrets<'_>,
    source: Option<&SecretSource>,
    namespace: &str,
) -> Result<SecretUpdate, ResolveError> {
    match source {
        None => Ok(SecretUpdate::Keep),
        Some(source) => {
            let value = secrets.resolve(source, namespace)?;
            // `**********` means "keep the stored value", as on the credentials page.
            Ok(if value.is_keep_current() {
                SecretUpdate::Keep
            } else {
                SecretUpdate::Set(value)
            })
        }
    }
}

fn desired(
    cred: &ValidCredential,
    key: SourceKey,
    secrets: &FileSecrets<'_>,
    allowed: &[String],
) -> Entry {
    let spec = &cred.resource.spec;
    let invalid = |message: String| {
        Entry::Invalid(Invalid {
            key: key.clone(),
            label: Some(spec.label.clone()),
            generation: None,
            message,
        })
    };
    let url = match api_url::normalize(&spec.api_url, allowed) {
        Ok(u) => u,
        Err(e) => return invalid(format!("apiUrl {e}")),
    };
    let ns = key.namespace.as_str();
    let client_id = match &spec.client_id {
        None => None,
        Some(ClientId::Plain(s)) => Some(s.clone()),
        Some(ClientId::Source(src)) => match secrets.resolve(src, ns) {
            Ok(v) => Some(v.expose().to_string()),
            Err(e) => return invalid(format!("clientId: {e}")),
        },
    };
    let client_secret = match resolve(secrets, spec.client_secret.as_ref(), ns) {
        Ok(u) => u,
        Err(e) => return invalid(format!("clientSecret: {e}")),
    };
    let access_token = match resolve(secrets, spec.access_token.as_ref(), ns) {
        Ok(u) => u,
        Err(e) => return invalid(format!("accessToken: {e}")),
    };
    let annotations = cred
        .resource
        .metadata
        .annotations
        .clone()
        .unwrap_or_default();
    let policy = annotations
        .get(DELETION_POLICY_ANNOTATION)
        .map_or(DeletionPolicy::Delete, |v| DeletionPolicy::parse(v));
    let data = CredentialData {
        label: spec.label.clone(),
        api_url: url.normalized,
        client_id,
        client_secret,
        access_token,
        active: spec.active,
        default_locale: spec.default_locale.clone(),
        default_currency: spec.default_currency.clone(),
        locale_mapping: spec.locale_mapping.clone(),
        currency_mapping: spec.currency_mapping.clone(),
        store_info: None,
    };
    let (line, _) = cred.doc.root.locate(&[]);
    Entry::Desired(Box::new(Desired {
        origin: format!("{}:{}", cred.doc.file, line.line),
        generation: cred.resource.metadata.generation,
        spec_sha256: spec_hash(&data, policy),
        secret_sha256: secret_hash(&data),
        data,
        store_hash: url.store_hash,
        policy,
        adopt: annotations
            .get(ADOPT_ANNOTATION)
            .is_some_and(|v| v == "true"),
        key,
    }))
}
