//! File mode: a manifest tree becomes a [`Scan`] of desired credentials with resolved secrets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::manifest::{FileSecrets, DEFAULT_NAMESPACE};
use crate::model::SecretSource;
use crate::reconcile::{Entry, Invalid, Scan, SourceKey};
use crate::validate::{validate_paths_cached, FileCache, ValidCredential, ValidateOptions};
use crate::yaml::Pos;

/// Reads the tree under `paths` into a scan; `secrets_dir` roots `file:` sources.
///
/// A path that does not exist (an unmounted volume, a directory being swapped) gives an
/// incomplete scan, so that nothing is deleted because of it.
pub fn scan(paths: &[PathBuf], opts: &ValidateOptions, secrets_dir: Option<&Path>) -> Scan {
    scan_cached(paths, opts, secrets_dir, None)
}

/// As [`scan`], reusing the validation of files unchanged since the last scan (`watch`).
pub fn scan_cached(
    paths: &[PathBuf],
    opts: &ValidateOptions,
    secrets_dir: Option<&Path>,
    cache: Option<&mut FileCache>,
) -> Scan {
    let report = match validate_paths_cached(paths, opts, cache) {
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
                partial: false,
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
        partial: false,
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

fn desired(
    cred: &ValidCredential,
    key: SourceKey,
    secrets: &FileSecrets<'_>,
    allowed: &[String],
) -> Entry {
    let namespace = key.namespace.clone();
    let lookup = |source: &SecretSource| {
        secrets
            .resolve(source, &namespace)
            .map_err(|e| e.to_string())
    };
    let (pos, _) = cred.doc.root.locate(&[]);
    super::build::entry(
        &cred.resource,
        key,
        format!("{}:{}", cred.doc.file, pos.line),
        allowed,
        &lookup,
    )
}
