//! Reading a manifest tree: discovery, reading within limits, and the per-file cache of `watch`;
//! each file's text goes through the pure validation, then the whole tree through its checks.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use super::discover::{discover, read_text, MissingPath};
use crate::diagnostic::Diagnostic;
use crate::validate::{validate_text, Report, ValidateOptions};
use crate::yaml::Pos;

/// What identifies a file's content, and whether it can be read, cheaply: a rename-based save
/// changes the inode, an edit in place the size or the modification time, and a `chmod` (a
/// file written under umask 077, then opened up) the status-change time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
    changed: (i64, i64),
}

pub(super) fn stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode: meta.ino(),
        changed: (meta.ctime(), meta.ctime_nsec()),
    })
}

/// Per-file results kept between passes of `watch`, so that a file that did not change is
/// neither read nor validated again.
#[derive(Debug, Default)]
pub struct FileCache {
    pub(super) files: HashMap<PathBuf, (FileStamp, Report)>,
    /// Files read and validated (cache misses), for `bccreds_files_parsed_total`.
    pub(super) parsed: Arc<AtomicU64>,
    /// What the last read found changed: files read again, added or gone (as displayed).
    pub(super) changed: HashSet<String>,
    /// Whether a changed file held or holds Secret documents, which any credential may use.
    pub(super) secrets_changed: bool,
}

impl FileCache {
    /// The count of files this cache read and validated, shared with whoever reports it.
    pub fn parsed(&self) -> Arc<AtomicU64> {
        self.parsed.clone()
    }
}

pub(super) fn read_file(file: &Path, opts: &ValidateOptions) -> Report {
    let mut report = Report {
        files: 1,
        ..Report::default()
    };
    let name = file.display().to_string();
    match read_text(file, opts.max_file_size) {
        Ok(text) => validate_text(&name, &text, opts, &mut report),
        Err(d) => {
            report.unreadable_files += 1;
            report.diagnostics.push(d);
        }
    }
    report
}

/// Reads and validates every manifest under `paths`, reusing the results of files unchanged
/// since `cache` saw them.
pub fn read_tree(
    paths: &[PathBuf],
    opts: &ValidateOptions,
    mut cache: Option<&mut FileCache>,
) -> Result<Report, MissingPath> {
    let found = discover(paths)?;
    let mut report = Report {
        // Symlink loops and unreadable directories hide whatever is behind them.
        unreadable_files: found.problems.len(),
        diagnostics: found.problems,
        ..Report::default()
    };
    if let Some(cache) = cache.as_deref_mut() {
        cache.changed.clear();
        cache.secrets_changed = false;
    }
    for file in &found.files {
        let one = match cache.as_deref_mut() {
            None => read_file(file, opts),
            Some(cache) => {
                // Stamped before reading: a change while reading gives a new stamp next time.
                let now = stamp(file);
                match cache.files.get(file) {
                    Some((was, cached)) if Some(*was) == now => cached.clone(),
                    was => {
                        cache.parsed.fetch_add(1, Ordering::Relaxed);
                        let fresh = read_file(file, opts);
                        cache.secrets_changed |= !fresh.secrets.is_empty()
                            || was.is_some_and(|(_, r)| !r.secrets.is_empty());
                        cache.changed.insert(file.display().to_string());
                        // A file that could not be read is read again next time, whatever its
                        // stamp says: the cause (permissions, a vanished mount) need not show in
                        // it.
                        match now.filter(|_| fresh.unreadable_files == 0) {
                            Some(now) => {
                                cache.files.insert(file.clone(), (now, fresh.clone()));
                            }
                            None => {
                                cache.files.remove(file);
                            }
                        }
                        fresh
                    }
                }
            }
        };
        report.merge(one);
    }
    if let Some(cache) = cache {
        let seen: HashSet<&PathBuf> = found.files.iter().collect();
        let FileCache {
            files,
            changed,
            secrets_changed,
            ..
        } = cache;
        files.retain(|path, (_, r)| {
            let keep = seen.contains(path);
            if !keep {
                changed.insert(path.display().to_string());
                *secrets_changed |= !r.secrets.is_empty();
            }
            keep
        });
    }
    if found.files.is_empty() && report.diagnostics.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        report.diagnostics.push(Diagnostic::file(
            &shown.join(", "),
            Pos::START,
            "no *.yaml or *.yml files found",
        ));
    }
    report.check_tree(opts);
    Ok(report)
}
