//! Scans of the few files a watcher reports changed, without walking the tree: what `watch`
//! does on an edit. Only the simple case is taken this way (files that stay clean and keep
//! their credentials, labels that stay unique, no Secret documents involved); anything else
//! asks for a full scan, which decides conflicts, diagnostics and deletions for the whole tree.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::discover::is_manifest_name;
use super::files::{absolute, FileSource};
use super::secrets::FileSecrets;
use super::tree::{read_file, stamp, FileCache};
use crate::manifest::SecretDoc;
use crate::model::SecretSource;
use crate::reconcile::{refuse_copied_secrets, Coverage, Entry, Scan, SecretHolders, SourceKey};
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
    /// Every credential's resolved secrets and clientId, by digest, so that a changed clientId
    /// is checked against the whole tree's secrets, as a full scan checks it; None when no
    /// credential had a clientId (a change that brings one asks for a full scan).
    holders: Option<SecretHolders>,
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
    /// `refused` clientIds that copy a secret make it not ready: which of them a change frees
    /// only a full scan can tell.
    pub(super) fn of(
        report: &Report,
        scan: &Scan,
        cache: &FileCache,
        cwd: &Path,
        holders: Option<SecretHolders>,
        refused: usize,
    ) -> TreeIndex {
        let ready = scan.coverage == Coverage::Complete
            && refused == 0
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
            holders,
            ..TreeIndex::default()
        };
        for cred in &report.credentials {
            let label = crate::model::label_key(&cred.resource.spec.label);
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
                let label = crate::model::label_key(&cred.resource.spec.label);
                let owner = self.index.key_of_label.get(&label);
                if owner.is_some_and(|k| *k != key)
                    || taken.insert(label, key.clone()).is_some_and(|k| k != key)
                {
                    return None;
                }
            }
        }
        self.take_changed(fresh)
    }

    /// Records the changed files as a full scan would, and builds their entries.
    fn take_changed(
        &mut self,
        fresh: Vec<(PathBuf, super::tree::FileStamp, Report)>,
    ) -> Option<Scan> {
        let env = self.env.clone();
        let secrets = self.index.secrets.clone();
        let lookup = FileSecrets::with_env(&secrets, self.secrets_dir.as_deref(), {
            move |name: &str| env(name)
        });
        let mut entries = Vec::new();
        for (file, now, report) in fresh {
            for cred in &report.credentials {
                let key = key_text(cred);
                let label = crate::model::label_key(&cred.resource.spec.label);
                if let Some(old) = self.index.label_of.insert(key.clone(), label.clone()) {
                    self.index.key_of_label.remove(&old);
                }
                self.index.key_of_label.insert(label, key);
                let (namespace, name) = cred.key();
                entries.push(self.build_entry(cred, SourceKey { namespace, name }, &lookup));
            }
            if let Some(cache) = self.cache.as_mut() {
                cache.files.insert(file, (now, report));
            }
        }
        for entry in &entries {
            let Entry::Desired(d) = entry else { continue };
            let Some(holders) = self.index.holders.as_mut() else {
                // The tree had no clientId: one that arrives needs every secret, which a full
                // scan collects (the cache taken above serves it).
                if d.data.client_id.is_some() {
                    self.index.ready = false;
                    return None;
                }
                continue;
            };
            // A new secret equal to an unchanged credential's clientId refuses that one: only
            // a full scan passes over it.
            if holders.copied_by_another(d) {
                self.index.ready = false;
                return None;
            }
            holders.record(d);
        }
        let refused = self
            .index
            .holders
            .as_ref()
            .map_or(0, |h| refuse_copied_secrets(&mut entries, h));
        if refused > 0 {
            // Which refusal a later change lifts only a full scan can tell.
            self.index.ready = false;
        }
        Some(Scan {
            entries,
            coverage: Coverage::Entries,
            scope: Some(self.scope()),
            problems: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Entry;
    use crate::validate::ValidateOptions;

    fn manifest(name: &str, label: &str) -> String {
        format!(
            "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\nmetadata:\n  name: {name}\nspec:\n  label: {label}\n  apiUrl: https://api.bigcommerce.com/stores/abc123/\n  accessToken:\n    file: tok\n"
        )
    }

    struct Tree {
        dir: tempfile::TempDir,
        source: FileSource,
    }

    impl Tree {
        /// Three clean manifests a, b, c, fully scanned once.
        fn new() -> Tree {
            let dir = tempfile::tempdir().expect("tmp");
            std::fs::create_dir(dir.path().join("m")).expect("mkdir");
            std::fs::write(dir.path().join("tok"), "t").expect("tok");
            for n in ["a", "b", "c"] {
                std::fs::write(dir.path().join(format!("m/{n}.yaml")), manifest(n, n)).expect("w");
            }
            let mut source =
                FileSource::new(vec![dir.path().join("m")], ValidateOptions::default())
                    .with_secrets_dir(Some(dir.path().to_path_buf()))
                    .cached();
            let scan = source.scan();
            assert_eq!(scan.entries.len(), 3);
            Tree { dir, source }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join("m").join(name)
        }

        /// Writes a file with a new inode, as editors save, so that its stamp surely changes.
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let tmp = self.dir.path().join("m").join(".tmp");
            std::fs::write(&tmp, text).expect("w");
            std::fs::rename(&tmp, self.path(name)).expect("rename");
            self.path(name)
        }
    }

    fn labels(scan: &Scan) -> Vec<String> {
        scan.entries
            .iter()
            .map(|e| match e {
                Entry::Desired(d) => d.data.label.clone(),
                other => panic!("not desired: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn an_edited_file_is_scanned_alone_and_a_full_scan_agrees_afterwards() {
        let mut t = Tree::new();
        let b = t.write("b.yaml", &manifest("b", "B edited"));
        let few = t.source.scan_changed(&[b]).expect("a scan of the edit");
        assert_eq!(few.coverage, Coverage::Entries);
        assert_eq!(labels(&few), ["B edited"]);
        // Labels are unique again by the edit: taking b's old label is now fine.
        let c = t.write("c.yaml", &manifest("c", "b"));
        assert_eq!(labels(&t.source.scan_changed(&[c]).expect("a scan")), ["b"]);
        let full = t.source.scan();
        assert_eq!(labels(&full), ["a", "B edited", "b"]);
        assert!(full.problems.is_empty());
    }

    #[test]
    fn anything_beyond_a_clean_edit_asks_for_a_full_scan() {
        // A label another credential has (case aside).
        let mut t = Tree::new();
        let b = t.write("b.yaml", &manifest("b", "A"));
        assert!(t.source.scan_changed(&[b]).is_none());
        assert_eq!(t.source.scan().problems.len(), 2, "the clash, both ends");

        // A renamed credential, a file gone, a new file, a Secret document.
        for change in ["rename", "gone", "new", "secret"] {
            let mut t = Tree::new();
            let path = match change {
                "rename" => t.write("b.yaml", &manifest("b2", "b")),
                "gone" => {
                    std::fs::remove_file(t.path("b.yaml")).expect("rm");
                    t.path("b.yaml")
                }
                "new" => t.write("d.yaml", &manifest("d", "d")),
                _ => t.write(
                    "b.yaml",
                    &format!(
                        "{}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: v\n",
                        manifest("b", "b")
                    ),
                ),
            };
            assert!(t.source.scan_changed(&[path]).is_none(), "{change}");
        }

        // Once the tree has a problem, until a full scan finds it clean again.
        let mut t = Tree::new();
        t.write(
            "bad.yaml",
            "kind: BigCommerceCredential\nmetadata: {name: x}\n",
        );
        assert!(!t.source.scan().problems.is_empty());
        let a = t.write("a.yaml", &manifest("a", "A2"));
        assert!(t.source.scan_changed(&[a]).is_none());
        std::fs::remove_file(t.path("bad.yaml")).expect("rm");
        assert!(t.source.scan().problems.is_empty());
        let a = t.write("a.yaml", &manifest("a", "A3"));
        assert_eq!(
            labels(&t.source.scan_changed(&[a]).expect("clean again")),
            ["A3"]
        );
    }

    #[test]
    fn an_edit_compares_labels_as_the_tree_check_does() {
        // "a " is "a" to the tree check (and to MySQL's collation): an edit taking it clashes.
        let mut t = Tree::new();
        let b = t.write("b.yaml", &manifest("b", "\"A \""));
        assert!(t.source.scan_changed(&[b]).is_none());
        assert_eq!(t.source.scan().problems.len(), 2, "the clash, both ends");
    }

    #[test]
    fn a_chmod_changes_the_stamp() {
        use std::os::unix::fs::PermissionsExt;
        let t = Tree::new();
        let a = t.path("a.yaml");
        let before = super::super::tree::stamp(&a);
        // File times move in clock ticks of a few milliseconds.
        std::thread::sleep(std::time::Duration::from_millis(30));
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_ne!(
            super::super::tree::stamp(&a),
            before,
            "a chmod can make a file readable"
        );
    }

    #[test]
    fn a_file_that_could_not_be_read_is_read_again_by_the_next_scan() {
        let t = Tree::new();
        // Every manifest is over the size limit: none can be read.
        let options = ValidateOptions {
            max_file_size: 16,
            ..ValidateOptions::default()
        };
        let mut source = FileSource::new(vec![t.dir.path().join("m")], options)
            .with_secrets_dir(Some(t.dir.path().to_path_buf()))
            .cached();
        let parsed = source.parse_counter().expect("a cache");
        assert_eq!(source.scan().coverage, Coverage::Incomplete);
        let first = parsed.load(Ordering::Relaxed);
        source.scan();
        assert_eq!(
            parsed.load(Ordering::Relaxed),
            first * 2,
            "each unreadable file is read again"
        );
    }

    #[test]
    fn an_entry_whose_secret_could_not_be_read_is_built_again_by_the_next_scan() {
        let mut t = Tree::new();
        t.write(
            "a.yaml",
            &manifest("a", "a").replace("file: tok", "file: later"),
        );
        let scan = t.source.scan();
        assert!(
            scan.entries.iter().any(|e| matches!(e, Entry::Invalid(_))),
            "{scan:?}"
        );
        assert!(
            !t.source.built.contains_key("default/a"),
            "a failed entry is not kept for the next scan"
        );
        std::fs::write(t.dir.path().join("later"), "t").expect("secret");
        assert_eq!(labels(&t.source.scan()), ["a", "b", "c"]);
    }

    #[test]
    fn a_clash_leaves_no_entry_behind_for_after_it_is_fixed() {
        // b takes a's label (both fail), then a's label is fixed: b is what its file says.
        let mut t = Tree::new();
        t.write("b.yaml", &manifest("b", "a"));
        assert_eq!(t.source.scan().problems.len(), 2);
        t.write("a.yaml", &manifest("a", "A fixed"));
        assert_eq!(labels(&t.source.scan()), ["A fixed", "a", "c"]);

        // A second file declares b (both fail), then the first is deleted: b is the second's.
        let mut t = Tree::new();
        t.write("b2.yaml", &manifest("b", "b"));
        assert!(!t.source.scan().problems.is_empty());
        std::fs::remove_file(t.path("b.yaml")).expect("rm");
        let scan = t.source.scan();
        let b = scan
            .entries
            .iter()
            .find_map(|e| match e {
                Entry::Desired(d) if d.key.name == "b" => Some(d),
                _ => None,
            })
            .expect("b");
        assert!(
            b.source_path
                .as_deref()
                .is_some_and(|p| p.ends_with("b2.yaml")),
            "{:?}",
            b.source_path
        );
    }

    fn refused(scan: &Scan) -> Vec<String> {
        scan.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Invalid(i) if i.message.contains("clientId equals a secret") => {
                    Some(i.key.name.clone())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_client_id_copying_a_secret_is_refused_by_an_edit_as_by_a_full_scan() {
        // A tree with a clientId already: the edit is checked against every secret.
        let mut t = Tree::new();
        t.write(
            "c.yaml",
            &format!("{}  clientId: client-c\n", manifest("c", "c")),
        );
        assert!(refused(&t.source.scan()).is_empty());
        let copy = format!("{}  clientId:\n    file: tok\n", manifest("a", "a"));
        let a = t.write("a.yaml", &copy);
        let few = t.source.scan_changed(&[a]).expect("a scan of the edit");
        assert_eq!(refused(&few), ["a"]);
        // Until a full scan, every change is passed in full: only it can lift a refusal.
        let b = t.write("b.yaml", &manifest("b", "b2"));
        assert!(t.source.scan_changed(&[b]).is_none());
        assert_eq!(refused(&t.source.scan()), ["a"]);
        let a = t.write("a.yaml", &manifest("a", "a"));
        assert!(t.source.scan_changed(&[a]).is_none());
        assert!(refused(&t.source.scan()).is_empty());

        // A tree without any clientId keeps no digests; the first clientId asks for a full scan.
        let mut t = Tree::new();
        let a = t.write("a.yaml", &copy);
        assert!(t.source.scan_changed(&[a]).is_none());
        assert_eq!(refused(&t.source.scan()), ["a"]);
    }

    #[test]
    fn a_secret_that_becomes_another_credentials_client_id_asks_for_a_full_scan() {
        let mut t = Tree::new();
        std::fs::write(t.dir.path().join("other"), "client-x").expect("w");
        let with_id = format!("{}  clientId: client-x\n", manifest("a", "a"));
        t.write("a.yaml", &with_id);
        assert!(refused(&t.source.scan()).is_empty());
        // b's token is now a's clientId: a, which did not change, must be refused.
        let b = t.write(
            "b.yaml",
            &manifest("b", "b").replace("file: tok", "file: other"),
        );
        assert!(t.source.scan_changed(&[b]).is_none());
        assert_eq!(refused(&t.source.scan()), ["a"]);
    }

    #[test]
    fn a_rotated_secret_file_is_read_again_by_the_next_scan() {
        let mut t = Tree::new();
        let before = t.source.scan();
        let tmp = t.dir.path().join(".tok");
        std::fs::write(&tmp, "t2").expect("w");
        std::fs::rename(&tmp, t.dir.path().join("tok")).expect("rename");
        let after = t.source.scan();
        let digest = |s: &Scan| match &s.entries[0] {
            Entry::Desired(d) => d.secret_digest.clone(),
            other => panic!("{other:?}"),
        };
        assert_ne!(digest(&before), digest(&after));
    }
}

#[cfg(test)]
#[path = "incremental_property.rs"]
mod property;
