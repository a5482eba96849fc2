//! Checks across all documents: Secret references resolve, and names and labels are unique.

use std::collections::BTreeMap;

use crate::diagnostic::Diagnostic;
use crate::manifest::SecretDoc;
use crate::model::SecretSource;
use crate::yaml::Segment;

use super::{Rejected, ValidCredential};
use crate::manifest::DEFAULT_NAMESPACE;
use crate::yaml::Pos;

/// Tree-wide diagnostics for the credentials and Secrets found; a credential that shares its
/// name or label with another also gets the diagnostic as its `conflict`, so that no source
/// applies it.
pub fn check(
    creds: &mut [ValidCredential],
    rejected: &[Rejected],
    secrets: &[SecretDoc],
    kubernetes: bool,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut secret_index: BTreeMap<(&str, &str), &SecretDoc> = BTreeMap::new();
    for secret in secrets {
        let key = (secret.namespace.as_str(), secret.name.as_str());
        if let Some(first) = secret_index.get(&key) {
            out.push(Diagnostic::new(
                &secret.file,
                secret.pos,
                &[Segment::Key("metadata".into()), Segment::Key("name".into())],
                format!(
                    "duplicate Secret {}/{}: also defined at {}:{}",
                    secret.namespace, secret.name, first.file, first.pos.line
                ),
            ));
        } else {
            secret_index.insert(key, secret);
        }
    }
    if !kubernetes {
        for cred in creds.iter() {
            out.extend(check_refs(cred, &secret_index));
        }
    }
    // Documents that failed their own checks take part too: their rows are kept under their
    // names, so a valid document with the same name or label must not be applied beside them,
    // and a user fixing one error should not meet the duplicate only afterwards.
    let ids: Vec<Identity> = creds
        .iter()
        .enumerate()
        .map(|(index, c)| Identity::of_valid(index, c))
        .chain(rejected.iter().map(Identity::of_rejected))
        .collect();
    let mut conflicts = duplicates(&ids, Field::Name);
    conflicts.extend(duplicates(&ids, Field::Label));
    for (index, diag) in conflicts {
        if let Some(cred) = index.and_then(|i| creds.get_mut(i)) {
            if cred.conflict.is_none() {
                cred.conflict = Some(diag.to_string());
            }
        }
        out.push(diag);
    }
    out
}

fn check_refs(
    cred: &ValidCredential,
    secrets: &BTreeMap<(&str, &str), &SecretDoc>,
) -> Vec<Diagnostic> {
    let (namespace, _) = cred.key();
    let mut out = Vec::new();
    for (field, source) in cred.resource.spec.secret_sources() {
        let SecretSource::SecretKeyRef(r) = source else {
            continue;
        };
        let base = ["spec", field, "secretKeyRef"];
        let at = |leaf: &str| -> Vec<Segment> {
            base.iter()
                .chain([&leaf])
                .map(|s| Segment::Key(s.to_string()))
                .collect()
        };
        match secrets.get(&(namespace.as_str(), r.name.as_str())) {
            None => out.push(cred.diagnostic(
                &at("name"),
                format!(
                    "Secret `{}` not found in namespace `{namespace}` among the validated files; add its manifest, or pass --kubernetes if it lives in the cluster",
                    r.name
                ),
            )),
            Some(secret)
                if !secret.entries.contains_key(&r.key) && !secret.invalid_keys.contains(&r.key) =>
            {
                let keys: Vec<&str> = secret.entries.keys().map(String::as_str).collect();
                out.push(cred.diagnostic(
                    &at("key"),
                    format!(
                        "Secret `{namespace}/{}` has no key `{}` (its keys: {})",
                        r.name,
                        r.key,
                        if keys.is_empty() { "none".to_string() } else { keys.join(", ") }
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Label,
}

/// What the duplicate checks need of a credential document, valid or rejected.
struct Identity {
    /// Index among the valid credentials; None for a rejected document.
    valid: Option<usize>,
    file: String,
    /// `namespace/name`, when the document has a name.
    name: Option<String>,
    /// The label as written, when it has one.
    label: Option<String>,
    name_pos: Pos,
    label_pos: Pos,
}

impl Identity {
    fn of_valid(index: usize, cred: &ValidCredential) -> Identity {
        let (ns, name) = cred.key();
        let at = |field: &[&str]| {
            let path: Vec<Segment> = field.iter().map(|k| Segment::Key(k.to_string())).collect();
            cred.doc.locate(&path)
        };
        Identity {
            valid: Some(index),
            file: cred.doc.file.clone(),
            name: Some(format!("{ns}/{name}")),
            label: Some(cred.resource.spec.label.clone()),
            name_pos: at(&["metadata", "name"]),
            label_pos: at(&["spec", "label"]),
        }
    }

    fn of_rejected(r: &Rejected) -> Identity {
        let ns = r.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
        Identity {
            valid: None,
            file: r.file.clone(),
            name: r.name.as_ref().map(|name| format!("{ns}/{name}")),
            label: r.label.clone(),
            name_pos: r.name_pos,
            label_pos: r.label_pos,
        }
    }

    /// The value compared: labels are unique across the store, and MySQL's default collation
    /// ignores case and trailing spaces, so the comparison does too.
    fn key(&self, field: Field) -> Option<String> {
        match field {
            Field::Name => self.name.clone(),
            Field::Label => self.label.as_deref().map(crate::model::label_key),
        }
    }

    fn pos(&self, field: Field) -> Pos {
        match field {
            Field::Name => self.name_pos,
            Field::Label => self.label_pos,
        }
    }
}

/// Every document sharing a value of `field` with another gets the same error, naming the
/// others; returned with the valid credential's index, if it is one.
fn duplicates(ids: &[Identity], field: Field) -> Vec<(Option<usize>, Diagnostic)> {
    let mut groups: BTreeMap<String, Vec<&Identity>> = BTreeMap::new();
    for id in ids {
        if let Some(key) = id.key(field) {
            groups.entry(key).or_default().push(id);
        }
    }
    let (name, path): (&str, Vec<Segment>) = match field {
        Field::Name => (
            "name",
            vec![Segment::Key("metadata".into()), Segment::Key("name".into())],
        ),
        Field::Label => (
            "label",
            vec![Segment::Key("spec".into()), Segment::Key("label".into())],
        ),
    };
    let mut out = Vec::new();
    for group in groups.values().filter(|g| g.len() > 1) {
        for (i, id) in group.iter().enumerate() {
            let others: Vec<String> = group
                .iter()
                .enumerate()
                .filter(|(o, _)| *o != i)
                .map(|(_, other)| format!("{}:{}", other.file, other.pos(field).line))
                .collect();
            let shown = match field {
                Field::Name => id.name.clone(),
                Field::Label => id.label.clone(),
            }
            .unwrap_or_default();
            let message = format!(
                "duplicate {name} `{}`: also used at {}; neither is applied until it is unique",
                crate::redact::escape_controls(&shown),
                others.join(", ")
            );
            out.push((
                id.valid,
                Diagnostic::new(&id.file, id.pos(field), &path, message),
            ));
        }
    }
    out
}
