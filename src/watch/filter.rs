//! Deciding which raw events call for a rescan.
//!
//! The rules mirror what a rescan reads (`manifest::files::discover`): `*.yaml`/`*.yml` files,
//! through directories and symlinks, skipping `.git` and Kubernetes' `..*` internals. Reads are
//! never changes: the rescan itself opens every file, and must not trigger the next one.

use std::ffi::OsStr;
use std::path::{Component, Path};

use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RemoveKind};
use notify::Event;

/// What a path is now, as far as the filter cares (not following a final symlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    File,
    Dir,
    Symlink,
    /// Gone, or unreadable.
    Missing,
}

/// What one raw event means for the next rescan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Ignore,
    Changed {
        /// Directories or links changed, so the set of watched directories must be re-established.
        structural: bool,
    },
    /// The kernel dropped events: anything may have changed.
    Overflow,
}

/// What the filter may ask about the tree.
pub(crate) trait Lookup {
    /// What `path` is now.
    fn entry(&self, path: &Path) -> Entry;
    /// Whether `path` is (was, until this event) a watched directory.
    fn watched_dir(&self, path: &Path) -> bool;
    /// Whether `path`, outside the tree, is the file a manifest of the tree links to.
    fn links_here(&self, path: &Path) -> bool {
        let _ = path;
        false
    }
}

/// Which files of the tree matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Files {
    /// `*.yaml` and `*.yml`: a manifest tree.
    Manifests,
    /// Every file: a secrets directory, whose files have any name.
    All,
}

/// Classifies one raw event for the manifest tree rooted at `root`.
#[cfg(test)]
pub(crate) fn classify(event: &Event, root: &Path, look: &impl Lookup) -> Class {
    classify_files(event, root, look, Files::Manifests)
}

/// Classifies one raw event for the tree rooted at `root`, where `files` matter.
pub(crate) fn classify_files(
    event: &Event,
    root: &Path,
    look: &impl Lookup,
    files: Files,
) -> Class {
    if event.need_rescan() || (matches!(event.kind, EventKind::Other) && event.paths.is_empty()) {
        return Class::Overflow;
    }
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
        // Opens and reads are what the rescan does; they change nothing.
        EventKind::Access(_) => return Class::Ignore,
        _ => {}
    }
    let folder = matches!(
        event.kind,
        EventKind::Create(CreateKind::Folder) | EventKind::Remove(RemoveKind::Folder)
    );
    let metadata = matches!(event.kind, EventKind::Modify(ModifyKind::Metadata(_)));
    let mut outcome = Class::Ignore;
    for path in &event.paths {
        // A directory's mtime moves whenever an entry in it changes (the poller reports that,
        // even for `.git` appearing); the entry's own event is the one that counts.
        if metadata && look.entry(path) == Entry::Dir {
            continue;
        }
        let structural = match relevance(path, root, folder, look, files) {
            Relevance::None => continue,
            Relevance::File => false,
            Relevance::Structure => true,
        };
        outcome = match outcome {
            Class::Changed { structural: s } => Class::Changed {
                structural: s || structural,
            },
            _ => Class::Changed { structural },
        };
    }
    outcome
}

enum Relevance {
    None,
    File,
    Structure,
}

fn relevance(
    path: &Path,
    root: &Path,
    folder: bool,
    look: &impl Lookup,
    files: Files,
) -> Relevance {
    if path == root {
        // The root itself: created, removed, swapped or renamed.
        return Relevance::Structure;
    }
    // Outside the root: a file a manifest links to, or a sibling seen through the parent's
    // watch.
    let Ok(rel) = path.strip_prefix(root) else {
        return if look.links_here(path) {
            Relevance::File
        } else {
            Relevance::None
        };
    };
    let names: Vec<&OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    let Some((last, dirs)) = names.split_last() else {
        return Relevance::None;
    };
    if names.iter().any(|n| *n == ".git") || dirs.iter().any(|n| is_internal(n)) {
        return Relevance::None;
    }
    // `..data` and friends (the last name only) stay relevant: their swap is the ConfigMap update.
    if folder {
        return Relevance::Structure;
    }
    match look.entry(path) {
        Entry::Dir | Entry::Symlink => Relevance::Structure,
        Entry::Missing if look.watched_dir(path) => Relevance::Structure,
        _ if files == Files::All || is_manifest_name(last) => Relevance::File,
        // Editors' swap and temporary files, READMEs, files already renamed away.
        _ => Relevance::None,
    }
}

/// Kubernetes' volume internals (`..data`, `..2026_…`), skipped by the rescan.
fn is_internal(name: &OsStr) -> bool {
    name.as_encoded_bytes().starts_with(b"..")
}

/// The rescan's notion of a manifest file name (`manifest::files`).
pub(crate) fn is_manifest_name(name: &OsStr) -> bool {
    matches!(
        Path::new(name).extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{DataChange, Flag, MetadataKind, RenameMode};
    use std::collections::HashMap;
    use std::path::PathBuf;

    #[derive(Default)]
    struct Fake {
        entries: HashMap<PathBuf, Entry>,
        watched: Vec<PathBuf>,
    }

    impl Lookup for Fake {
        fn entry(&self, path: &Path) -> Entry {
            self.entries.get(path).copied().unwrap_or(Entry::Missing)
        }
        fn watched_dir(&self, path: &Path) -> bool {
            self.watched.iter().any(|w| w == path)
        }
    }

    const ROOT: &str = "/m";

    fn fake(entries: &[(&str, Entry)], watched: &[&str]) -> Fake {
        Fake {
            entries: entries
                .iter()
                .map(|(p, e)| (PathBuf::from(p), *e))
                .collect(),
            watched: watched.iter().map(PathBuf::from).collect(),
        }
    }

    fn ev(kind: EventKind, paths: &[&str]) -> Event {
        paths
            .iter()
            .fold(Event::new(kind), |e, p| e.add_path(PathBuf::from(p)))
    }

    fn class(kind: EventKind, paths: &[&str], look: &Fake) -> Class {
        classify(&ev(kind, paths), Path::new(ROOT), look)
    }

    const FILE: Class = Class::Changed { structural: false };
    const STRUCT: Class = Class::Changed { structural: true };
    const WRITE: EventKind = EventKind::Modify(ModifyKind::Data(DataChange::Any));

    #[test]
    fn manifest_writes_anywhere_in_the_tree_are_changes() {
        let look = fake(
            &[
                ("/m/a.yaml", Entry::File),
                ("/m/sub/deep/b.yml", Entry::File),
            ],
            &[],
        );
        assert_eq!(class(WRITE, &["/m/a.yaml"], &look), FILE);
        assert_eq!(class(WRITE, &["/m/sub/deep/b.yml"], &look), FILE);
        assert_eq!(
            class(
                EventKind::Remove(RemoveKind::File),
                &["/m/gone.yaml"],
                &look
            ),
            FILE
        );
        assert_eq!(
            class(
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                &["/m/a.yaml"],
                &look
            ),
            FILE
        );
    }

    #[test]
    fn reads_and_opens_are_ignored() {
        let look = fake(&[("/m/a.yaml", Entry::File), ("/m/sub", Entry::Dir)], &[]);
        for kind in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Access(AccessKind::Read),
        ] {
            assert_eq!(class(kind, &["/m/a.yaml"], &look), Class::Ignore);
            assert_eq!(class(kind, &["/m/sub"], &look), Class::Ignore);
            assert_eq!(class(kind, &["/m"], &look), Class::Ignore);
        }
    }

    #[test]
    fn other_files_are_ignored_but_directories_and_links_are_structure() {
        let look = fake(
            &[
                ("/m/README.md", Entry::File),
                ("/m/.a.yaml.swp", Entry::File),
                ("/m/sub", Entry::Dir),
                ("/m/current", Entry::Symlink),
            ],
            &["/m/old"],
        );
        let create = EventKind::Create(CreateKind::File);
        assert_eq!(class(create, &["/m/README.md"], &look), Class::Ignore);
        assert_eq!(class(WRITE, &["/m/.a.yaml.swp"], &look), Class::Ignore);
        assert_eq!(class(create, &["/m/a.yaml.tmp"], &look), Class::Ignore);
        assert_eq!(
            class(EventKind::Create(CreateKind::Any), &["/m/sub"], &look),
            STRUCT
        );
        assert_eq!(class(create, &["/m/current"], &look), STRUCT);
        assert_eq!(
            class(EventKind::Remove(RemoveKind::Any), &["/m/old"], &look),
            STRUCT,
            "a watched directory that is gone"
        );
        assert_eq!(
            class(
                EventKind::Remove(RemoveKind::Folder),
                &["/m/unknown"],
                &look
            ),
            STRUCT
        );
    }

    #[test]
    fn a_directorys_own_metadata_is_not_a_change() {
        let look = fake(
            &[
                ("/m", Entry::Dir),
                ("/m/sub", Entry::Dir),
                ("/m/a.yaml", Entry::File),
            ],
            &["/m", "/m/sub"],
        );
        let touched = EventKind::Modify(ModifyKind::Metadata(MetadataKind::WriteTime));
        assert_eq!(class(touched, &["/m"], &look), Class::Ignore);
        assert_eq!(class(touched, &["/m/sub"], &look), Class::Ignore);
        assert_eq!(class(touched, &["/m/a.yaml"], &look), FILE);
    }

    #[test]
    fn an_atomic_save_is_a_change_through_its_target_name() {
        let look = fake(&[("/m/x.yaml", Entry::File)], &[]);
        let both = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert_eq!(class(both, &["/m/x.yaml.tmp", "/m/x.yaml"], &look), FILE);
        let from = EventKind::Modify(ModifyKind::Name(RenameMode::From));
        assert_eq!(class(from, &["/m/x.yaml.tmp"], &look), Class::Ignore);
    }

    #[test]
    fn git_internals_are_ignored_anywhere() {
        let look = fake(
            &[
                ("/m/.git", Entry::Dir),
                ("/m/.git/index", Entry::File),
                ("/m/.git/x.yaml", Entry::File),
                ("/m/sub/.git/objects/ab", Entry::Dir),
            ],
            &[],
        );
        assert_eq!(class(WRITE, &["/m/.git/index"], &look), Class::Ignore);
        assert_eq!(class(WRITE, &["/m/.git/x.yaml"], &look), Class::Ignore);
        assert_eq!(
            class(EventKind::Create(CreateKind::Folder), &["/m/.git"], &look),
            Class::Ignore
        );
        assert_eq!(
            class(
                EventKind::Create(CreateKind::Folder),
                &["/m/sub/.git/objects/ab"],
                &look
            ),
            Class::Ignore
        );
    }

    #[test]
    fn the_configmap_data_link_is_relevant_but_files_behind_it_are_not() {
        let look = fake(
            &[
                ("/m/..data", Entry::Symlink),
                ("/m/..2026_11_26_12_00_00.123", Entry::Dir),
                ("/m/..2026_11_26_12_00_00.123/x.yaml", Entry::File),
            ],
            &[],
        );
        let to = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        assert_eq!(class(to, &["/m/..data"], &look), STRUCT);
        assert_eq!(
            class(WRITE, &["/m/..2026_11_26_12_00_00.123/x.yaml"], &look),
            Class::Ignore
        );
    }

    #[test]
    fn the_root_itself_is_structure_and_siblings_are_ignored() {
        let look = fake(&[("/other.yaml", Entry::File)], &[]);
        assert_eq!(
            class(EventKind::Remove(RemoveKind::Folder), &["/m"], &look),
            STRUCT
        );
        let to = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        assert_eq!(class(to, &["/m"], &look), STRUCT);
        assert_eq!(class(WRITE, &["/other.yaml"], &look), Class::Ignore);
        assert_eq!(class(WRITE, &["/mm/a.yaml"], &look), Class::Ignore);
    }

    #[test]
    fn overflow_and_rescan_flags_are_overflow() {
        let look = Fake::default();
        let overflow = Event::new(EventKind::Other).set_flag(Flag::Rescan);
        assert_eq!(classify(&overflow, Path::new(ROOT), &look), Class::Overflow);
        let flagged = ev(WRITE, &["/m/README.md"]).set_flag(Flag::Rescan);
        assert_eq!(classify(&flagged, Path::new(ROOT), &look), Class::Overflow);
    }

    #[test]
    fn a_secrets_tree_counts_every_file_a_manifest_tree_only_yaml() {
        let look = fake(&[("/m/token", Entry::File)], &[]);
        let event = ev(WRITE, &["/m/token"]);
        assert_eq!(
            classify_files(&event, Path::new(ROOT), &look, Files::Manifests),
            Class::Ignore
        );
        assert_eq!(
            classify_files(&event, Path::new(ROOT), &look, Files::All),
            FILE
        );
        let git = ev(WRITE, &["/m/.git/HEAD"]);
        assert_eq!(
            classify_files(&git, Path::new(ROOT), &look, Files::All),
            Class::Ignore
        );
    }
}
