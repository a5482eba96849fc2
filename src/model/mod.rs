//! The resource model shared by file mode and Kubernetes mode.

mod credential;
mod secret_source;

pub use credential::*;
pub use secret_source::{ClientId, SecretKeyRef, SecretSource};
