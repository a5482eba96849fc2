//! Loads YAML text into positioned documents, within limits on depth and alias expansion.

use std::collections::HashMap;

use serde_json::Number;
use thiserror::Error;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::node::{Document, Entry, Node, NodeKind, Pos};

/// Bounds that keep hostile YAML from exhausting memory or stack.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Deepest nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most nodes in one file, counting every node an alias expands to.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_nodes: 100_000,
        }
    }
}

/// Why a YAML text could not be loaded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum YamlError {
    /// The text is not YAML.
    #[error("YAML syntax error: {message}")]
    Syntax {
        /// Where the parser stopped.
        pos: Pos,
        /// The parser's explanation.
        message: String,
    },
    /// Sequences and mappings nest deeper than allowed.
    #[error("nesting is deeper than the limit of {limit} levels")]
    TooDeep {
        /// The node that went too deep.
        pos: Pos,
        /// The limit.
        limit: usize,
    },
    /// More nodes than allowed, counting what aliases expand to (a "billion laughs" bomb, or
    /// simply a very large file).
    #[error("the file has more than {limit} YAML nodes (counting what aliases expand to); refusing it as a possible YAML bomb")]
    TooManyNodes {
        /// The node or alias that crossed the limit.
        pos: Pos,
        /// The limit.
        limit: usize,
    },
    /// A mapping has the same key twice.
    #[error("duplicate key `{key}` (first defined at line {first_line})")]
    DuplicateKey {
        /// The second occurrence.
        pos: Pos,
        /// The key.
        key: String,
        /// Line of the first occurrence.
        first_line: usize,
    },
    /// A mapping key is a sequence or mapping, which JSON cannot represent.
    #[error("mapping keys must be scalars")]
    ComplexKey {
        /// The key.
        pos: Pos,
    },
}

impl YamlError {
    /// Where the problem is.
    pub fn pos(&self) -> Pos {
        match self {
            YamlError::Syntax { pos, .. }
            | YamlError::TooDeep { pos, .. }
            | YamlError::TooManyNodes { pos, .. }
            | YamlError::DuplicateKey { pos, .. }
            | YamlError::ComplexKey { pos } => *pos,
        }
    }
}

/// A collection being built, with what it has so far.
enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<(String, Pos)>,
    },
}

/// An anchored node with the facts the budget needs when it is repeated.
struct Anchored {
    node: Node,
    size: usize,
    height: usize,
}

struct Builder {
    limits: Limits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    nodes: usize,
    docs: Vec<Document>,
    doc_pos: Pos,
    root: Option<Node>,
}

/// Loads every document of a YAML stream.
pub fn load(text: &str, limits: Limits) -> Result<Vec<Document>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder {
        limits,
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        docs: Vec::new(),
        doc_pos: Pos::START,
        root: None,
    };
    loop {
        let (event, marker) = parser.next_token().map_err(|e| {
            let pos = pos_of(e.marker());
            // The scanner has its own flow-nesting limit, which it may reach before ours.
            if e.info() == "recursion limit exceeded" {
                YamlError::TooDeep {
                    pos,
                    limit: limits.max_depth,
                }
            } else {
                YamlError::Syntax {
                    pos,
                    message: e.info().to_string(),
                }
            }
        })?;
        let pos = pos_of(&marker);
        match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing => {}
            Event::DocumentStart => {
                builder.doc_pos = pos;
                builder.root = None;
                // Anchors do not cross document boundaries.
                builder.anchors.clear();
            }
            Event::DocumentEnd => {
                // An empty document parses as a null scalar; it holds nothing.
                let root = builder
                    .root
                    .take()
                    .filter(|n| !matches!(n.kind, NodeKind::Null));
                builder.docs.push(Document {
                    pos: builder.doc_pos,
                    root,
                });
            }
            Event::Scalar(value, style, anchor, tag) => {
                let node = Node {
                    pos,
                    kind: resolve_scalar(value, style, tag.as_ref()),
                };
                builder.count(pos, 1)?;
                builder.finish(node, anchor, 1, 0)?;
            }
            Event::Alias(id) => {
                let (node, size, height) = match builder.anchors.get(&id) {
                    Some(a) => (a.node.clone(), a.size, a.height),
                    // The parser itself rejects unknown anchors; this is a second line of defence.
                    None => {
                        return Err(YamlError::Syntax {
                            pos,
                            message: "alias refers to an unknown anchor".into(),
                        })
                    }
                };
                builder.count(pos, size)?;
                if builder.stack.len() + height > builder.limits.max_depth {
                    return Err(YamlError::TooDeep {
                        pos,
                        limit: builder.limits.max_depth,
                    });
                }
                // Re-anchoring under id 0 is a no-op: an alias has no anchor of its own.
                builder.finish(Node { pos, ..node }, 0, size, height)?;
            }
            Event::SequenceStart(anchor, _) => {
                builder.open(pos)?;
                builder.stack.push(Frame::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                });
            }
            Event::MappingStart(anchor, _) => {
                builder.open(pos)?;
                builder.stack.push(Frame::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => builder.close()?,
        }
    }
    Ok(builder.docs)
}

impl Builder {
    fn count(&mut self, pos: Pos, n: usize) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.limits.max_nodes {
            return Err(YamlError::TooManyNodes {
                pos,
                limit: self.limits.max_nodes,
            });
        }
        Ok(())
    }

    fn open(&mut self, pos: Pos) -> Result<(), YamlError> {
        self.count(pos, 1)?;
        if self.stack.len() >= self.limits.max_depth {
            return Err(YamlError::TooDeep {
                pos,
                limit: self.limits.max_depth,
            });
        }
        if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            return Err(YamlError::ComplexKey { pos });
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), YamlError> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let (node, anchor) = match frame {
            Frame::Seq { pos, anchor, items } => (
                Node {
                    pos,
                    kind: NodeKind::Seq(items),
                },
                anchor,
            ),
            Frame::Map {
                pos,
                anchor,
                entries,
                ..
            } => (
                Node {
                    pos,
                    kind: NodeKind::Map(entries),
                },
                anchor,
            ),
        };
        let (size, height) = if anchor != 0 { measure(&node) } else { (0, 0) };
        self.finish(node, anchor, size, height)
    }

    /// Places a complete node into its parent, or makes it the document's root.
    fn finish(
        &mut self,
        node: Node,
        anchor: usize,
        size: usize,
        height: usize,
    ) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(
                anchor,
                Anchored {
                    node: node.clone(),
                    size,
                    height,
                },
            );
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                key,
                pos: map_pos,
                ..
            }) => match key.take() {
                Some((key, key_pos)) => entries.push(Entry {
                    key,
                    key_pos,
                    value: node,
                }),
                None => {
                    let text = match node.kind {
                        NodeKind::Str(s) => s,
                        NodeKind::Null => "null".to_string(),
                        NodeKind::Bool(b) => b.to_string(),
                        NodeKind::Number(n) => n.to_string(),
                        NodeKind::Seq(_) | NodeKind::Map(_) => {
                            return Err(YamlError::ComplexKey { pos: node.pos })
                        }
                    };
                    if let Some(first) = entries.iter().find(|e| e.key == text) {
                        return Err(YamlError::DuplicateKey {
                            pos: node.pos,
                            key: text,
                            first_line: first.key_pos.line,
                        });
                    }
                    // A block mapping's start event is marked after its first key; the key
                    // itself is where a reader looks for the mapping.
                    if entries.is_empty() && node.pos < *map_pos {
                        *map_pos = node.pos;
                    }
                    *key = Some((text, node.pos));
                }
            },
        }
        Ok(())
    }
}

/// Node count and height of a subtree, computed once when it is anchored.
fn measure(node: &Node) -> (usize, usize) {
    match &node.kind {
        NodeKind::Seq(items) => items
            .iter()
            .map(measure)
            .fold((1, 1), |(s, h), (cs, ch)| (s + cs, h.max(ch + 1))),
        NodeKind::Map(entries) => entries
            .iter()
            .map(|e| measure(&e.value))
            .fold((1, 1), |(s, h), (cs, ch)| (s + cs + 1, h.max(ch + 1))),
        _ => (1, 0),
    }
}

fn pos_of(marker: &Marker) -> Pos {
    Pos {
        line: marker.line(),
        column: marker.col() + 1,
    }
}

/// Resolves a scalar with the YAML 1.2 core schema; quoted scalars and `!!str` are strings.
fn resolve_scalar(value: String, style: TScalarStyle, tag: Option<&Tag>) -> NodeKind {
    if let Some(tag) = tag {
        if tag.suffix == "str" {
            return NodeKind::Str(value);
        }
    }
    if style != TScalarStyle::Plain {
        return NodeKind::Str(value);
    }
    match value.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(&value) {
        return NodeKind::Number(n.into());
    }
    if let Some(f) = parse_float(&value).and_then(Number::from_f64) {
        return NodeKind::Number(f);
    }
    NodeKind::Str(value)
}

fn parse_int(text: &str) -> Option<i64> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i64>().ok()?
    } else {
        return None;
    };
    Some(if neg { -magnitude } else { magnitude })
}

fn parse_float(text: &str) -> Option<f64> {
    let body = text.trim_start_matches(['-', '+']);
    let looks_numeric = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && body.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric {
        text.parse::<f64>().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let docs = load(text, Limits::default()).expect("loads");
        docs.into_iter().next().and_then(|d| d.root).expect("root")
    }

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let root = one("a: 1\nspec:\n  label: x\n");
        let (pos, key) = root.locate(&[
            super::super::Segment::Key("spec".into()),
            super::super::Segment::Key("label".into()),
        ]);
        assert_eq!(
            pos,
            Pos {
                line: 3,
                column: 10
            }
        );
        assert_eq!(key, Some(Pos { line: 3, column: 3 }));
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let root = one("a: yes\nb: true\nc: 12\nd: '12'\ne: 1.5\nf: ~\ng: 0x1F\n");
        let json = root.to_json();
        assert_eq!(json["a"], "yes");
        assert_eq!(json["b"], true);
        assert_eq!(json["c"], 12);
        assert_eq!(json["d"], "12");
        assert_eq!(json["e"], 1.5);
        assert!(json["f"].is_null());
        assert_eq!(json["g"], 31);
    }

    #[test]
    fn duplicate_keys_are_rejected_at_the_second_key() {
        let err = load("a: 1\nb: 2\na: 3\n", Limits::default()).unwrap_err();
        assert_eq!(
            err,
            YamlError::DuplicateKey {
                pos: Pos { line: 3, column: 1 },
                key: "a".into(),
                first_line: 1
            }
        );
    }

    #[test]
    fn alias_bomb_is_cut_off() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = load(&text, Limits::default()).unwrap_err();
        assert!(matches!(err, YamlError::TooManyNodes { .. }), "{err:?}");
    }

    #[test]
    fn small_aliases_expand() {
        let root = one("base: &b {x: 1}\ncopy: *b\n");
        assert_eq!(root.to_json()["copy"]["x"], 1);
    }

    #[test]
    fn deep_nesting_is_cut_off() {
        let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = load(&text, Limits::default()).unwrap_err();
        assert!(
            matches!(err, YamlError::TooDeep { limit: 64, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn deep_block_nesting_is_cut_off() {
        let text: String = (0..5_000)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        let err = load(&text, Limits::default()).unwrap_err();
        assert!(
            matches!(err, YamlError::TooDeep { limit: 64, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn documents_are_split_and_empty_ones_kept_as_none() {
        let docs = load("a: 1\n---\n---\nb: 2\n", Limits::default()).unwrap();
        assert_eq!(docs.len(), 3);
        assert!(docs[1].root.is_none());
        assert_eq!(docs[2].pos.line, 3);
    }

    #[test]
    fn complex_keys_are_rejected() {
        let err = load("? [a]\n: 1\n", Limits::default()).unwrap_err();
        assert!(matches!(err, YamlError::ComplexKey { .. }), "{err:?}");
    }
}
