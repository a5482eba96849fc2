//! Where `bccreds export` writes, and how: every file is written whole through a rename,
//! secrets 0600 from their creation, directories it creates 0700. It never overwrites a file
//! without `--force`, and never writes into a directory another user could redirect: a symbolic
//! link that user owns, or a directory anyone may write to that this user does not own.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::Context;

use super::errors::UsageError;
use crate::redact::escape_controls;

/// One file to write.
pub struct Planned {
    /// Where.
    pub path: PathBuf,
    /// What.
    pub contents: String,
    /// Created 0600 (it holds a secret) rather than 0644.
    pub private: bool,
}

fn shown(path: &Path) -> String {
    escape_controls(&path.display().to_string()).into_owned()
}

/// The user this process runs as; root's files are trusted too (system directories).
fn trusted(uid: u32) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    uid == unsafe { libc::geteuid() } || uid == 0
}

/// Why `dir`, one of the directories files are written into, could be redirected by another
/// user, or None. `final_dir` is where files land: there, writable by everyone is enough;
/// above it, only without the sticky bit (as /tmp has) can others move things.
fn untrusted(dir: &Path, final_dir: bool) -> Option<String> {
    let link = fs::symlink_metadata(dir).ok()?;
    if link.file_type().is_symlink() && !trusted(link.uid()) {
        return Some(format!(
            "{} is a symbolic link owned by another user (uid {})",
            shown(dir),
            link.uid()
        ));
    }
    let meta = fs::metadata(dir).ok()?;
    let everyone = meta.mode() & 0o002 != 0;
    let sticky = meta.mode() & 0o1000 != 0;
    if everyone && !trusted(meta.uid()) && (final_dir || !sticky) {
        return Some(format!(
            "{} may be written by anyone and is owned by another user (uid {})",
            shown(dir),
            meta.uid()
        ));
    }
    None
}

/// Refuses `dir` when it, or a directory above it, could be redirected by another user.
fn check_dir(dir: &Path) -> Result<(), UsageError> {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut at = PathBuf::new();
    for part in absolute.components() {
        at.push(part);
        if matches!(part, Component::RootDir | Component::Prefix(_)) {
            continue;
        }
        if let Some(why) = untrusted(&at, at == absolute) {
            return Err(UsageError(format!(
                "refusing to write into {}: {why}, so what is written there could be read or replaced; choose a directory of your own",
                shown(dir)
            )));
        }
    }
    Ok(())
}

/// Creates `dir` and missing parents 0700 (nobody else may even list the names), then checks
/// that it can be trusted.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    check_dir(dir)?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", shown(dir)))?;
    // Checked again once it exists: a link planted meanwhile is refused here.
    check_dir(dir)?;
    Ok(())
}

/// Writes `contents` to `path` through a new file renamed into place, so that a reader never
/// sees half a file; `private` files are created 0600 and never exist with wider permissions.
fn write_atomic(path: &Path, contents: &str, private: bool) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 });
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(contents.as_bytes())?;
        f.sync_all()
    });
    let renamed = written.and_then(|()| fs::rename(&tmp, path));
    if renamed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    renamed.with_context(|| format!("cannot write {}", shown(path)))
}

/// Writes `files`: refuses first, writing nothing, when a directory cannot be trusted or (without
/// `force`) when a file exists already.
pub fn write_all(files: &[Planned], force: bool) -> anyhow::Result<()> {
    let mut dirs: Vec<&Path> = files.iter().filter_map(|f| f.path.parent()).collect();
    dirs.sort();
    dirs.dedup();
    for dir in &dirs {
        check_dir(dir)?;
    }
    if !force {
        let existing: Vec<&Path> = files
            .iter()
            .map(|f| f.path.as_path())
            .filter(|p| fs::symlink_metadata(p).is_ok())
            .collect();
        if let Some(first) = existing.first() {
            let more = match existing.len() - 1 {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            return Err(UsageError(format!(
                "{}{more} exist already; nothing was written: pass --force to replace them",
                shown(first)
            ))
            .into());
        }
    }
    for dir in dirs {
        private_dir(dir)?;
    }
    for f in files {
        write_atomic(&f.path, &f.contents, f.private)?;
    }
    Ok(())
}

/// Each credential's file under `out`, by label, for the report.
pub type Written = BTreeMap<String, PathBuf>;
