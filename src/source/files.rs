//! File mode: a manifest tree becomes a [`Scan`] of desired credentials with resolved secrets.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::discover::MissingPath;
use super::secrets::FileSecrets;
use super::tree::{read_tree, stamp, FileCache, FileStamp};
use crate::diagnostic::Diagnostic;
use crate::manifest::DEFAULT_NAMESPACE;
use crate::model::Reason;
use crate::reconcile::{
    refuse_copied_secrets, Coverage, Entry, Invalid, PruneScope, Scan, SecretHolders, SourceKey,
};
use crate::validate::{Report, ValidCredential, ValidateOptions};
use crate::yaml::Pos;

/// Reads an environment variable for `env:` sources.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A manifest tree on disk: where it is, how it is read, and where its secrets come from.
pub struct FileSource {
    pub(super) paths: Vec<PathBuf>,
    /// The working directory at start: relative paths are resolved against it once, so that
    /// recorded sources stay the same for the life of the process.
    pub(super) cwd: PathBuf,
    pub(super) options: ValidateOptions,
    pub(super) secrets_dir: Option<PathBuf>,
    pub(super) env: EnvLookup,
    pub(super) cache: Option<FileCache>,
    /// Built entries kept between scans with the cache: a credential whose file, Secret
    /// documents and secret files did not change is not resolved and hashed again.
    pub(super) built: HashMap<String, Built>,
    /// What the last full scan knew of the tree, for scans of a few changed files.
    pub(super) index: super::incremental::TreeIndex,
}

/// A credential's entry as the last scan built it, and what it was built from.
pub(super) struct Built {
    /// The manifest file it was built from.
    file: String,
    /// The stamps of its `file:` secrets (None: missing), taken before they were read.
    secret_files: Vec<(PathBuf, Option<FileStamp>)>,
    entry: Entry,
}

impl FileSource {
    /// The manifests under `paths`, with `env:` sources read from the process environment.
    pub fn new(paths: Vec<PathBuf>, options: ValidateOptions) -> FileSource {
        FileSource {
            paths,
            // Without a working directory, relative paths stay relative: they still compare
            // equal within this process.
            cwd: std::env::current_dir().unwrap_or_default(),
            options,
            secrets_dir: None,
            env: Arc::new(|name| std::env::var(name).ok()),
            cache: None,
            built: HashMap::new(),
            index: Default::default(),
        }
    }

    /// Roots `file:` sources at `dir`.
    pub fn with_secrets_dir(mut self, dir: Option<PathBuf>) -> FileSource {
        self.secrets_dir = dir;
        self
    }

    /// Reads `env:` sources through `env` instead of the process environment.
    pub fn with_env(mut self, env: EnvLookup) -> FileSource {
        self.env = env;
        self
    }

    /// Keeps each file's results between scans, so that unchanged files are not read again.
    pub fn cached(mut self) -> FileSource {
        self.cache = Some(FileCache::default());
        self
    }

    /// How many files the cache has read and validated so far (unchanged files are not);
    /// None without a cache.
    pub fn parse_counter(&self) -> Option<Arc<std::sync::atomic::AtomicU64>> {
        self.cache.as_ref().map(FileCache::parsed)
    }

    /// The paths this source reads.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Reads and validates the tree, without resolving any secret (what `validate` needs).
    pub fn read(&mut self) -> Result<Report, MissingPath> {
        read_tree(&self.paths, &self.options, self.cache.as_mut())
    }

    /// Reads the tree into a scan, resolving secrets.
    ///
    /// A path that does not exist (an unmounted volume, a directory being swapped) gives an
    /// incomplete scan, so that nothing is deleted because of it.
    pub fn scan(&mut self) -> Scan {
        match self.read() {
            Ok(report) => {
                // The next read clears the set again; this scan is its only reader.
                let reuse = self.cache.as_mut().map(|c| {
                    if c.secrets_changed {
                        self.built.clear();
                    }
                    std::mem::take(&mut c.changed)
                });
                let mut scan = self.scan_report(&report, reuse.as_ref());
                // Without any clientId there is nothing to compare secrets with (most trees).
                let holders = scan
                    .entries
                    .iter()
                    .any(|e| matches!(e, Entry::Desired(d) if d.data.client_id.is_some()))
                    .then(|| SecretHolders::of(&scan.entries));
                let refused = holders
                    .as_ref()
                    .map_or(0, |h| refuse_copied_secrets(&mut scan.entries, h));
                match &self.cache {
                    Some(cache) => {
                        self.index = super::incremental::TreeIndex::of(
                            &report, &scan, cache, &self.cwd, holders, refused,
                        )
                    }
                    None => self.built.clear(),
                }
                scan
            }
            Err(missing) => Scan {
                entries: Vec::new(),
                coverage: Coverage::Incomplete,
                scope: Some(self.scope()),
                problems: vec![Diagnostic::file(
                    &missing.0,
                    Pos::START,
                    missing.to_string(),
                )],
            },
        }
    }

    /// The given paths as a pruning scope: what is a directory now is a directory scope.
    pub(super) fn scope(&self) -> PruneScope {
        let mut scope = PruneScope::default();
        for path in &self.paths {
            let abs = absolute(&self.cwd, path);
            if path.is_dir() {
                scope.dirs.push(abs);
            } else {
                scope.files.push(abs);
            }
        }
        scope
    }

    /// The scan of `report`; with `changed` (the files read again since the last scan), entries
    /// built before from unchanged files are reused while their secret files are unchanged.
    fn scan_report(&mut self, report: &Report, changed: Option<&HashSet<String>>) -> Scan {
        let env = self.env.clone();
        let secrets = FileSecrets::with_env(&report.secrets, self.secrets_dir.as_deref(), {
            move |name: &str| env(name)
        });
        let mut entries = Vec::new();
        let mut live = HashSet::new();
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
                    reason: Reason::InvalidSpec,
                    message: rejected.message.clone(),
                })),
                // Without a name its row cannot be told apart from a deleted manifest's.
                None => complete = false,
            }
        }
        for cred in &report.credentials {
            let (namespace, name) = cred.key();
            let key = SourceKey { namespace, name };
            let entry = match &cred.conflict {
                Some(message) => {
                    // What was built before the clash is not what the file says after it.
                    self.built.remove(&key.to_string());
                    Entry::Invalid(Invalid {
                        key,
                        label: Some(cred.resource.spec.label.clone()),
                        generation: None,
                        reason: Reason::InvalidSpec,
                        message: message.clone(),
                    })
                }
                None => {
                    let key_text = key.to_string();
                    let unchanged = changed.is_some_and(|c| !c.contains(&cred.doc.file));
                    match self.built.get(&key_text) {
                        Some(built)
                            if unchanged
                                && built.file == cred.doc.file
                                && still_same(&built.secret_files) =>
                        {
                            built.entry.clone()
                        }
                        _ => self.build_entry(cred, key, &secrets),
                    }
                }
            };
            live.insert(entry.key().to_string());
            entries.push(entry);
        }
        self.built.retain(|k, _| live.contains(k));
        Scan {
            entries,
            scope: Some(self.scope()),
            coverage: if complete {
                Coverage::Complete
            } else {
                Coverage::Incomplete
            },
            problems: report.diagnostics.clone(),
        }
    }
}

/// Whether every secret file still has the stamp it had when it was read.
fn still_same(files: &[(PathBuf, Option<FileStamp>)]) -> bool {
    files.iter().all(|(path, was)| stamp(path) == *was)
}

impl FileSource {
    /// Builds `cred`'s entry from its sources; with the cache, records it with the stamps of
    /// its secret files, so that the next scan can reuse it.
    pub(super) fn build_entry(
        &mut self,
        cred: &ValidCredential,
        key: SourceKey,
        secrets: &FileSecrets<'_>,
    ) -> Entry {
        let key_text = key.to_string();
        let secret_files = self.cache.as_ref().and_then(|_| self.secret_stamps(cred));
        let mut entry = desired(cred, key, secrets, &self.options.semantic.allowed_hosts);
        if let Entry::Desired(d) = &mut entry {
            d.source_path = Some(absolute(&self.cwd, Path::new(&cred.doc.file)));
        }
        // An entry that failed (a secret file unreadable for a moment during a rotation) is
        // built again next time, whatever the stamps say.
        match secret_files.filter(|_| matches!(entry, Entry::Desired(_))) {
            Some(secret_files) => {
                let built = Built {
                    file: cred.doc.file.clone(),
                    secret_files,
                    entry: entry.clone(),
                };
                self.built.insert(key_text, built);
            }
            None => {
                self.built.remove(&key_text);
            }
        }
        entry
    }

    /// The stamps of `cred`'s `file:` secrets, taken before they are read (a change while
    /// reading gives a new stamp next time); None when its entry must not be kept: it reads
    /// the environment, which only a new scan can tell changed.
    pub(super) fn secret_stamps(
        &self,
        cred: &ValidCredential,
    ) -> Option<Vec<(PathBuf, Option<FileStamp>)>> {
        let mut out = Vec::new();
        for (_, source) in cred.resource.spec.secret_sources() {
            match source {
                crate::model::SecretSource::File(rel) => {
                    let path = self.secrets_dir.as_ref()?.join(rel);
                    let now = stamp(&path);
                    out.push((path, now));
                }
                crate::model::SecretSource::Env(_) => return None,
                crate::model::SecretSource::SecretKeyRef(_) => {}
            }
        }
        Some(out)
    }
}

/// `path` made absolute against `cwd`, with `.` and `..` resolved lexically (symbolic links are
/// kept as written, so that a git-sync `current` link names the same files across swaps).
pub(super) fn absolute(cwd: &Path, path: &Path) -> String {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in cwd.join(path).components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.to_string_lossy().into_owned()
}

fn desired(
    cred: &ValidCredential,
    key: SourceKey,
    secrets: &FileSecrets<'_>,
    allowed: &[String],
) -> Entry {
    let namespace = key.namespace.clone();
    let lookup = |source: &crate::model::SecretSource| {
        secrets
            .resolve(source, &namespace)
            .map_err(|e| e.to_string())
    };
    let pos = cred.doc.locate(&[]);
    super::build::entry(
        &cred.resource,
        key,
        format!("{}:{}", cred.doc.file, pos.line),
        allowed,
        &lookup,
    )
}
