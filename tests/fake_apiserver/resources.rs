//! The served resource table, request-path parsing and Kubernetes `Status` errors.

use serde_json::{json, Value};

/// One served resource: a row of the table in [`RESOURCES`].
#[derive(Debug)]
pub struct Resource {
    /// API group, "" for the core group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Plural resource name, as in the URL.
    pub plural: &'static str,
    /// `kind` of one object.
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether a `/status` subresource exists (writes to the main resource then keep `.status`).
    pub status: bool,
    /// Whether the server keeps `metadata.generation` (custom resources do; Secrets do not).
    pub generation: bool,
    /// Custom resources refuse strategic merge patches.
    pub custom: bool,
    /// Storage shared between resources served under several groups (core and
    /// events.k8s.io Events are the same objects in Kubernetes).
    pub storage: &'static str,
}

impl Resource {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group`, as Kubernetes names a resource in messages ("secrets", "leases.coordination.k8s.io").
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// Every resource the fake server knows.
pub static RESOURCES: &[Resource] = &[
    Resource {
        group: "bigcommerce.unopim.io",
        version: "v1alpha1",
        plural: "bigcommercecredentials",
        kind: "BigCommerceCredential",
        namespaced: true,
        status: true,
        generation: true,
        custom: true,
        storage: "bigcommercecredentials",
    },
    Resource {
        group: "",
        version: "v1",
        plural: "secrets",
        kind: "Secret",
        namespaced: true,
        status: false,
        generation: false,
        custom: false,
        storage: "secrets",
    },
    Resource {
        group: "",
        version: "v1",
        plural: "events",
        kind: "Event",
        namespaced: true,
        status: false,
        generation: false,
        custom: false,
        storage: "events",
    },
    Resource {
        group: "",
        version: "v1",
        plural: "namespaces",
        kind: "Namespace",
        namespaced: false,
        status: true,
        generation: false,
        custom: false,
        storage: "namespaces",
    },
    Resource {
        group: "events.k8s.io",
        version: "v1",
        plural: "events",
        kind: "Event",
        namespaced: true,
        status: false,
        generation: false,
        custom: false,
        storage: "events",
    },
    Resource {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        kind: "Lease",
        namespaced: true,
        status: false,
        generation: false,
        custom: false,
        storage: "leases",
    },
];

/// The first resource stored under `plural` (for the direct-access helpers).
pub fn by_storage(plural: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.storage == plural)
}

/// What a request path names.
#[derive(Debug)]
pub struct Target {
    pub resource: &'static Resource,
    /// `None`: across all namespaces (lists and watches only) or a cluster-scoped resource.
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// `true` for `.../{name}/status`.
    pub status: bool,
}

/// Parses `/api/v1/...` and `/apis/{group}/{version}/...` paths.
pub fn parse_path(path: &str) -> Result<Target, ApiError> {
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(not_found()),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, rest @ ..] => (Some(ns.to_string()), (*plural, rest)),
        [plural, rest @ ..] => (None, (*plural, rest)),
        [] => return Err(not_found()),
    };
    let (plural, rest) = rest;
    let resource = RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
        .ok_or_else(not_found)?;
    let (name, status) = match rest {
        [] => (None, false),
        [name] => (Some(name.to_string()), false),
        [name, "status"] if resource.status => (Some(name.to_string()), true),
        _ => return Err(not_found()),
    };
    if namespace.is_some() && !resource.namespaced {
        return Err(not_found());
    }
    if namespace.is_none() && resource.namespaced && name.is_some() {
        return Err(not_found());
    }
    if name.as_deref() == Some("") {
        return Err(not_found());
    }
    Ok(Target {
        resource,
        namespace,
        name,
        status,
    })
}

/// A failed request, answered with a Kubernetes `Status` body.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, res: &Resource, name: &str) -> ApiError {
        self.details = Some(json!({"name": name, "group": res.group, "kind": res.plural}));
        self
    }

    pub fn not_found(res: &Resource, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", res.qualified()),
        )
        .with_details(res, name)
    }

    pub fn already_exists(res: &Resource, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", res.qualified()),
        )
        .with_details(res, name)
    }

    pub fn conflict(res: &Resource, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                res.qualified()
            ),
        )
        .with_details(res, name)
    }

    /// 422 Invalid, as for a failed validation or a failed JSON-patch `test`.
    pub fn invalid(res: &Resource, name: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {}", res.kind, message.into()),
        )
        .with_details(res, name)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// The `Status` object for a response body or a watch `ERROR` event.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}
