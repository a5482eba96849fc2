//! PATCH bodies: RFC 6902 JSON patch, RFC 7386 merge patch, strategic merge (built-ins only)
//! and server-side apply, each turned into the full object that an update then stores.

use json_patch::PatchOperation;
use serde_json::Value;

use super::resources::{ApiError, Resource};

/// The patch flavours Kubernetes accepts, chosen by `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

fn unsupported() -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: \
         application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
    )
}

/// Checks what is checkable before the target object is looked up.
pub fn check(kind: Option<PatchType>, res: &Resource) -> Result<PatchType, ApiError> {
    match kind {
        None => Err(unsupported()),
        // Custom resources have no Go struct tags to drive a strategic merge.
        Some(PatchType::Strategic) if res.custom => Err(unsupported()),
        Some(kind) => Ok(kind),
    }
}

/// Parses the body of an apply patch: YAML (a superset of JSON, which kube sends).
pub fn parse_apply(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_yaml_ng::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("apply patch body is not an object"));
    }
    if value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        return Err(ApiError::bad_request(
            "Object 'Kind' is missing in apply patch",
        ));
    }
    Ok(value)
}

/// Applies `body` to `current`, giving the object the client asks to store.
pub fn apply(
    kind: PatchType,
    current: &Value,
    body: &[u8],
    res: &Resource,
    name: &str,
) -> Result<Value, ApiError> {
    let mut doc = current.clone();
    match kind {
        PatchType::Json => {
            let patch: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding JSON patch: {e}")))?;
            json_patch_ops(&mut doc, &patch.0).map_err(|msg| ApiError::invalid(res, name, msg))?;
        }
        PatchType::Merge | PatchType::Strategic => {
            let patch: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding merge patch: {e}")))?;
            if !patch.is_object() {
                return Err(ApiError::bad_request("merge patch body is not an object"));
            }
            json_patch::merge(&mut doc, &patch);
        }
        PatchType::Apply => {
            let applied = parse_apply(body)?;
            json_patch::merge(&mut doc, &applied);
        }
    }
    Ok(doc)
}

/// Applies JSON-patch operations one by one, as Kubernetes' (evanphx) json-patch does: a
/// `test` of `null` against a missing path succeeds, which kube's finalizer helper relies on
/// (`test /metadata/finalizers == null` before adding the first finalizer).
fn json_patch_ops(doc: &mut Value, ops: &[PatchOperation]) -> Result<(), String> {
    for op in ops {
        if let PatchOperation::Test(test) = op {
            let path = test.path.as_str();
            let ok = match doc.pointer(path) {
                Some(actual) => *actual == test.value,
                None => test.value.is_null(),
            };
            if !ok {
                return Err(format!("testing value {path} failed: test failed"));
            }
            continue;
        }
        json_patch::patch(doc, std::slice::from_ref(op))
            .map_err(|e| format!("json patch failed: {e}"))?;
    }
    Ok(())
}
