//! Generated artifacts: the JSON Schema for manifests and the CRD for Kubernetes.

mod crd;
mod manifest_schema;

pub use crd::{crd, crd_yaml, CEL_RULES};
pub use manifest_schema::{manifest_schema, manifest_schema_json, NAMESPACE_PATTERN, NAME_PATTERN};
