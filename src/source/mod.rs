//! Sources of desired state, and the only place manifests, Secrets and secret files are read.
//! File mode walks a manifest tree (`files`, with `discover`, `tree` and `secrets`); Kubernetes
//! mode reads one object and the Secrets it refers to (`kubernetes`). Both turn each credential
//! into a reconcile entry the same way (`build`) and hand the reconciler a [`Scan`].
//!
//! [`Scan`]: crate::reconcile::Scan

pub mod build;
mod discover;
pub mod files;
mod incremental;
pub mod kubernetes;
mod secrets;
mod tree;

pub use discover::{discover, read_text, Discovered, MissingPath};
pub use files::{EnvLookup, FileSource};
pub use secrets::{FileSecrets, ResolveError};
pub use tree::FileCache;
