//! Validation: JSON Schema, then semantic checks, then checks across the whole tree. Pure:
//! it works on text and documents the source has read, and does no IO of its own.

mod codes;
mod schema_check;
pub mod semantic;
mod tree;

use crate::diagnostic::Diagnostic;
use crate::manifest::{self, Classified, CredentialDoc, DocContext, SecretDoc};
use crate::model::BigCommerceCredential;
use crate::yaml::{self, Limits, Pos, Segment};

pub use semantic::{glob_matches, SemanticOptions, DEFAULT_ENV_ALLOW};

/// How strictly and how far to validate.
#[derive(Clone, Debug)]
pub struct ValidateOptions {
    /// Largest file read, in bytes.
    pub max_file_size: u64,
    /// YAML depth and alias-expansion bounds.
    pub limits: Limits,
    /// URL host allow-list and mode.
    pub semantic: SemanticOptions,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            max_file_size: manifest::DEFAULT_MAX_FILE_SIZE,
            limits: Limits::default(),
            semantic: SemanticOptions {
                allowed_hosts: vec![crate::api_url::DEFAULT_ALLOWED_HOST.to_string()],
                kubernetes: false,
                env_allow: DEFAULT_ENV_ALLOW.iter().map(|p| p.to_string()).collect(),
            },
        }
    }
}

/// Where the parts of a valid credential's document are: what the checks across the tree and
/// the sources point at, kept instead of the document's YAML tree, which is dropped once checked.
#[derive(Clone, Debug)]
pub struct Placed {
    /// The file, as displayed.
    pub file: String,
    /// The document's start, then the located parts (see [`Placed::PARTS`]).
    places: Vec<(&'static [&'static str], Pos)>,
}

impl Placed {
    /// The parts later checks point at: name and label, and each secretKeyRef's name and key.
    const PARTS: [&'static [&'static str]; 8] = [
        &["metadata", "name"],
        &["spec", "label"],
        &["spec", "accessToken", "secretKeyRef", "name"],
        &["spec", "accessToken", "secretKeyRef", "key"],
        &["spec", "clientSecret", "secretKeyRef", "name"],
        &["spec", "clientSecret", "secretKeyRef", "key"],
        &["spec", "clientId", "secretKeyRef", "name"],
        &["spec", "clientId", "secretKeyRef", "key"],
    ];

    fn of(doc: &CredentialDoc) -> Placed {
        let mut places = vec![(&[][..], doc.root.pos)];
        for part in Self::PARTS {
            let path: Vec<Segment> = part.iter().map(|k| Segment::Key(k.to_string())).collect();
            let (pos, _) = doc.root.locate(&path);
            if pos != doc.root.pos {
                places.push((part, pos));
            }
        }
        Placed {
            file: doc.file.clone(),
            places,
        }
    }

    /// Where the node at `path` is: the nearest located part on the way to it.
    pub fn locate(&self, path: &[Segment]) -> Pos {
        let keys: Vec<&str> = path
            .iter()
            .map_while(|s| match s {
                Segment::Key(k) => Some(k.as_str()),
                Segment::Index(_) => None,
            })
            .collect();
        self.places
            .iter()
            .filter(|(part, _)| keys.starts_with(part))
            .max_by_key(|(part, _)| part.len())
            .map_or(Pos::START, |(_, pos)| *pos)
    }
}

/// A credential that passed the schema and the semantic checks of its own document.
#[derive(Clone, Debug)]
pub struct ValidCredential {
    /// Where its document is, for locations.
    pub doc: Placed,
    /// The typed resource.
    pub resource: BigCommerceCredential,
    /// Set by the tree checks when another credential shares its name or label: the
    /// diagnostic, which is also why no source applies it.
    pub conflict: Option<String>,
}

impl ValidCredential {
    /// `namespace/name`, with file mode's default namespace.
    pub fn key(&self) -> (String, String) {
        (
            self.resource
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| manifest::DEFAULT_NAMESPACE.to_string()),
            self.resource.metadata.name.clone().unwrap_or_default(),
        )
    }

    /// A diagnostic about the node at `path` of this credential's document.
    pub fn diagnostic(&self, path: &[Segment], message: String) -> Diagnostic {
        Diagnostic::new(&self.doc.file, self.doc.locate(path), path, message)
    }
}

/// Everything found under the given paths.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Problems, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// Verbose notes, such as skipped documents.
    pub notes: Vec<String>,
    /// Credentials whose own documents are valid (tree-wide problems may still name them).
    pub credentials: Vec<ValidCredential>,
    /// Secret documents.
    pub secrets: Vec<SecretDoc>,
    /// Credential documents that failed their own checks, with whatever identity they show.
    pub rejected: Vec<Rejected>,
    /// Files that could not be read or parsed, so their credentials are unknown.
    pub unreadable_files: usize,
    /// Files read.
    pub files: usize,
    /// Non-empty documents seen.
    pub documents: usize,
}

/// An invalid credential document: its row must be kept, so its identity matters.
#[derive(Clone, Debug)]
pub struct Rejected {
    /// The file.
    pub file: String,
    /// `metadata.namespace`, where readable.
    pub namespace: Option<String>,
    /// `metadata.name`, where readable; without it the scan is incomplete.
    pub name: Option<String>,
    /// `spec.label`, where readable.
    pub label: Option<String>,
    /// The first problem, for status.
    pub message: String,
    /// Where `metadata.name` and `spec.label` are, for tree-wide duplicate checks.
    pub name_pos: Pos,
    /// See `name_pos`.
    pub label_pos: Pos,
}

impl Rejected {
    fn from_root(file: &str, root: &crate::yaml::Node, diags: &[Diagnostic]) -> Rejected {
        let text = |path: &[&str]| {
            path.iter()
                .try_fold(root, |n, k| n.get(k))
                .and_then(crate::yaml::Node::as_str)
                .map(str::to_string)
        };
        let pos = |path: &[&str]| {
            let segments: Vec<Segment> = path.iter().map(|k| Segment::Key(k.to_string())).collect();
            root.locate(&segments).0
        };
        Rejected {
            name_pos: pos(&["metadata", "name"]),
            label_pos: pos(&["spec", "label"]),
            file: file.to_string(),
            namespace: text(&["metadata", "namespace"]),
            name: text(&["metadata", "name"]),
            label: text(&["spec", "label"]),
            message: diags
                .first()
                .map_or_else(|| "invalid".to_string(), |d| d.to_string()),
        }
    }
}

impl Report {
    /// True when nothing is wrong.
    pub fn is_valid(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// Adds another file's results to these.
    pub fn merge(&mut self, one: Report) {
        self.diagnostics.extend(one.diagnostics);
        self.notes.extend(one.notes);
        self.credentials.extend(one.credentials);
        self.secrets.extend(one.secrets);
        self.rejected.extend(one.rejected);
        self.unreadable_files += one.unreadable_files;
        self.files += one.files;
        self.documents += one.documents;
    }

    /// Runs the checks across the whole tree, then sorts the diagnostics by place.
    pub fn check_tree(&mut self, opts: &ValidateOptions) {
        let found = tree::check(
            &mut self.credentials,
            &self.rejected,
            &self.secrets,
            opts.semantic.kubernetes,
        );
        self.diagnostics.extend(found);
        self.diagnostics
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        self.diagnostics.dedup();
    }
}

/// Validates the documents of one file's text, adding to `report`.
pub fn validate_text(file: &str, text: &str, opts: &ValidateOptions, report: &mut Report) {
    let docs = match yaml::load(text, opts.limits) {
        Ok(docs) => docs,
        Err(e) => {
            report.unreadable_files += 1;
            report
                .diagnostics
                .push(Diagnostic::file(file, e.pos(), e.to_string()));
            return;
        }
    };
    if docs.iter().all(|d| d.root.is_none()) {
        // Possibly a file caught mid-write: its credentials are unknown, not gone.
        report.unreadable_files += 1;
        report.diagnostics.push(Diagnostic::file(
            file,
            Pos::START,
            "file is empty: it holds no YAML document",
        ));
        return;
    }
    for doc in docs {
        let Some(root) = doc.root else {
            continue;
        };
        report.documents += 1;
        let ctx = DocContext {
            file,
            pos: root.pos,
        };
        match manifest::classify(&ctx, root) {
            Classified::Credential(doc) => check_credential(doc, opts, report),
            Classified::Secret(secret, problems) => {
                report.diagnostics.extend(problems);
                report.secrets.push(*secret);
            }
            Classified::Other { what } => report.notes.push(format!(
                "{file}:{}:{}: skipped {what}: not a bccreds kind",
                ctx.pos.line, ctx.pos.column
            )),
            // A document that is not even a recognisable object hides whatever it held.
            Classified::Invalid(diags) => {
                report.unreadable_files += 1;
                report.diagnostics.extend(diags);
            }
        }
    }
}

fn check_credential(doc: CredentialDoc, opts: &ValidateOptions, report: &mut Report) {
    let json = match schema_check::check(&doc.file, &doc.root) {
        Ok(json) => json,
        Err(diags) => {
            report
                .rejected
                .push(Rejected::from_root(&doc.file, &doc.root, &diags));
            report.diagnostics.extend(diags);
            return;
        }
    };
    let resource: BigCommerceCredential = match serde_json::from_value(json) {
        Ok(r) => r,
        Err(_) => {
            // serde's messages quote values, so only the fact is reported.
            let diag = Diagnostic::new(
                &doc.file,
                doc.root.pos,
                &[],
                "does not match the BigCommerceCredential type",
            );
            report.rejected.push(Rejected::from_root(
                &doc.file,
                &doc.root,
                std::slice::from_ref(&diag),
            ));
            report.diagnostics.push(diag);
            return;
        }
    };
    let findings = semantic::check(&resource, &opts.semantic);
    if findings.is_empty() {
        report.credentials.push(ValidCredential {
            doc: Placed::of(&doc),
            resource,
            conflict: None,
        });
    } else {
        let diags: Vec<Diagnostic> = findings
            .into_iter()
            .map(|f| {
                let (pos, key) = doc.root.locate(&f.path);
                let pos = if f.at_key { key.unwrap_or(pos) } else { pos };
                Diagnostic::new(&doc.file, pos, &f.path, f.message)
            })
            .collect();
        report
            .rejected
            .push(Rejected::from_root(&doc.file, &doc.root, &diags));
        report.diagnostics.extend(diags);
    }
}
