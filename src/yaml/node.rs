//! The positioned YAML tree, its JSON view and path lookups.

use std::fmt;

use serde_json::{Map, Number, Value};

/// A 1-based line and column in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Pos {
    /// The start of a file, used for errors about a whole file.
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// One node of a YAML document with its position.
#[derive(Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub pos: Pos,
    /// What the node holds.
    pub kind: NodeKind,
}

/// The value of a node, resolved with the YAML 1.2 core schema.
#[derive(Clone, PartialEq)]
pub enum NodeKind {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer or float.
    Number(Number),
    /// A string scalar.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order, with string keys.
    Map(Vec<Entry>),
}

/// One key and value of a mapping.
#[derive(Clone, PartialEq)]
pub struct Entry {
    /// The key as text.
    pub key: String,
    /// Where the key starts.
    pub key_pos: Pos,
    /// The value.
    pub value: Node,
}

// Scalars may be secret values (a Secret's stringData), so Debug never shows them.
impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NodeKind::Seq(items) => f.debug_list().entries(items).finish(),
            NodeKind::Map(entries) => f
                .debug_map()
                .entries(entries.iter().map(|e| (&e.key, &e.value)))
                .finish(),
            _ => write!(
                f,
                "{}@{}:{}",
                self.type_name(),
                self.pos.line,
                self.pos.column
            ),
        }
    }
}

/// One step of a path into a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

impl Node {
    /// A short name of the node's type for messages ("a string", "a mapping").
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Number(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a sequence",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// The node as a mapping's entries, if it is one.
    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under `key`, if this is a mapping holding it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// The entry under `key`, if this is a mapping holding it.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }

    /// The string value, if this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The JSON view of the node, as Kubernetes converts YAML to JSON.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Number(n) => Value::Number(n.clone()),
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// The position of the node at `path` and, when it is a mapping value, of its key.
    ///
    /// Where the path leaves the tree, the deepest node reached is returned.
    pub fn locate(&self, path: &[Segment]) -> (Pos, Option<Pos>) {
        let mut node = self;
        let mut key_pos = None;
        for segment in path {
            let next = match (segment, &node.kind) {
                (Segment::Key(k), NodeKind::Map(entries)) => entries
                    .iter()
                    .find(|e| &e.key == k)
                    .map(|e| (&e.value, Some(e.key_pos))),
                (Segment::Index(i), NodeKind::Seq(items)) => items.get(*i).map(|n| (n, None)),
                // A JSON pointer cannot tell the key "0" from the index 0.
                (Segment::Index(i), NodeKind::Map(entries)) => entries
                    .iter()
                    .find(|e| e.key == i.to_string())
                    .map(|e| (&e.value, Some(e.key_pos))),
                _ => None,
            };
            match next {
                Some((n, k)) => {
                    node = n;
                    key_pos = k;
                }
                None => break,
            }
        }
        (node.pos, key_pos)
    }
}

/// One YAML document of a file.
#[derive(Clone, Debug)]
pub struct Document {
    /// Where the document starts.
    pub pos: Pos,
    /// Its root node; `None` for an empty document.
    pub root: Option<Node>,
}

/// Formats a path as JSONPath: `$.spec.localeMapping.en_US`, `$.metadata.annotations['a/b']`.
pub fn json_path(path: &[Segment]) -> String {
    let mut out = String::from("$");
    for segment in path {
        match segment {
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
            Segment::Key(k) if is_identifier(k) => {
                out.push('.');
                out.push_str(k);
            }
            Segment::Key(k) => out.push_str(&format!("['{}']", k.replace('\'', "\\'"))),
        }
    }
    out
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Parses a JSON pointer (`/spec/apiUrl`) into segments, reading numbers as indexes.
pub fn pointer_segments(pointer: &str) -> Vec<Segment> {
    pointer
        .split('/')
        .skip(1)
        .map(|raw| {
            let key = raw.replace("~1", "/").replace("~0", "~");
            match key.parse::<usize>() {
                Ok(i) if !key.starts_with('+') => Segment::Index(i),
                _ => Segment::Key(key),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_path_quotes_keys_that_are_not_identifiers() {
        let path = vec![
            Segment::Key("metadata".into()),
            Segment::Key("annotations".into()),
            Segment::Key("bigcommerce.unopim.io/adopt".into()),
        ];
        assert_eq!(
            json_path(&path),
            "$.metadata.annotations['bigcommerce.unopim.io/adopt']"
        );
        assert_eq!(
            json_path(&[Segment::Key("a".into()), Segment::Index(2)]),
            "$.a[2]"
        );
    }

    #[test]
    fn pointer_segments_unescape() {
        assert_eq!(
            pointer_segments("/metadata/annotations/a~1b/0"),
            vec![
                Segment::Key("metadata".into()),
                Segment::Key("annotations".into()),
                Segment::Key("a/b".into()),
                Segment::Index(0)
            ]
        );
        assert!(pointer_segments("").is_empty());
    }
}
