//! Laravel's `APP_KEY`: parsing, generating and the key file of the embedded store.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::secret::{SecretValue, Tally, MASK};

/// Length of an AES-256 key, which is what Laravel's `AES-256-CBC` cipher requires.
pub const KEY_LEN: usize = 32;

/// The prefix Laravel writes before a base64-encoded `APP_KEY`.
const BASE64_PREFIX: &str = "base64:";

/// More than any key file needs (`base64:` + 44 characters + newline); larger files are cut off
/// and then fail to parse.
const MAX_KEY_FILE_LEN: u64 = 256;

/// How long an empty key file is re-read, in case its creator has not written the key yet.
const KEY_FILE_RACE_WAIT: Duration = Duration::from_secs(2);

/// Why a key could not be parsed, read or written. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text is neither `base64:` plus 32 bytes nor a raw 32-byte string.
    #[error("APP_KEY must be base64: followed by 32 bytes, or 32 characters")]
    InvalidAppKey,
    /// One entry of APP_PREVIOUS_KEYS is malformed; the 1-based position says which.
    #[error(
        "APP_PREVIOUS_KEYS entry {position} is not a valid key: each key must be base64: followed by 32 bytes, or 32 characters"
    )]
    InvalidPreviousKey {
        /// 1-based position among the non-blank entries.
        position: usize,
    },
    /// The key file exists but does not hold a `base64:` key.
    #[error(
        "key file {} does not hold a key: it must contain base64: followed by the base64 of 32 bytes",
        path.display()
    )]
    InvalidKeyFile {
        /// The key file.
        path: PathBuf,
    },
    /// The key file can be read by other users, so the key must be considered exposed.
    #[error(
        "key file {} is accessible by group or others (mode {mode:04o}); run `chmod 600 {}` so only its owner can read it",
        path.display(),
        path.display()
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file path exists but is not a regular file.
    #[error("key file {} is not a regular file", path.display())]
    NotAFile {
        /// The key file.
        path: PathBuf,
    },
    /// Reading the key file failed.
    #[error("cannot read key file {}: {source}", path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Creating or writing the key file failed.
    #[error("cannot create key file {}: {source}", path.display())]
    Write {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// A 32-byte Laravel application key, zeroed on drop and never printed.
#[derive(Clone)]
pub struct AppKey(Zeroizing<[u8; KEY_LEN]>, Tally);

impl AppKey {
    /// Parses `base64:...` (base64 of 32 bytes) or a raw 32-byte string, as in Laravel's APP_KEY.
    pub fn parse(text: &str) -> Result<AppKey, KeyError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if let Some(encoded) = text.strip_prefix(BASE64_PREFIX) {
            // Decode into a zeroized buffer: the decoded bytes are the key itself.
            let decoded = Zeroizing::new(
                STANDARD
                    .decode(encoded)
                    .map_err(|_| KeyError::InvalidAppKey)?,
            );
            if decoded.len() != KEY_LEN {
                return Err(KeyError::InvalidAppKey);
            }
            key.copy_from_slice(&decoded);
        } else {
            // Laravel counts bytes (mb_strlen($key, '8bit')), not characters.
            if text.len() != KEY_LEN {
                return Err(KeyError::InvalidAppKey);
            }
            key.copy_from_slice(text.as_bytes());
        }
        Ok(AppKey(key, Tally::new()))
    }

    /// A fresh random key from the operating system's generator.
    ///
    /// # Panics
    /// If the operating system cannot provide random bytes; no safe key can be made then.
    pub fn generate() -> AppKey {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        fill_random(&mut key[..]);
        AppKey(key, Tally::new())
    }

    /// The `base64:...` form, for writing a key file or an `.env`.
    pub fn to_app_key_string(&self) -> SecretValue {
        let mut text = Zeroizing::new(String::with_capacity(BASE64_PREFIX.len() + 44));
        text.push_str(BASE64_PREFIX);
        STANDARD.encode_string(&self.0[..], &mut text);
        SecretValue::new(text.as_str())
    }

    /// The raw key bytes, for the cipher and the MAC.
    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// Fills `buf` from the operating system's random number generator.
///
/// # Panics
/// If the generator fails: continuing would produce predictable keys or IVs.
pub(crate) fn fill_random(buf: &mut [u8]) {
    if let Err(err) = getrandom::fill(buf) {
        panic!("the operating system's random number generator failed: {err}");
    }
}

/// Reads the key file at `path` if there is one; never creates it (for commands that only read).
pub fn load_key_file(path: &Path) -> Result<Option<AppKey>, KeyError> {
    match File::open(path) {
        Ok(file) => read_key_file(path, file).map(Some),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeyError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Reads the key file at `path`, or creates it with a fresh key (mode 0600) when it is absent.
///
/// The file holds `base64:...`; surrounding whitespace is ignored. A file that group or others
/// can access is refused, since the key in it must be assumed leaked.
pub fn load_or_create_key_file(path: &Path) -> Result<AppKey, KeyError> {
    match File::open(path) {
        Ok(file) => return read_key_file(path, file),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(KeyError::Read {
                path: path.to_owned(),
                source,
            })
        }
    }

    let key = AppKey::generate();
    let mut options = OpenOptions::new();
    // create_new is atomic: when two processes race, exactly one creates the file.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Set the mode at creation so the key is never readable by others, even briefly.
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            // One write call, so a concurrent reader sees either nothing or the whole key.
            let mut line = Zeroizing::new(key.to_app_key_string().expose().to_owned());
            line.push('\n');
            let written = file
                .write_all(line.as_bytes())
                .and_then(|()| file.sync_all());
            if let Err(source) = written {
                // A half-written file would fail every later start; remove it so the next
                // attempt starts over.
                drop(file);
                let _ = std::fs::remove_file(path);
                return Err(KeyError::Write {
                    path: path.to_owned(),
                    source,
                });
            }
            Ok(key)
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            // Another process won the race; use its key so both encrypt with the same one.
            let file = File::open(path).map_err(|source| KeyError::Read {
                path: path.to_owned(),
                source,
            })?;
            read_key_file(path, file)
        }
        Err(source) => Err(KeyError::Write {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Checks the permissions of an opened key file and parses its contents.
///
/// An empty file is re-read for a short while: another process may have just created it and
/// not yet written the key.
fn read_key_file(path: &Path, mut file: File) -> Result<AppKey, KeyError> {
    let read_err = |source| KeyError::Read {
        path: path.to_owned(),
        source,
    };
    // Check the opened file rather than the path, so a swap between check and read changes nothing.
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(KeyError::NotAFile {
            path: path.to_owned(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::InsecurePermissions {
                path: path.to_owned(),
                mode,
            });
        }
    }

    let deadline = std::time::Instant::now() + KEY_FILE_RACE_WAIT;
    // Reserved up front so the key is never left behind, unzeroed, by a reallocation.
    let mut text = Zeroizing::new(String::with_capacity(MAX_KEY_FILE_LEN as usize));
    loop {
        text.clear();
        (&mut file)
            .take(MAX_KEY_FILE_LEN)
            .read_to_string(&mut text)
            .map_err(read_err)?;
        if !(text.is_empty() && std::time::Instant::now() < deadline) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        // Re-read the same open file (the one whose permissions were checked), from the start.
        file.rewind().map_err(read_err)?;
    }
    // Only the base64 form is accepted: a raw key in a file would depend on exact whitespace.
    let trimmed = text.trim();
    if !trimmed.starts_with(BASE64_PREFIX) {
        return Err(KeyError::InvalidKeyFile {
            path: path.to_owned(),
        });
    }
    AppKey::parse(trimmed).map_err(|_| KeyError::InvalidKeyFile {
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const B64_KEY: &str = "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn parses_base64_key() {
        let key = AppKey::parse(B64_KEY).unwrap();
        let expected: Vec<u8> = (0u8..32).collect();
        assert_eq!(&key.bytes()[..], &expected[..]);
        assert_eq!(key.to_app_key_string().expose(), B64_KEY);
    }

    #[test]
    fn parses_raw_32_byte_key() {
        let key = AppKey::parse("0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(&key.bytes()[..], b"0123456789abcdef0123456789abcdef");
    }

    #[test]
    fn raw_key_length_counts_bytes_not_characters() {
        // 16 two-byte characters: 32 bytes, as Laravel's mb_strlen($key, '8bit') counts.
        let key = AppKey::parse(&"é".repeat(16)).unwrap();
        assert_eq!(&key.bytes()[..], "é".repeat(16).as_bytes());
        assert!(matches!(
            AppKey::parse(&"é".repeat(32)),
            Err(KeyError::InvalidAppKey)
        ));
    }

    #[test]
    fn rejects_malformed_keys() {
        for bad in [
            "",
            "short",
            "0123456789abcdef0123456789abcdef0", // 33 bytes
            "base64:",
            "base64:not base64!",
            "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd", // 30 bytes
            "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==", // 34 bytes
            "BASE64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ] {
            let err = AppKey::parse(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} parsed"));
            assert_eq!(
                err.to_string(),
                "APP_KEY must be base64: followed by 32 bytes, or 32 characters"
            );
        }
    }

    #[test]
    fn generated_keys_differ_and_round_trip() {
        let a = AppKey::generate();
        let b = AppKey::generate();
        assert_ne!(a.bytes(), b.bytes());
        let again = AppKey::parse(a.to_app_key_string().expose()).unwrap();
        assert_eq!(again.bytes(), a.bytes());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = AppKey::parse(B64_KEY).unwrap();
        assert_eq!(format!("{key:?}"), MASK);
        assert_eq!(format!("{}", key.to_app_key_string()), MASK);
        assert_eq!(format!("{:?}", key.to_app_key_string()), MASK);
    }

    #[cfg(unix)]
    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.key");
        let created = load_or_create_key_file(&path).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", created.to_app_key_string().expose()));
        let reused = load_or_create_key_file(&path).unwrap();
        assert_eq!(reused.bytes(), created.bytes());
        // Unchanged on reuse.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[cfg(unix)]
    #[test]
    fn key_file_whitespace_is_trimmed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.key");
        std::fs::write(&path, format!("  {B64_KEY}\r\n\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = load_or_create_key_file(&path).unwrap();
        assert_eq!(key.to_app_key_string().expose(), B64_KEY);
    }

    #[cfg(unix)]
    #[test]
    fn readable_by_others_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.key");
        std::fs::write(&path, format!("{B64_KEY}\n")).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = load_or_create_key_file(&path).unwrap_err();
            assert!(
                matches!(err, KeyError::InsecurePermissions { mode: m, .. } if m == mode),
                "{err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains("chmod 600"), "{msg}");
            assert!(!msg.contains(B64_KEY), "{msg}");
        }
        // The file is left alone: refusing must not rewrite the operator's key.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{B64_KEY}\n")
        );
    }

    #[cfg(unix)]
    #[test]
    fn malformed_key_file_is_refused_without_echoing_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.key");
        for contents in [
            "",
            "0123456789abcdef0123456789abcdef",
            "base64:c2hvcnQ=",
            "hunter2-secret",
        ] {
            std::fs::write(&path, contents).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            let err = load_or_create_key_file(&path).unwrap_err();
            assert!(matches!(err, KeyError::InvalidKeyFile { .. }), "{err:?}");
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            if !contents.is_empty() {
                assert!(!msg.contains(contents), "{msg}");
            }
        }
    }

    #[test]
    fn key_file_in_missing_directory_is_a_clear_write_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("app.key");
        let err = load_or_create_key_file(&path).unwrap_err();
        assert!(matches!(err, KeyError::Write { .. }), "{err:?}");
        assert!(err.to_string().contains("cannot create key file"), "{err}");
    }

    #[test]
    fn directory_as_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_or_create_key_file(dir.path()).unwrap_err();
        assert!(matches!(err, KeyError::NotAFile { .. }), "{err:?}");
    }

    #[test]
    fn racing_creators_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.key");
        let keys: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        load_or_create_key_file(&path)
                            .unwrap()
                            .to_app_key_string()
                            .expose()
                            .to_owned()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| k == &keys[0]), "creators disagree");
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert_eq!(on_disk.trim(), keys[0]);
    }
}
