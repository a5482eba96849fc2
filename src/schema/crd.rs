//! The CustomResourceDefinition, derived by kube and made structural, with CEL rules added.

use kube::CustomResourceExt;
use serde_json::{json, Value};

use crate::model::BigCommerceCredential;

/// A CEL rule placed on the schema node at `path` (property names from the spec down).
#[derive(Debug, Clone, Copy)]
pub struct CelRule {
    /// Property names from the root of the openAPIV3Schema to the node holding the rule.
    pub path: &'static [&'static str],
    /// The CEL expression; `self` is the node.
    pub rule: &'static str,
    /// What `kubectl apply` prints when the rule fails.
    pub message: &'static str,
}

const SECRET_ONE_OF: &str =
    "[has(self.secretKeyRef), has(self.file), has(self.env)].exists_one(b, b)";
const SECRET_ONE_OF_MSG: &str = "set exactly one of secretKeyRef, file or env";
const SECRET_REF_ONLY: &str = "!has(self.file) && !has(self.env)";
const SECRET_REF_ONLY_MSG: &str =
    "file and env sources exist only in file mode; in Kubernetes use secretKeyRef";

/// Rules the API server enforces before bccreds ever sees the object.
pub const CEL_RULES: &[CelRule] = &[
    CelRule {
        path: &["spec", "apiUrl"],
        rule: "isURL(self) && url(self).getScheme() == 'https' && url(self).getEscapedPath().matches('^/stores/[A-Za-z0-9]+/?((v2|v3)/?)?$')",
        message: "apiUrl must be the API path of the API account, https://api.bigcommerce.com/stores/{store_hash}/",
    },
    CelRule {
        path: &["spec", "accessToken"],
        rule: SECRET_ONE_OF,
        message: SECRET_ONE_OF_MSG,
    },
    CelRule {
        path: &["spec", "accessToken"],
        rule: SECRET_REF_ONLY,
        message: SECRET_REF_ONLY_MSG,
    },
    CelRule {
        path: &["spec", "clientSecret"],
        rule: SECRET_ONE_OF,
        message: SECRET_ONE_OF_MSG,
    },
    CelRule {
        path: &["spec", "clientSecret"],
        rule: SECRET_REF_ONLY,
        message: SECRET_REF_ONLY_MSG,
    },
    CelRule {
        path: &["spec"],
        rule: "!has(self.defaultCurrency) || !has(self.currencyMapping) || size(self.currencyMapping) == 0 || self.defaultCurrency in self.currencyMapping",
        message: "defaultCurrency must be one of the currencyMapping keys",
    },
    CelRule {
        path: &["spec"],
        rule: "!has(self.defaultLocale) || !has(self.localeMapping) || size(self.localeMapping) == 0 || self.defaultLocale in self.localeMapping",
        message: "defaultLocale must be one of the localeMapping keys",
    },
];

/// The CRD as a JSON value: kube's derived CRD, made structural where kube cannot, plus CEL rules.
pub fn crd() -> Value {
    // Invariant: a derived CRD always serialises to JSON.
    let mut crd = serde_json::to_value(BigCommerceCredential::crd()).unwrap_or_default();
    let Some(root) = crd.pointer_mut("/spec/versions/0/schema/openAPIV3Schema") else {
        return crd;
    };
    // A string-or-object field has no structural type; bccreds checks it after admission.
    if let Some(client_id) = node_mut(root, &["spec", "clientId"]) {
        let description = client_id.get("description").cloned().unwrap_or(Value::Null);
        *client_id = json!({
            "description": description,
            "x-kubernetes-preserve-unknown-fields": true
        });
    }
    if let Some(conditions) = node_mut(root, &["status", "conditions"]) {
        conditions["x-kubernetes-list-type"] = json!("map");
        conditions["x-kubernetes-list-map-keys"] = json!(["type"]);
    }
    for rule in CEL_RULES {
        if let Some(node) = node_mut(root, rule.path) {
            let rules = node.as_object_mut().map(|o| {
                o.entry("x-kubernetes-validations")
                    .or_insert_with(|| json!([]))
            });
            if let Some(Value::Array(list)) = rules {
                list.push(json!({"rule": rule.rule, "message": rule.message}));
            }
        }
    }
    crd
}

/// The CRD as YAML, as checked in and shipped in the Helm chart.
pub fn crd_yaml() -> String {
    serde_yaml_ng::to_string(&crd()).unwrap_or_default()
}

fn node_mut<'a>(root: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(root, |node, name| {
        node.get_mut("properties")?.get_mut(*name)
    })
}
