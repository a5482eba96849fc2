//! Manifest documents: sorting loaded documents by kind and reading `kind: Secret` documents.
//! Pure; finding and reading files is the source's job (`source::discover`).

mod document;
mod secret_doc;

pub use document::{classify, Classified, CredentialDoc, DocContext};
pub use secret_doc::{parse_secret, SecretDoc, SecretEntry};

/// Default largest manifest file, in bytes.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Namespace of a file-mode manifest that names none.
pub const DEFAULT_NAMESPACE: &str = "default";
