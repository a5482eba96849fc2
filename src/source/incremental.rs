//! Scans of the few files a watcher reports changed, without walking the tree: what `watch`
//! does on an edit. Only the simple case is taken this way (files that stay clean and keep
//! their credentials, labels that stay unique, no Secret documents involved); anything else
//! asks for a full scan, which decides conflicts, diagnostics and deletions for the whole tree.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::discover::is_manifest_name;
use super::files::{absolute, desired, Built, FileSource};
use super::secrets::FileSecrets;
use super::tree::{read_file, stamp, FileCache};
use crate::manifest::SecretDoc;
use crate::model::SecretSource;
use crate::reconcile::{Coverage, Entry, Scan, SourceKey};
use crate::validate::{Report, ValidCredential};

/// What the last full scan knew of a clean tree; not `ready` when the tree was not clean.
#[derive(Debug, Default)]
pub struct TreeIndex {
    ready: bool,
    /// The cache's path of each manifest file, by absolute path.
    files: HashMap<String, PathBuf>,
    /// The lowercased label of each credential, and the credential of each such label.
    label_of: HashMap<String, String>,
    key_of_label: HashMap<String, String>,
    /// Every Secret document of the tree, for secretKeyRefs (none in the changed files).
    secrets: Vec<SecretDoc>,
}

fn key_text(cred: &ValidCredential) -> String {
    let (namespace, name) = cred.key();
    SourceKey { namespace, name }.to_string()
}

fn uses_secret_docs(cred: &ValidCredential) -> bool {
    cred.resource
        .spec
        .secret_sources()
        .any(|(_, s)| matches!(s, SecretSource::SecretKeyRef(_)))
}

/// Whether a file's report can be taken on its own: nothing in it needs the whole tree.
fn clean(report: &Report) -> bool {
    report.diagnostics.is_empty()
        && report.unreadable_files == 0
        && report.rejected.is_empty()
        && report.secrets.is_empty()
        && report.credentials.iter().all(|c| !uses_secret_docs(c))
}

impl TreeIndex {
    /// The index of a full scan: ready only when the tree was complete and clean.
    pub(super) fn of(report: &Report, scan: &Scan, cache: &FileCache, cwd: &Path) -> TreeIndex {
        let ready = scan.coverage == Coverage::Complete
            && report.diagnostics.is_empty()
            && report.rejected.is_empty()
            && report.credentials.iter().all(|c| c.conflict.is_none());
        if !ready {
            return TreeIndex::default();
        }
        let mut index = TreeIndex {
            ready,
            files: cache
                .files
                .keys()
                .map(|p| (absolute(cwd, p), p.clone()))
                .collect(),
            secrets: report.secrets.clone(),
            ..TreeIndex::default()
        };
        for cred in &report.credentials {
            let label = cred.resource.spec.label.to_lowercase();
            let key = key_text(cred);
            index.key_of_label.insert(label.clone(), key.clone());
            index.label_of.insert(key, label);
        }
        index
    }
}

impl FileSource {
    /// A scan of only the credentials in `paths` (files a watcher reported changed), or None
    /// when only a full scan will do: the last full scan found problems, a file is new or
    /// gone, a credential was added, removed or renamed, a label now clashes, or Secret
    /// documents are involved.
    pub fn scan_changed(&mut self, paths: &[PathBuf]) -> Option<Scan> {
        let cache = self.cache.as_ref()?;
        if !self.index.ready {
            return None;
        }
        let mut fresh = Vec::new();
        let wanted: BTreeSet<&PathBuf> = paths.iter().filter(|p| is_manifest_name(p)).collect();
        for path in wanted {
            let file = self.index.files.get(&absolute(&self.cwd, path))?;
            let now = stamp(file)?;
            let (was, old) = cache.files.get(file)?;
            if *was == now {
                continue;
            }
            cache.parsed.fetch_add(1, Ordering::Relaxed);
            let report = read_file(file, &self.options);
            if !clean(&report) || !clean(old) {
                return None;
            }
            let keys = |r: &Report| {
                let mut keys: Vec<String> = r.credentials.iter().map(key_text).collect();
                keys.sort();
                keys
            };
            if keys(&report) != keys(old) {
                return None;
            }
            fresh.push((file.clone(), now, report));
        }
        // Labels stay unique: each new label is free, or already this credential's.
        let mut taken: HashMap<String, String> = HashMap::new();
        for (_, _, report) in &fresh {
            for cred in &report.credentials {
                let key = key_text(cred);
                let label = cred.resource.spec.label.to_lowercase();
                let owner = self.index.key_of_label.get(&label);
                if owner.is_some_and(|k| *k != key)
                    || taken.insert(label, key.clone()).is_some_and(|k| k != key)
                {
                    return None;
                }
            }
        }
        Some(self.take_changed(fresh))
    }

    /// Records the changed files as a full scan would, and builds their entries.
    fn take_changed(&mut self, fresh: Vec<(PathBuf, super::tree::FileStamp, Report)>) -> Scan {
        let env = self.env.clone();
        let secrets = self.index.secrets.clone();
        let lookup = FileSecrets::with_env(&secrets, self.secrets_dir.as_deref(), {
            move |name: &str| env(name)
        });
        let mut entries = Vec::new();
        for (file, now, report) in fresh {
            for cred in &report.credentials {
                let key = key_text(cred);
                let label = cred.resource.spec.label.to_lowercase();
                if let Some(old) = self.index.label_of.insert(key.clone(), label.clone()) {
                    self.index.key_of_label.remove(&old);
                }
                self.index.key_of_label.insert(label, key.clone());
                let secret_files = self.secret_stamps(cred);
                let (namespace, name) = cred.key();
                let mut entry = desired(
                    cred,
                    SourceKey { namespace, name },
                    &lookup,
                    &self.options.semantic.allowed_hosts,
                );
                if let Entry::Desired(d) = &mut entry {
                    d.source_path = Some(absolute(&self.cwd, Path::new(&cred.doc.file)));
                }
                match secret_files {
                    Some(secret_files) => {
                        let built = Built {
                            secret_files,
                            entry: entry.clone(),
                        };
                        self.built.insert(key, built);
                    }
                    None => {
                        self.built.remove(&key);
                    }
                }
                entries.push(entry);
            }
            if let Some(cache) = self.cache.as_mut() {
                cache.files.insert(file, (now, report));
            }
        }
        Scan {
            entries,
            coverage: Coverage::Entries,
            scope: Some(self.scope()),
            problems: Vec::new(),
        }
    }
}
