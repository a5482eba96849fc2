//! `kind: Secret` documents in a manifest tree, as SOPS or sealed-secrets output them.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;

use crate::diagnostic::Diagnostic;
use crate::secret::SecretValue;
use crate::yaml::{Node, NodeKind, Pos, Segment};

use super::DEFAULT_NAMESPACE;

/// One key of a Secret document; its value is redacted from the moment it is read.
#[derive(Clone, Debug)]
pub struct SecretEntry {
    /// Where the value is.
    pub pos: Pos,
    /// The decoded value.
    pub value: SecretValue,
}

/// A `v1/Secret` document.
#[derive(Clone, Debug)]
pub struct SecretDoc {
    /// The file, as displayed.
    pub file: String,
    /// Where `metadata.name` is.
    pub pos: Pos,
    /// Namespace, `default` when none is given.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Keys from `data` (base64-decoded) and `stringData`, which wins as in Kubernetes.
    pub entries: BTreeMap<String, SecretEntry>,
    /// Keys present but unreadable (already reported), so references to them add no noise.
    pub invalid_keys: BTreeSet<String>,
}

/// Reads a Secret document, with the problems found in it; messages name keys, never values.
pub fn parse_secret(file: &str, root: &Node) -> (SecretDoc, Vec<Diagnostic>) {
    let mut problems = Vec::new();
    let path = |parts: &[&str]| -> Vec<Segment> {
        parts.iter().map(|p| Segment::Key(p.to_string())).collect()
    };
    let metadata = root.get("metadata");
    let name_node = metadata.and_then(|m| m.get("name"));
    let name = match name_node.and_then(Node::as_str) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => {
            let pos = name_node.or(metadata).map_or(root.pos, |n| n.pos);
            problems.push(Diagnostic::new(
                file,
                pos,
                &path(&["metadata", "name"]),
                "a Secret needs metadata.name",
            ));
            String::new()
        }
    };
    let namespace = metadata
        .and_then(|m| m.get("namespace"))
        .and_then(Node::as_str)
        .unwrap_or(DEFAULT_NAMESPACE)
        .to_string();
    let mut entries = BTreeMap::new();
    let mut invalid_keys = BTreeSet::new();
    for (section, decode) in [("data", true), ("stringData", false)] {
        let Some(node) = root.get(section) else {
            continue;
        };
        let Some(items) = node.entries() else {
            if !matches!(node.kind, NodeKind::Null) {
                problems.push(Diagnostic::new(
                    file,
                    node.pos,
                    &path(&[section]),
                    format!("`{section}` must be a mapping of keys to values"),
                ));
            }
            continue;
        };
        for item in items {
            let at = path(&[section, &item.key]);
            let Some(raw) = item.value.as_str() else {
                invalid_keys.insert(item.key.clone());
                problems.push(Diagnostic::new(
                    file,
                    item.value.pos,
                    &at,
                    format!(
                        "Secret values must be strings, found {}; quote the value",
                        item.value.type_name()
                    ),
                ));
                continue;
            };
            let value = if decode {
                let compact: String = raw.split_whitespace().collect();
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(compact.as_bytes())
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok());
                match decoded {
                    Some(text) => SecretValue::new(text),
                    None => {
                        invalid_keys.insert(item.key.clone());
                        problems.push(Diagnostic::new(
                            file,
                            item.value.pos,
                            &at,
                            format!("data key `{}` is not base64 of UTF-8 text; use stringData for plain text", item.key),
                        ));
                        continue;
                    }
                }
            } else {
                SecretValue::new(raw)
            };
            entries.insert(
                item.key.clone(),
                SecretEntry {
                    pos: item.value.pos,
                    value,
                },
            );
        }
    }
    let doc = SecretDoc {
        file: file.to_string(),
        pos: name_node.map_or(root.pos, |n| n.pos),
        namespace,
        name,
        entries,
        invalid_keys,
    };
    (doc, problems)
}
