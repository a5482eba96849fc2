//! Checks across all documents: Secret references resolve, and names and labels are unique.

use std::collections::BTreeMap;

use crate::diagnostic::Diagnostic;
use crate::manifest::SecretDoc;
use crate::model::SecretSource;
use crate::yaml::Segment;

use super::ValidCredential;

/// Tree-wide diagnostics for the credentials and Secrets found; a credential that shares its
/// name or label with another also gets the diagnostic as its `conflict`, so that no source
/// applies it.
pub fn check(
    creds: &mut [ValidCredential],
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
    let mut conflicts = duplicates(creds, "name", |c| {
        let (ns, name) = c.key();
        format!("{ns}/{name}")
    });
    // Labels are unique across the store; MySQL's default collation ignores case and
    // trailing spaces, so the comparison does too.
    conflicts.extend(duplicates(creds, "label", |c| {
        c.resource.spec.label.trim_end().to_lowercase()
    }));
    for (index, diag) in conflicts {
        let cred = &mut creds[index];
        if cred.conflict.is_none() {
            cred.conflict = Some(diag.to_string());
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
                false,
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
                    false,
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

/// Every credential sharing a value of `field` with another gets the same error, naming the
/// others; returned with the credential's index.
fn duplicates(
    creds: &[ValidCredential],
    field: &str,
    key: impl Fn(&ValidCredential) -> String,
) -> Vec<(usize, Diagnostic)> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, cred) in creds.iter().enumerate() {
        groups.entry(key(cred)).or_default().push(index);
    }
    let path: Vec<Segment> = match field {
        "name" => vec![Segment::Key("metadata".into()), Segment::Key("name".into())],
        _ => vec![Segment::Key("spec".into()), Segment::Key("label".into())],
    };
    let mut out = Vec::new();
    for group in groups.values().filter(|g| g.len() > 1) {
        for &index in group {
            let cred = &creds[index];
            let others: Vec<String> = group
                .iter()
                .filter(|&&o| o != index)
                .map(|&o| {
                    let other = &creds[o];
                    let (pos, _) = other.doc.root.locate(&path);
                    format!("{}:{}", other.doc.file, pos.line)
                })
                .collect();
            let shown = match field {
                "name" => {
                    let (ns, name) = cred.key();
                    format!("{ns}/{name}")
                }
                _ => cred.resource.spec.label.clone(),
            };
            out.push((
                index,
                cred.diagnostic(
                    &path,
                    false,
                    format!(
                        "duplicate {field} `{shown}`: also used at {}; neither is applied until it is unique",
                        others.join(", ")
                    ),
                ),
            ));
        }
    }
    out
}
