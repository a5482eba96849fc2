//! A bounded YAML loader that keeps the line and column of every node.
//!
//! serde_yaml and friends give no per-node positions and expand aliases without a budget, so
//! manifests are loaded here from yaml-rust2's event stream into a small tree of our own.

mod loader;
mod node;

pub use loader::{load, Limits, YamlError};
pub use node::{json_path, pointer_segments, Document, Entry, Node, NodeKind, Pos, Segment};
