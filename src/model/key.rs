//! The identity of a credential across passes, modes and the store.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `namespace/name` of a manifest: the identity that survives edits and renames of labels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourceKey {
    /// Namespace (`default` in file mode when none is given).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl SourceKey {
    /// A key from its two parts.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> SourceKey {
        SourceKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// Parses `namespace/name`.
    pub fn parse(text: &str) -> Option<SourceKey> {
        let (namespace, name) = text.split_once('/')?;
        Some(SourceKey::new(namespace, name))
    }

    /// Parses a key as the store keeps it: a text without a namespace (written by hand, or by a
    /// version that had none) keeps the whole text as its name, so that it still names its row.
    pub fn stored(text: &str) -> SourceKey {
        SourceKey::parse(text).unwrap_or_else(|| SourceKey::new("", text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_back_as_it_was_written() {
        let key = SourceKey::new("shop", "prod");
        assert_eq!(SourceKey::parse(&key.to_string()), Some(key.clone()));
        assert_eq!(SourceKey::stored("shop/prod"), key);
        // A name may hold a slash only after the namespace's.
        assert_eq!(SourceKey::stored("a/b/c"), SourceKey::new("a", "b/c"));
        assert_eq!(SourceKey::stored("bare"), SourceKey::new("", "bare"));
    }
}
