//! `labelSelector` and `fieldSelector` of lists and watches.

use serde_json::Value;

use super::resources::{ApiError, Resource};

#[derive(Debug)]
enum LabelReq {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug)]
struct FieldReq {
    path: String,
    value: String,
    equal: bool,
}

/// Both selectors of one request; an empty one matches everything.
#[derive(Debug, Default)]
pub struct Selectors {
    labels: Vec<LabelReq>,
    fields: Vec<FieldReq>,
}

/// Splits on commas outside parentheses (`a in (x,y),b=c`).
fn split_top(text: &str) -> Vec<String> {
    let (mut parts, mut depth, mut cur) = (Vec::new(), 0, String::new());
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(text: &str) -> Result<Vec<String>, ApiError> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!("unable to parse requirement: set {text:?}"))
        })?;
    Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
}

fn parse_label(req: &str) -> Result<LabelReq, ApiError> {
    if let Some((key, set)) = req.split_once(" notin ") {
        return Ok(LabelReq::NotIn(key.trim().into(), parse_set(set)?));
    }
    if let Some((key, set)) = req.split_once(" in ") {
        return Ok(LabelReq::In(key.trim().into(), parse_set(set)?));
    }
    if let Some(key) = req.strip_prefix('!') {
        return Ok(LabelReq::NotExists(key.trim().into()));
    }
    if let Some((key, value)) = req.split_once("!=") {
        return Ok(LabelReq::Ne(key.trim().into(), value.trim().into()));
    }
    if let Some((key, value)) = req.split_once("==").or_else(|| req.split_once('=')) {
        return Ok(LabelReq::Eq(key.trim().into(), value.trim().into()));
    }
    Ok(LabelReq::Exists(req.trim().into()))
}

fn parse_field(res: &Resource, req: &str) -> Result<FieldReq, ApiError> {
    let (path, value, equal) = if let Some((p, v)) = req.split_once("!=") {
        (p, v, false)
    } else if let Some((p, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
        (p, v, true)
    } else {
        return Err(ApiError::bad_request(format!(
            "invalid field selector: {req:?}"
        )));
    };
    let path = path.trim();
    let supported = matches!(path, "metadata.name" | "metadata.namespace")
        || (res.storage == "secrets" && path == "type");
    if !supported {
        return Err(ApiError::bad_request(format!(
            "field label not supported: {path} (the fake API server knows metadata.name and metadata.namespace)"
        )));
    }
    Ok(FieldReq {
        path: path.into(),
        value: value.trim().into(),
        equal,
    })
}

impl Selectors {
    pub fn parse(
        res: &Resource,
        labels: Option<&str>,
        fields: Option<&str>,
    ) -> Result<Selectors, ApiError> {
        Ok(Selectors {
            labels: split_top(labels.unwrap_or(""))
                .iter()
                .map(|r| parse_label(r))
                .collect::<Result<_, _>>()?,
            fields: split_top(fields.unwrap_or(""))
                .iter()
                .map(|r| parse_field(res, r))
                .collect::<Result<_, _>>()?,
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        let labels_ok = self.labels.iter().all(|req| match req {
            LabelReq::Eq(k, v) => label(k) == Some(v.as_str()),
            LabelReq::Ne(k, v) => label(k) != Some(v.as_str()),
            LabelReq::In(k, set) => label(k).is_some_and(|l| set.iter().any(|v| v == l)),
            LabelReq::NotIn(k, set) => label(k).is_none_or(|l| set.iter().all(|v| v != l)),
            LabelReq::Exists(k) => label(k).is_some(),
            LabelReq::NotExists(k) => label(k).is_none(),
        });
        labels_ok
            && self.fields.iter().all(|req| {
                let pointer = format!("/{}", req.path.replace('.', "/"));
                let actual = obj.pointer(&pointer).and_then(Value::as_str).unwrap_or("");
                (actual == req.value) == req.equal
            })
    }
}
