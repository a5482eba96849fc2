//! Finding manifest files under the given paths and reading them within limits.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::diagnostic::Diagnostic;
use crate::yaml::Pos;

/// What a walk over the given paths found.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Manifest files, in a stable order.
    pub files: Vec<PathBuf>,
    /// Problems met on the way (symlink loops, unreadable directories).
    pub problems: Vec<Diagnostic>,
}

/// A path given on the command line that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("{0}: no such file or directory")]
pub struct MissingPath(pub String);

/// Walks files and directories: directories recursively for `*.yaml`/`*.yml`, following
/// symlinks, skipping `.git` and Kubernetes' `..*` volume internals, and reporting loops.
pub fn discover(paths: &[PathBuf]) -> Result<Discovered, MissingPath> {
    let mut found = Discovered::default();
    for root in paths {
        let meta = fs::metadata(root).map_err(|_| MissingPath(root.display().to_string()))?;
        // A path named on the command line is read whatever it is, so that a FIFO or a socket
        // in its place is reported (by `open_regular`) rather than skipped.
        if !meta.is_dir() {
            found.files.push(root.clone());
            continue;
        }
        let walker = WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0 || !is_skipped(e.file_name().to_string_lossy().as_ref())
            });
        for entry in walker {
            match entry {
                Ok(entry) if entry.file_type().is_file() && is_manifest_name(entry.path()) => {
                    found.files.push(entry.into_path());
                }
                // A FIFO, a socket or a device where a manifest would be hides whatever
                // manifest was there: the scan cannot be complete, so nothing may be deleted.
                Ok(entry) if !entry.file_type().is_dir() && is_manifest_name(entry.path()) => {
                    let message = format!(
                        "it is {}, not a regular file; skipped",
                        file_kind(entry.file_type())
                    );
                    found.problems.push(Diagnostic::file(
                        &entry.path().display().to_string(),
                        Pos::START,
                        message,
                    ));
                }
                Ok(_) => {}
                Err(err) => {
                    let at = err
                        .path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| root.display().to_string());
                    let message = match err.loop_ancestor() {
                        Some(ancestor) => format!(
                            "symlink loop: this directory link points back to its ancestor {}; skipped",
                            ancestor.display()
                        ),
                        None => format!("cannot read: {}", io_reason(&err)),
                    };
                    found
                        .problems
                        .push(Diagnostic::file(&at, Pos::START, message));
                }
            }
        }
    }
    found.files.dedup();
    Ok(found)
}

fn io_reason(err: &walkdir::Error) -> String {
    err.io_error()
        .map(|e| e.kind().to_string())
        .unwrap_or_else(|| "unknown error".to_string())
}

/// `.git` and names starting with `..` (the `..data` symlink swap of mounted ConfigMaps).
fn is_skipped(name: &str) -> bool {
    name == ".git" || name.starts_with("..")
}

pub(super) fn is_manifest_name(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml")
    )
}

/// What a file that is not a regular file is, for messages ("a FIFO").
fn file_kind(t: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading only if it is a regular file. The open never blocks (a FIFO
/// without a writer would hang the process forever), and the type is checked on the opened
/// descriptor, not the path, so a swap between the check and the read cannot fool it.
pub fn open_regular(path: &Path) -> Result<fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let kind = file_kind;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match fs::metadata(path) {
            // Opening a socket fails (ENXIO): say what it is rather than the errno.
            Ok(meta) if !meta.is_file() => {
                format!("it is {}, not a regular file", kind(meta.file_type()))
            }
            _ => format!("cannot read: {}", e.kind()),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read: {}", e.kind()))?;
    if !meta.is_file() {
        return Err(format!(
            "it is {}, not a regular file",
            kind(meta.file_type())
        ));
    }
    Ok(file)
}

/// Reads a manifest file as UTF-8 text, refusing files over `max_size` and invalid bytes.
pub fn read_text(path: &Path, max_size: u64) -> Result<String, Diagnostic> {
    let name = path.display().to_string();
    let fail = |pos: Pos, msg: String| Diagnostic::file(&name, pos, msg);
    let too_big = || {
        fail(
            Pos::START,
            format!(
                "file is larger than the limit of {max_size} bytes (raise it with --max-file-size)"
            ),
        )
    };
    let file = open_regular(path).map_err(|e| fail(Pos::START, e))?;
    if file.metadata().map(|m| m.len() > max_size).unwrap_or(false) {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    // Read one byte past the limit so that a file growing while we read is still refused.
    file.take(max_size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| fail(Pos::START, format!("cannot read: {}", e.kind())))?;
    if bytes.len() as u64 > max_size {
        return Err(too_big());
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(err) => {
            let valid = &bytes[..err.valid_up_to()];
            // Invariant: the prefix up to valid_up_to() is valid UTF-8.
            let prefix = std::str::from_utf8(valid).unwrap_or_default();
            let line = prefix.matches('\n').count() + 1;
            let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            Err(fail(
                Pos { line, column },
                format!(
                    "file is not valid UTF-8 (invalid byte 0x{:02X}); save it as UTF-8",
                    bytes[err.valid_up_to()]
                ),
            ))
        }
    }
}
