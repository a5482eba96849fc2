//! Sources of desired state. File mode reads a manifest tree; Kubernetes mode will read the API.

pub mod build;
pub mod files;
