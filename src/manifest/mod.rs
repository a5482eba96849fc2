//! Manifest files: finding them, loading their documents and sorting those by kind.

mod document;
mod files;
mod resolve;
mod secret_doc;

pub use document::{classify, Classified, CredentialDoc, DocContext};
pub use files::{discover, read_text, Discovered, MissingPath, DEFAULT_MAX_FILE_SIZE};
pub use resolve::{FileSecrets, ResolveError};
pub use secret_doc::{parse_secret, SecretDoc, SecretEntry};

/// Namespace of a file-mode manifest that names none.
pub const DEFAULT_NAMESPACE: &str = "default";
