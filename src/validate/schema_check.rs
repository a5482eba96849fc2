//! Checking a credential document against the generated JSON Schema, with messages of our own.
//!
//! The `jsonschema` crate's own messages quote the offending value, which may be a token pasted
//! where a secret reference belongs; so every message here is written from the error's kind.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::schema::manifest_schema;
use crate::yaml::{pointer_segments, Node, Segment};

struct Compiled {
    validator: Option<Validator>,
    field_names: BTreeSet<String>,
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let schema = manifest_schema();
        let mut field_names = BTreeSet::new();
        collect_property_names(&schema, &mut field_names);
        Compiled {
            // A test proves the generated schema compiles; None only if that test fails.
            validator: jsonschema::validator_for(&schema).ok(),
            field_names,
        }
    })
}

fn collect_property_names(schema: &Value, out: &mut BTreeSet<String>) {
    match schema {
        Value::Object(obj) => {
            if let Some(Value::Object(props)) = obj.get("properties") {
                out.extend(props.keys().cloned());
            }
            obj.values().for_each(|v| collect_property_names(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_property_names(v, out)),
        _ => {}
    }
}

/// Validates one credential document; returns its JSON view when it is valid.
pub fn check(file: &str, root: &Node) -> Result<Value, Vec<Diagnostic>> {
    let json = root.to_json();
    let Some(validator) = compiled().validator.as_ref() else {
        return Err(vec![Diagnostic::new(
            file,
            root.pos,
            &[],
            "internal error: the generated schema does not compile",
        )]);
    };
    let mut out = Vec::new();
    for error in validator.iter_errors(&json) {
        out.extend(describe(file, root, &error));
    }
    if out.is_empty() {
        Ok(json)
    } else {
        out.sort_by_key(|d| (d.line, d.column));
        out.dedup();
        Err(out)
    }
}

fn describe(file: &str, root: &Node, error: &ValidationError<'_>) -> Vec<Diagnostic> {
    let path = pointer_segments(error.instance_path().as_str());
    let (value_pos, key_pos) = root.locate(&path);
    let found = node_at(root, &path).map_or("nothing", Node::type_name);
    let field = last_key(&path);
    let at_value = |msg: String| vec![Diagnostic::new(file, value_pos, &path, msg)];
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| {
                let mut child = path.clone();
                child.push(Segment::Key(name.clone()));
                let (pos, key) = root.locate(&child);
                Diagnostic::new(file, key.unwrap_or(pos), &child, unknown_field(&path, name))
            })
            .collect(),
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let mut child = path.clone();
            child.push(Segment::Key(name.to_string()));
            vec![Diagnostic::new(
                file,
                key_pos.unwrap_or(value_pos),
                &child,
                format!("missing required field `{name}`"),
            )]
        }
        ValidationErrorKind::Type { kind } => {
            if is_secret_field(&path) && found != "a mapping" {
                return at_value(format!(
                    "must be a secret source (secretKeyRef, file or env), found {found}; never write a secret value into a manifest"
                ));
            }
            at_value(format!("must be {}, found {found}", expected_type(kind)))
        }
        ValidationErrorKind::Pattern { .. } => {
            let raw = node_at(root, &path).and_then(Node::as_str);
            at_value(pattern_message(&path, raw))
        }
        ValidationErrorKind::MinLength { limit } if *limit == 1 => {
            at_value("must not be empty".to_string())
        }
        ValidationErrorKind::MinLength { limit } => {
            at_value(format!("must be at least {limit} characters long"))
        }
        ValidationErrorKind::MaxLength { limit } => {
            at_value(format!("must be at most {limit} characters long"))
        }
        ValidationErrorKind::MinProperties { .. } | ValidationErrorKind::MaxProperties { .. }
            if is_secret_field(&path) =>
        {
            at_value("set exactly one of secretKeyRef, file or env".to_string())
        }
        ValidationErrorKind::MaxProperties { limit } => {
            at_value(format!("must have at most {limit} entries"))
        }
        ValidationErrorKind::AnyOf { .. } if field == Some("clientId") => at_value(format!(
            "must be a string or a secret source (secretKeyRef, file or env), found {found}"
        )),
        ValidationErrorKind::Constant { expected_value } => {
            at_value(format!("must be {expected_value}"))
        }
        ValidationErrorKind::Enum { options } => at_value(format!("must be one of {options}")),
        other => at_value(format!(
            "does not match the schema ({})",
            keyword_name(other)
        )),
    }
}

fn node_at<'a>(root: &'a Node, path: &[Segment]) -> Option<&'a Node> {
    path.iter().try_fold(root, |node, seg| match seg {
        Segment::Key(k) => node.get(k),
        Segment::Index(i) => match &node.kind {
            crate::yaml::NodeKind::Seq(items) => items.get(*i),
            _ => node.get(&i.to_string()),
        },
    })
}

fn last_key(path: &[Segment]) -> Option<&str> {
    match path.last() {
        Some(Segment::Key(k)) => Some(k),
        _ => None,
    }
}

fn is_secret_field(path: &[Segment]) -> bool {
    path.len() == 2
        && path[0] == Segment::Key("spec".into())
        && matches!(last_key(path), Some("accessToken" | "clientSecret"))
}

fn unknown_field(parent: &[Segment], name: &str) -> String {
    if parent.is_empty() && name == "status" {
        return "unknown field `status`: status is written by bccreds, not by manifests".into();
    }
    if last_key(parent) == Some("secretKeyRef") && name == "namespace" {
        return "unknown field `namespace`: cross-namespace Secret references are refused; the Secret must live in the credential's namespace".into();
    }
    match suggest(name) {
        Some(s) => format!("unknown field `{name}`; did you mean `{s}`?"),
        None => format!("unknown field `{name}`"),
    }
}

/// The known field name closest to `name`, when it is close enough to be a typo.
fn suggest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    compiled()
        .field_names
        .iter()
        .map(|f| (edit_distance(&lower, &f.to_ascii_lowercase()), f))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, f)| f.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn pattern_message(path: &[Segment], raw: Option<&str>) -> String {
    match (last_key(path), raw) {
        (Some("apiUrl"), _) => api_url_reason(raw.unwrap_or_default()),
        // These fields hold codes and names, never secrets: quoting the value says what is wrong.
        (Some("defaultLocale" | "defaultCurrency" | "name" | "namespace" | "env"), Some(raw)) => {
            format!(
                "{} {}",
                quoted(raw),
                pattern_hint(path).replacen("must be", "is not", 1)
            )
        }
        _ => pattern_hint(path),
    }
}

/// A value from a manifest as a message quotes it: control characters escaped, long ones cut.
pub(crate) fn quoted(raw: &str) -> String {
    const MAX: usize = 64;
    let cut: String = raw.chars().take(MAX).collect();
    let more = if raw.chars().count() > MAX { "…" } else { "" };
    format!("`{}{more}`", crate::redact::escape_controls(&cut))
}

/// The precise reason an apiUrl is malformed; its host is judged later, against the allow-list.
fn api_url_reason(raw: &str) -> String {
    let host = url::Url::parse(raw)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    match crate::api_url::normalize(raw, &[host]) {
        Err(e) => format!("apiUrl {e}"),
        Ok(_) => pattern_hint(&[Segment::Key("apiUrl".into())]),
    }
}

fn pattern_hint(path: &[Segment]) -> String {
    match last_key(path) {
        Some("apiUrl") => "must be the API path of the API account, https://api.bigcommerce.com/stores/{store_hash}/".into(),
        Some("name") if path.len() == 2 => "must be a DNS-1123 name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit".into(),
        Some("namespace") => "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit".into(),
        Some("defaultLocale") => "must be a UnoPim locale code such as en_US, de_DE or az_Cyrl_AZ".into(),
        Some("defaultCurrency") => "must be an ISO 4217 currency code of three capital letters, such as USD".into(),
        Some("env") => "must be an environment variable name: letters, digits and '_', not starting with a digit".into(),
        _ => "has the wrong format".into(),
    }
}

fn expected_type(kind: &TypeKind) -> String {
    let name = |t: &jsonschema::JsonType| match t.to_string().as_str() {
        "object" => "a mapping".to_string(),
        "array" => "a sequence".to_string(),
        "string" => "a string".to_string(),
        "boolean" => "a boolean (true or false)".to_string(),
        "integer" => "an integer".to_string(),
        "number" => "a number".to_string(),
        other => other.to_string(),
    };
    match kind {
        TypeKind::Single(t) => name(t),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| name(&t))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

fn keyword_name(kind: &ValidationErrorKind) -> String {
    // The Debug form starts with the variant name; only that part is used, never the payload.
    let debug = format!("{kind:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("constraint")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_schema_compiles() {
        assert!(compiled().validator.is_some());
        assert!(compiled().field_names.contains("accessToken"));
    }

    #[test]
    fn typos_get_suggestions() {
        assert_eq!(suggest("acessToken"), Some("accessToken"));
        assert_eq!(suggest("lable"), Some("label"));
        assert_eq!(suggest("completelyDifferent"), None);
    }
}
