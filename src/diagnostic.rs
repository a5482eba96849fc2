//! A problem found in a manifest, with the place it was found.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::yaml::{Pos, Segment};

/// One problem, printed as `FILE:LINE:COL: JSON.PATH: message`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The file, as reached from the paths given on the command line.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// JSONPath of the offending node within its document; `$` for the whole document or file.
    pub path: String,
    /// What is wrong and, where possible, how to fix it. Never holds a secret value.
    pub message: String,
}

impl Diagnostic {
    /// A problem at `pos` in `file`, about the node at `path`.
    pub fn new(file: &str, pos: Pos, path: &[Segment], message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            line: pos.line,
            column: pos.column,
            path: crate::yaml::json_path(path),
            message: message.into(),
        }
    }

    /// A problem with a whole file (too big, not UTF-8 …) located at `pos`.
    pub fn file(file: &str, pos: Pos, message: impl Into<String>) -> Self {
        Self::new(file, pos, &[], message)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // File names and quoted YAML values come from outside: never let them drive a terminal.
        let safe = crate::redact::escape_controls;
        write!(
            f,
            "{}:{}:{}: {}: {}",
            safe(&self.file),
            self.line,
            self.column,
            safe(&self.path),
            safe(&self.message)
        )
    }
}
