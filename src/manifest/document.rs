//! Sorting a loaded document by apiVersion and kind.

use crate::diagnostic::Diagnostic;
use crate::model::{API_VERSION, GROUP, KIND};
use crate::yaml::{Node, NodeKind, Pos, Segment};

use super::secret_doc::{parse_secret, SecretDoc};

/// Where a document came from, for messages.
#[derive(Clone, Debug)]
pub struct DocContext<'a> {
    /// The file, as displayed.
    pub file: &'a str,
    /// Where the document starts.
    pub pos: Pos,
}

/// A BigCommerceCredential document, not yet checked against the schema.
#[derive(Clone, Debug)]
pub struct CredentialDoc {
    /// The file, as displayed.
    pub file: String,
    /// The document's root mapping, kept for error locations.
    pub root: Node,
}

/// What a document turned out to be.
#[derive(Debug)]
pub enum Classified {
    /// A BigCommerceCredential.
    Credential(CredentialDoc),
    /// A `v1/Secret` that secretKeyRefs may point to, with any problems found in it.
    Secret(Box<SecretDoc>, Vec<Diagnostic>),
    /// Some other kind, which bccreds ignores.
    Other {
        /// `apiVersion/kind`, for the verbose note.
        what: String,
    },
    /// Not something bccreds can use; the diagnostics say why.
    Invalid(Vec<Diagnostic>),
}

/// Sorts one document by its `apiVersion` and `kind`.
pub fn classify(ctx: &DocContext<'_>, root: Node) -> Classified {
    let err = |pos: Pos, path: &[Segment], msg: String| {
        Classified::Invalid(vec![Diagnostic::new(ctx.file, pos, path, msg)])
    };
    if !matches!(root.kind, NodeKind::Map(_)) {
        return err(
            root.pos,
            &[],
            format!(
                "a document must be a mapping with apiVersion and kind, found {}",
                root.type_name()
            ),
        );
    }
    let field = |name: &str| -> Result<String, Classified> {
        let key = Segment::Key(name.to_string());
        match root.get(name) {
            None => Err(err(
                root.pos,
                &[],
                format!("missing `{name}`; every document needs apiVersion and kind"),
            )),
            Some(node) => match node.as_str() {
                Some(s) => Ok(s.to_string()),
                None => Err(err(
                    node.pos,
                    &[key],
                    format!("`{name}` must be a string, found {}", node.type_name()),
                )),
            },
        }
    };
    let (api_version, kind) = match (field("apiVersion"), field("kind")) {
        (Ok(a), Ok(k)) => (a, k),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let kind_pos = root.get("kind").map_or(root.pos, |n| n.pos);
    let version_pos = root.get("apiVersion").map_or(root.pos, |n| n.pos);
    let group = api_version.split('/').next().unwrap_or_default();
    if kind == KIND || kind.eq_ignore_ascii_case(KIND) || group == GROUP {
        if kind != KIND {
            return err(
                kind_pos,
                &[Segment::Key("kind".into())],
                format!("unknown kind `{kind}` in group {GROUP}; the only kind is {KIND}"),
            );
        }
        if api_version != API_VERSION {
            return err(
                version_pos,
                &[Segment::Key("apiVersion".into())],
                format!("apiVersion `{api_version}` is not served for {KIND}; use {API_VERSION}"),
            );
        }
        return Classified::Credential(CredentialDoc {
            file: ctx.file.to_string(),
            root,
        });
    }
    if kind == "Secret" && api_version == "v1" {
        let (secret, problems) = parse_secret(ctx.file, &root);
        return Classified::Secret(Box::new(secret), problems);
    }
    Classified::Other {
        what: format!("{api_version}/{kind}"),
    }
}
