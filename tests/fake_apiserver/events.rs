//! The validation Kubernetes applies to Events written through `events.k8s.io/v1`
//! (pkg/apis/core/validation/events.go): required fields and length limits on create, and on
//! update everything but `series` and metadata immutable. Messages name the fields as
//! Kubernetes does, by their internal names (`message` for `note`, `involvedObject` for
//! `regarding`, ...). Core `v1` writes are not validated (Kubernetes keeps them lenient).

use serde_json::Value;

const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
/// Bytes, not characters: Go's `len` of the note.
const NOTE_LIMIT: usize = 1024;

/// events.k8s.io/v1 field, internal field name.
const IMMUTABLE: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("reason", "reason"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    ("action", "action"),
    ("related", "related"),
    ("reportingController", "reportingController"),
    ("reportingInstance", "reportingInstance"),
];

fn text<'a>(event: &'a Value, field: &str) -> &'a str {
    event.get(field).and_then(Value::as_str).unwrap_or("")
}

fn present(event: &Value, field: &str) -> bool {
    match event.get(field) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        Some(Value::Object(o)) => o.values().any(|v| !v.is_null() && v != ""),
        Some(_) => true,
    }
}

fn required(errors: &mut Vec<String>, path: &str) {
    errors.push(format!("{path}: Required value"));
}

fn invalid(errors: &mut Vec<String>, path: &str, value: &str, detail: &str) {
    errors.push(format!("{path}: Invalid value: {value:?}: {detail}"));
}

fn too_long(errors: &mut Vec<String>, event: &Value, field: &str, path: &str, limit: usize) {
    if text(event, field).len() > limit {
        invalid(
            errors,
            path,
            "",
            &format!("can have at most {limit} characters"),
        );
    }
}

/// Kubernetes' `legacyValidateEvent`, which every Event write passes.
fn legacy(event: &Value, errors: &mut Vec<String>) {
    let namespace = event
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let regarding_ns = event
        .pointer("/regarding/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mismatch = if !present(event, "eventTime") {
        if regarding_ns.is_empty() {
            !namespace.is_empty() && namespace != "default"
        } else {
            namespace != regarding_ns
        }
    } else {
        regarding_ns.is_empty() && namespace != "default" && namespace != "kube-system"
    };
    if mismatch {
        invalid(
            errors,
            "involvedObject.namespace",
            regarding_ns,
            "does not match event.namespace",
        );
    }
    if !present(event, "eventTime") {
        return;
    }
    if text(event, "reportingController").is_empty() {
        required(errors, "reportingController");
    }
    if text(event, "reportingInstance").is_empty() {
        required(errors, "reportingInstance");
    }
    too_long(
        errors,
        event,
        "reportingInstance",
        "reportingInstance",
        REPORTING_INSTANCE_LIMIT,
    );
    if text(event, "action").is_empty() {
        required(errors, "action");
    }
    too_long(errors, event, "action", "action", ACTION_LIMIT);
    if text(event, "reason").is_empty() {
        required(errors, "reason");
    }
    too_long(errors, event, "reason", "reason", REASON_LIMIT);
    too_long(errors, event, "note", "message", NOTE_LIMIT);
}

fn series(event: &Value, errors: &mut Vec<String>) {
    let Some(series) = event.get("series").filter(|s| s.is_object()) else {
        return;
    };
    if series.get("count").and_then(Value::as_i64).unwrap_or(0) < 2 {
        invalid(errors, "series.count", "", "should be at least 2");
    }
    if !present(series, "lastObservedTime") {
        required(errors, "series.lastObservedTime");
    }
}

/// Kubernetes joins several field errors in brackets.
fn result(errors: Vec<String>) -> Result<(), String> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.into_iter().next().expect("one error")),
        _ => Err(format!("[{}]", errors.join(", "))),
    }
}

/// `ValidateEventCreate` for an events.k8s.io/v1 request.
pub fn validate_create(event: &Value) -> Result<(), String> {
    let mut errors = Vec::new();
    legacy(event, &mut errors);
    series(event, &mut errors);
    if !present(event, "eventTime") {
        required(&mut errors, "eventTime");
    }
    let kind = text(event, "type");
    if kind != "Normal" && kind != "Warning" {
        invalid(
            &mut errors,
            "type",
            "",
            &format!("has invalid value: {kind}"),
        );
    }
    for (field, path) in [
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
        ("deprecatedSource", "source"),
    ] {
        if present(event, field) {
            invalid(&mut errors, path, "", "needs to be unset");
        }
    }
    result(errors)
}

/// `ValidateEventUpdate` for an events.k8s.io/v1 request.
pub fn validate_update(new: &Value, old: &Value) -> Result<(), String> {
    let mut errors = Vec::new();
    legacy(new, &mut errors);
    if new.get("series") != old.get("series") {
        series(new, &mut errors);
    }
    for (field, path) in IMMUTABLE {
        if new.get(field) != old.get(field) {
            let value = new.get(field).map_or("null".to_string(), Value::to_string);
            errors.push(format!(
                "{path}: Invalid value: {value}: field is immutable"
            ));
        }
    }
    result(errors)
}
