//! The set of watched directories, (re)established from the tree the way a rescan walks it.
//!
//! Every directory is watched on its own (non-recursively), so that `.git` and `..*` are never
//! watched, symlinked directories are followed like the rescan follows them, and a directory that
//! now names another inode (a swapped link, a directory recreated) is watched again.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use notify::{RecursiveMode, Watcher};
use walkdir::WalkDir;

use super::filter::{is_manifest_name, Entry, Lookup};

/// The notify watcher doing the actual watching (inotify, or polling).
pub(crate) type Backend = Box<dyn Watcher + Send>;

/// A directory's identity, to tell a swapped or recreated directory from the one we watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DirId {
    dev: u64,
    ino: u64,
}

#[cfg(unix)]
fn identity(meta: &fs::Metadata) -> Option<DirId> {
    use std::os::unix::fs::MetadataExt;
    Some(DirId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

#[cfg(not(unix))]
fn identity(_meta: &fs::Metadata) -> Option<DirId> {
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RootState {
    Initial,
    Missing,
    Present { id: Option<DirId> },
}

/// What went wrong while (re)establishing the watches; nothing here stops watching.
#[derive(Debug, Default)]
pub(crate) struct SyncReport {
    /// Watching the root itself failed (it exists, so this is not "missing").
    pub root_error: Option<notify::Error>,
    /// The watch limit was reached; the directories after this one are not watched.
    pub limit: Option<notify::Error>,
    /// The root's parent could not be watched, so a swap of the root is seen at resync only.
    pub parent_error: Option<notify::Error>,
}

/// The watched tree: its root, the root's parent (inotify only) and every watched directory.
pub(crate) struct Tree {
    root: PathBuf,
    parent: Option<PathBuf>,
    parent_watched: bool,
    backend: Backend,
    dirs: HashMap<PathBuf, Option<DirId>>,
    state: RootState,
    /// An event said the root (or an ancestor) went away, even if a new one stands there now.
    root_lost: bool,
    /// The root came back since the last [`Tree::take_recovered`].
    recovered: bool,
    /// The files outside the tree that its manifests link to (canonical paths); their
    /// directories are watched too, since edits of a linked file happen there.
    targets: HashSet<PathBuf>,
}

impl Tree {
    /// A tree with nothing watched yet; `parent` is watched for the root's own replacement.
    pub(crate) fn new(root: PathBuf, parent: Option<PathBuf>, backend: Backend) -> Self {
        Tree {
            root,
            parent,
            parent_watched: false,
            backend,
            dirs: HashMap::new(),
            state: RootState::Initial,
            root_lost: false,
            recovered: false,
            targets: HashSet::new(),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Whether nothing would tell us that the missing root came back, so it must be polled for.
    pub(crate) fn needs_probe(&self) -> bool {
        self.state == RootState::Missing && !self.parent_watched
    }

    pub(crate) fn root_missing(&self) -> bool {
        self.state == RootState::Missing
    }

    /// Whether the root came back since the last call.
    pub(crate) fn take_recovered(&mut self) -> bool {
        std::mem::take(&mut self.recovered)
    }

    /// Mirrors what notify does on removals and renames: it drops the watches at and below the
    /// path, so they must be added again even if the same inode turns up there again.
    pub(crate) fn note(&mut self, event: &notify::Event) {
        use notify::event::{EventKind, ModifyKind, RenameMode};
        let gone: &[PathBuf] = match event.kind {
            EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Name(
                RenameMode::From | RenameMode::Any | RenameMode::Other,
            )) => &event.paths,
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                event.paths.get(..1).unwrap_or_default()
            }
            _ => &[],
        };
        for path in gone {
            self.forget(path);
        }
    }

    fn forget(&mut self, path: &Path) {
        self.dirs.retain(|dir, _| !dir.starts_with(path));
        if self.root.starts_with(path) {
            self.root_lost = true;
        }
        if self.parent.as_deref().is_some_and(|p| p.starts_with(path)) {
            self.parent_watched = false;
        }
    }

    /// Drops every watch, for when events were lost and nothing we know can be trusted.
    pub(crate) fn forget_all(&mut self) {
        self.unwatch_all();
        self.parent_watched = false;
    }

    fn unwatch_all(&mut self) {
        for (dir, _) in self.dirs.drain() {
            // Fails when notify already dropped it (the directory is gone); that is the goal.
            let _ = self.backend.unwatch(&dir);
        }
    }

    /// Walks the tree as a rescan does and makes the watches match it.
    pub(crate) fn sync(&mut self) -> SyncReport {
        let mut report = SyncReport::default();
        if let (Some(parent), false) = (&self.parent, self.parent_watched) {
            let _ = self.backend.unwatch(parent);
            match self.backend.watch(parent, RecursiveMode::NonRecursive) {
                Ok(()) => self.parent_watched = true,
                Err(e) => report.parent_error = Some(e),
            }
        }

        let Some(meta) = fs::metadata(&self.root).ok().filter(|m| m.is_dir()) else {
            self.unwatch_all();
            if self.state != RootState::Missing {
                tracing::warn!(
                    "{} is missing; watching for it to come back",
                    self.root.display()
                );
            }
            self.state = RootState::Missing;
            self.root_lost = false;
            return report;
        };
        let id = identity(&meta);
        let is_link = fs::symlink_metadata(&self.root).is_ok_and(|m| m.file_type().is_symlink());
        // A link pointing elsewhere is an update (git-sync); a directory that is not the one we
        // watched was deleted and recreated.
        let recovered = match self.state {
            RootState::Initial => false,
            RootState::Missing => true,
            RootState::Present { id: old } => !is_link && (old != id || self.root_lost),
        };
        self.state = RootState::Present { id };
        self.root_lost = false;
        if recovered {
            tracing::info!("{} is back; watching it again", self.root.display());
            self.recovered = true;
        }

        let (wanted, targets) = self.walk();
        self.targets = targets;
        let keep: HashSet<&PathBuf> = wanted.iter().map(|(p, _)| p).collect();
        let stale: Vec<PathBuf> = self
            .dirs
            .keys()
            .filter(|p| !keep.contains(p))
            .cloned()
            .collect();
        for dir in stale {
            let _ = self.backend.unwatch(&dir);
            self.dirs.remove(&dir);
        }
        for (dir, id) in wanted {
            if self.dirs.get(&dir) == Some(&id) {
                continue;
            }
            // notify keys watches by path: a watch of the old inode under this path must go
            // first, or its later removal would take the new one with it.
            let _ = self.backend.unwatch(&dir);
            self.dirs.remove(&dir);
            match self.backend.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.dirs.insert(dir, id);
                }
                Err(e) if super::is_watch_limit(&e) => {
                    report.limit = Some(e);
                    break;
                }
                Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => {
                    // Removed since the walk; its removal is an event of its own.
                    tracing::debug!("not watching {}: gone", dir.display());
                }
                Err(e) if dir == self.root => report.root_error = Some(e),
                Err(e) => tracing::warn!("cannot watch {}: {e}", dir.display()),
            }
        }
        report
    }

    /// The directories a rescan would enter, each inode once (the first path in name order),
    /// then the directories of files outside the tree that manifests link to, with those files.
    fn walk(&self) -> (Vec<(PathBuf, Option<DirId>)>, HashSet<PathBuf>) {
        let mut wanted = Vec::new();
        let mut seen = HashSet::new();
        let mut linked = Vec::new();
        let mut entries = WalkDir::new(&self.root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !is_skipped(e.file_name()));
        while let Some(entry) = entries.next() {
            match entry {
                Ok(entry) if entry.file_type().is_dir() => {
                    let id = entry.metadata().ok().and_then(|m| identity(&m));
                    if id.is_some_and(|id| !seen.insert(id)) {
                        // Another path to a directory already watched (a link into the tree).
                        entries.skip_current_dir();
                        continue;
                    }
                    wanted.push((entry.into_path(), id));
                }
                Ok(entry) if entry.path_is_symlink() && is_manifest_name(entry.file_name()) => {
                    if let Ok(target) = fs::canonicalize(entry.path()) {
                        linked.push(target);
                    }
                }
                Ok(_) => {}
                // Symlink loops and unreadable directories: the rescan reports them.
                Err(e) => tracing::debug!("not watching below: {e}"),
            }
        }
        let root = fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        let mut targets = HashSet::new();
        for target in linked {
            if target.starts_with(&root) {
                continue;
            }
            if let Some(dir) = target.parent() {
                let id = fs::metadata(dir).ok().and_then(|m| identity(&m));
                if id.is_none_or(|id| seen.insert(id)) {
                    wanted.push((dir.to_path_buf(), id));
                }
            }
            targets.insert(target);
        }
        (wanted, targets)
    }
}

impl Lookup for Tree {
    fn entry(&self, path: &Path) -> Entry {
        match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => Entry::Symlink,
            Ok(m) if m.is_dir() => Entry::Dir,
            Ok(_) => Entry::File,
            Err(_) => Entry::Missing,
        }
    }

    fn watched_dir(&self, path: &Path) -> bool {
        self.dirs.contains_key(path)
    }

    fn links_here(&self, path: &Path) -> bool {
        self.targets.contains(path)
    }
}

/// What the rescan skips (`manifest::files`): `.git` and Kubernetes' `..*` volume internals.
fn is_skipped(name: &OsStr) -> bool {
    name == ".git" || name.as_encoded_bytes().starts_with(b"..")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records what the tree asks of notify.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Watcher for Recorder {
        fn new<F: notify::EventHandler>(_: F, _: notify::Config) -> notify::Result<Self> {
            Ok(Recorder::default())
        }
        fn watch(&mut self, path: &Path, _: RecursiveMode) -> notify::Result<()> {
            self.0.lock().unwrap().push(format!("+{}", path.display()));
            Ok(())
        }
        fn unwatch(&mut self, path: &Path) -> notify::Result<()> {
            self.0.lock().unwrap().push(format!("-{}", path.display()));
            Ok(())
        }
        fn kind() -> notify::WatcherKind {
            notify::WatcherKind::NullWatcher
        }
    }

    fn added(log: &Recorder, base: &Path) -> Vec<String> {
        let mut out: Vec<String> = log
            .0
            .lock()
            .unwrap()
            .drain(..)
            .filter_map(|l| l.strip_prefix('+').map(str::to_string))
            .map(|p| p.replace(&base.display().to_string(), ""))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn watches_what_a_rescan_enters_once_per_directory() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("m");
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::create_dir_all(root.join(".git/objects/ab")).unwrap();
        fs::create_dir_all(root.join("..2026_01_01/sub")).unwrap();
        std::os::unix::fs::symlink("..2026_01_01", root.join("..data")).unwrap();
        std::os::unix::fs::symlink("a", root.join("z-alias")).unwrap();
        fs::create_dir_all(base.path().join("outside")).unwrap();
        std::os::unix::fs::symlink("../outside", root.join("linked")).unwrap();
        let log = Recorder::default();
        let mut tree = Tree::new(
            root.clone(),
            Some(base.path().to_path_buf()),
            Box::new(log.clone()),
        );

        let report = tree.sync();
        assert!(report.root_error.is_none() && report.limit.is_none());
        assert_eq!(
            added(&log, base.path()),
            ["", "/m", "/m/a", "/m/a/b", "/m/linked"]
        );
    }

    #[test]
    fn a_manifest_linked_from_outside_has_its_directory_watched() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("m");
        let outside = base.path().join("elsewhere");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("prod.yaml"), "x").unwrap();
        std::os::unix::fs::symlink(outside.join("prod.yaml"), root.join("a.yaml")).unwrap();
        let log = Recorder::default();
        let mut tree = Tree::new(root.clone(), None, Box::new(log.clone()));
        tree.sync();
        assert_eq!(added(&log, base.path()), ["/elsewhere", "/m"]);
        let target = fs::canonicalize(outside.join("prod.yaml")).unwrap();
        assert!(tree.links_here(&target));
        assert!(!tree.links_here(&outside.join("other.yaml")));
    }

    #[test]
    fn a_second_sync_changes_nothing_unless_a_directory_changed() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("m");
        fs::create_dir_all(root.join("a")).unwrap();
        let log = Recorder::default();
        let mut tree = Tree::new(root.clone(), None, Box::new(log.clone()));
        tree.sync();
        added(&log, base.path());

        tree.sync();
        assert!(added(&log, base.path()).is_empty());

        fs::remove_dir(root.join("a")).unwrap();
        fs::create_dir(root.join("a")).unwrap();
        fs::create_dir(root.join("new")).unwrap();
        tree.sync();
        let now = added(&log, base.path());
        assert!(now.contains(&"/m/new".to_string()), "{now:?}");
    }

    #[test]
    fn a_forgotten_directory_is_watched_again_even_with_the_same_inode() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("m");
        fs::create_dir_all(root.join("a")).unwrap();
        let log = Recorder::default();
        let mut tree = Tree::new(root.clone(), None, Box::new(log.clone()));
        tree.sync();
        added(&log, base.path());

        let removed =
            notify::Event::new(notify::EventKind::Remove(notify::event::RemoveKind::Folder))
                .add_path(root.join("a"));
        tree.note(&removed);
        tree.sync();
        assert_eq!(added(&log, base.path()), ["/m/a"]);
    }

    #[test]
    fn the_root_going_away_and_coming_back_is_a_recovery_but_a_link_swap_is_not() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("m");
        fs::create_dir(&root).unwrap();
        let mut tree = Tree::new(root.clone(), None, Box::new(Recorder::default()));
        tree.sync();
        assert!(!tree.take_recovered());

        fs::remove_dir(&root).unwrap();
        tree.sync();
        assert!(tree.root_missing() && tree.needs_probe());
        fs::create_dir(&root).unwrap();
        tree.sync();
        assert!(tree.take_recovered());
        assert!(!tree.take_recovered(), "taken once");

        fs::create_dir(base.path().join("w1")).unwrap();
        fs::create_dir(base.path().join("w2")).unwrap();
        let link = base.path().join("current");
        std::os::unix::fs::symlink("w1", &link).unwrap();
        let mut linked = Tree::new(link.clone(), None, Box::new(Recorder::default()));
        linked.sync();
        std::os::unix::fs::symlink("w2", base.path().join("tmp")).unwrap();
        fs::rename(base.path().join("tmp"), &link).unwrap();
        linked.sync();
        assert!(!linked.take_recovered());
    }
}
