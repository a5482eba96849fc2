//! Resolving a secret source to its value in file mode: Secret documents, files and variables.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::manifest::SecretDoc;
use crate::model::SecretSource;
use crate::secret::SecretValue;

/// Largest secret file read; tokens are well under 1 KiB.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Why a secret source has no value; messages name the source, never a value.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ResolveError {
    /// No Secret document with that name in the namespace.
    #[error("Secret `{namespace}/{name}` was not found among the manifests")]
    SecretNotFound {
        /// Namespace searched.
        namespace: String,
        /// Secret name.
        name: String,
    },
    /// The Secret lacks the key.
    #[error("Secret `{namespace}/{name}` has no key `{key}`")]
    KeyNotFound {
        /// Namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// The missing key.
        key: String,
    },
    /// A `file:` source without `--secrets-dir`.
    #[error("`file: {0}` needs --secrets-dir")]
    NoSecretsDir(String),
    /// The file is missing, unreadable, too big, not UTF-8, or outside the secrets dir.
    #[error("cannot read secret file `{path}`: {reason}")]
    File {
        /// The path as written in the manifest.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The environment variable is not set.
    #[error("environment variable `{0}` is not set")]
    EnvUnset(String),
}

/// Reads an environment variable.
type EnvLookup<'a> = Box<dyn Fn(&str) -> Option<String> + Send + Sync + 'a>;

/// Where file-mode secrets come from.
pub struct FileSecrets<'a> {
    /// Secret documents, by (namespace, name).
    secrets: BTreeMap<(&'a str, &'a str), &'a SecretDoc>,
    /// Root of `file:` sources.
    secrets_dir: Option<PathBuf>,
    /// Reads an environment variable; injected so that tests need not touch the process env.
    env: EnvLookup<'a>,
    /// `secrets_dir` canonicalized, once per scan rather than once per file.
    root: std::sync::OnceLock<Result<PathBuf, std::io::ErrorKind>>,
}

impl<'a> FileSecrets<'a> {
    /// Secrets from these documents, `secrets_dir` and the process environment.
    pub fn new(docs: &'a [SecretDoc], secrets_dir: Option<&Path>) -> Self {
        Self::with_env(docs, secrets_dir, |name| std::env::var(name).ok())
    }

    /// As [`FileSecrets::new`], reading variables through `env`.
    pub fn with_env(
        docs: &'a [SecretDoc],
        secrets_dir: Option<&Path>,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'a,
    ) -> Self {
        FileSecrets {
            secrets: docs
                .iter()
                .map(|d| ((d.namespace.as_str(), d.name.as_str()), d))
                .collect(),
            secrets_dir: secrets_dir.map(Path::to_path_buf),
            env: Box::new(env),
            root: std::sync::OnceLock::new(),
        }
    }

    /// The value of `source` for a credential in `namespace`, as the source holds it: one
    /// trailing newline and emptiness are dealt with by `build::resolve`, for every source alike.
    pub fn resolve(
        &self,
        source: &SecretSource,
        namespace: &str,
    ) -> Result<SecretValue, ResolveError> {
        match source {
            SecretSource::SecretKeyRef(r) => {
                let doc = self
                    .secrets
                    .get(&(namespace, r.name.as_str()))
                    .ok_or_else(|| ResolveError::SecretNotFound {
                        namespace: namespace.to_string(),
                        name: r.name.clone(),
                    })?;
                doc.entries
                    .get(&r.key)
                    .map(|e| e.value.clone())
                    .ok_or_else(|| ResolveError::KeyNotFound {
                        namespace: namespace.to_string(),
                        name: r.name.clone(),
                        key: r.key.clone(),
                    })
            }
            SecretSource::File(rel) => self.read_file(rel),
            SecretSource::Env(var) => (self.env)(var)
                .map(SecretValue::new)
                .ok_or_else(|| ResolveError::EnvUnset(var.clone())),
        }
    }

    fn read_file(&self, rel: &str) -> Result<SecretValue, ResolveError> {
        let dir = self
            .secrets_dir
            .as_ref()
            .ok_or_else(|| ResolveError::NoSecretsDir(rel.to_string()))?;
        let fail = |reason: String| ResolveError::File {
            path: rel.to_string(),
            reason,
        };
        let rel_path = Path::new(rel);
        if rel_path.is_absolute()
            || rel_path.components().any(|c| {
                !matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            })
        {
            return Err(fail(
                "only plain relative paths inside --secrets-dir are allowed".into(),
            ));
        }
        let root = self
            .root
            .get_or_init(|| dir.canonicalize().map_err(|e| e.kind()))
            .as_ref()
            .map_err(|kind| fail(format!("--secrets-dir: {kind}")))?;
        // Most secret files are plain files right under the root: one lstat per part of the
        // path shows no link could lead out, and spares realpath's readlink of every part.
        let full = match unlinked(root, rel_path) {
            Some(path) => path,
            None => root
                .join(rel_path)
                .canonicalize()
                .map_err(|e| fail(e.kind().to_string()))?,
        };
        // A symlink inside the directory must not lead out of it.
        if !full.starts_with(root) {
            return Err(fail("it resolves outside --secrets-dir".into()));
        }
        let file = super::discover::open_regular(&full).map_err(fail)?;
        let mut bytes = Vec::new();
        file.take(MAX_SECRET_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| fail(e.kind().to_string()))?;
        if bytes.len() as u64 > MAX_SECRET_FILE {
            return Err(fail(format!("larger than {MAX_SECRET_FILE} bytes")));
        }
        let text = String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))?;
        // As given: the trailing newline is trimmed by `build::resolve`, as for every source.
        Ok(SecretValue::new(text))
    }
}

/// `root/rel` when no part of `rel` is a symbolic link (so it cannot lead out of `root`), or
/// None when one is, or a part cannot be read: then canonicalizing decides.
fn unlinked(root: &Path, rel: &Path) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for part in rel.components() {
        if let std::path::Component::Normal(name) = part {
            path.push(name);
            if std::fs::symlink_metadata(&path)
                .ok()?
                .file_type()
                .is_symlink()
            {
                return None;
            }
        }
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::SecretEntry;
    use crate::model::SecretKeyRef;
    use crate::yaml::Pos;

    fn secret_doc() -> SecretDoc {
        let mut entries = BTreeMap::new();
        entries.insert(
            "token".to_string(),
            SecretEntry {
                pos: Pos::START,
                value: SecretValue::new("s3cret"),
            },
        );
        SecretDoc {
            file: "s.yaml".into(),
            pos: Pos::START,
            namespace: "shop".into(),
            name: "bc".into(),
            entries,
            invalid_keys: Default::default(),
        }
    }

    fn key_ref(name: &str, key: &str) -> SecretSource {
        SecretSource::SecretKeyRef(SecretKeyRef {
            name: name.into(),
            key: key.into(),
        })
    }

    #[test]
    fn secret_refs_resolve_in_their_namespace_only() {
        let docs = [secret_doc()];
        let secrets = FileSecrets::with_env(&docs, None, |_| None);
        assert_eq!(
            secrets
                .resolve(&key_ref("bc", "token"), "shop")
                .unwrap()
                .expose(),
            "s3cret"
        );
        assert!(matches!(
            secrets.resolve(&key_ref("bc", "token"), "other"),
            Err(ResolveError::SecretNotFound { .. })
        ));
        assert!(matches!(
            secrets.resolve(&key_ref("bc", "nope"), "shop"),
            Err(ResolveError::KeyNotFound { .. })
        ));
    }

    #[test]
    fn env_sources_read_through_the_injected_lookup() {
        let secrets = FileSecrets::with_env(&[], None, |n| (n == "TOK").then(|| "v".to_string()));
        assert_eq!(
            secrets
                .resolve(&SecretSource::Env("TOK".into()), "x")
                .unwrap()
                .expose(),
            "v"
        );
        assert_eq!(
            secrets.resolve(&SecretSource::Env("NOPE".into()), "x"),
            Err(ResolveError::EnvUnset("NOPE".into()))
        );
    }

    #[test]
    fn files_are_read_as_given_and_stay_inside_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tok"), "abc\n\n").unwrap();
        std::fs::write(dir.path().join("crlf"), "abc\r\n").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x"), "nope").unwrap();
        std::os::unix::fs::symlink(outside.path().join("x"), dir.path().join("escape")).unwrap();
        let secrets = FileSecrets::with_env(&[], Some(dir.path()), |_| None);
        let read = |p: &str| secrets.resolve(&SecretSource::File(p.into()), "x");
        // Trimming is `build::resolve`'s, the same for every source.
        assert_eq!(read("tok").unwrap().expose(), "abc\n\n");
        assert_eq!(read("crlf").unwrap().expose(), "abc\r\n");
        assert!(read("escape")
            .unwrap_err()
            .to_string()
            .contains("outside --secrets-dir"));
        assert!(read("../x").is_err());
        assert!(read("/etc/passwd").is_err());
        assert!(read("missing").is_err());
        let none = FileSecrets::with_env(&[], None, |_| None);
        assert_eq!(
            none.resolve(&SecretSource::File("tok".into()), "x"),
            Err(ResolveError::NoSecretsDir("tok".into()))
        );
    }

    #[test]
    fn special_files_are_refused_at_once_and_never_block() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: mkfifo(3) with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        let _socket =
            std::os::unix::net::UnixListener::bind(dir.path().join("socket")).expect("socket");
        std::fs::create_dir(dir.path().join("subdir")).expect("mkdir");
        let secrets = FileSecrets::new(&[], Some(dir.path()));
        for (name, kind) in [
            ("fifo", "a FIFO"),
            ("socket", "a socket"),
            ("subdir", "a directory"),
        ] {
            let started = std::time::Instant::now();
            let err = secrets
                .resolve(&SecretSource::File(name.into()), "shop")
                .expect_err(name)
                .to_string();
            assert!(
                err.contains(&format!("it is {kind}, not a regular file")),
                "{err}"
            );
            assert!(started.elapsed() < std::time::Duration::from_secs(1));
        }
    }
}
