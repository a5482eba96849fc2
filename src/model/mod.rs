//! The resource model shared by file mode and Kubernetes mode.

mod condition;
mod credential;
mod field;
mod key;
mod label;
mod secret_source;

pub use condition::{ConditionStatus, ConditionType, Reason};
pub use credential::*;
pub use field::Field;
pub use key::SourceKey;
pub use label::label_key;
pub use secret_source::{ClientId, SecretKeyRef, SecretSource};
