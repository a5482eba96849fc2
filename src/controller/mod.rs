//! Kubernetes mode: BigCommerceCredential objects are reconciled through the shared reconciler,
//! one object at a time, with Secret references, a finalizer, status conditions, Events and
//! leader election.

mod backoff;
pub mod health;
pub mod lease;
mod run;
mod serve;
pub mod status;

pub use run::{run_controllers, ControllerConfig, ControllerError, SecretAccess, FINALIZER};
pub use serve::Controller;
