//! Where a secret value comes from: a Secret reference, a file or an environment variable.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// A reference to one key of a Secret in the credential's own namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRef {
    /// Name of the Secret, in the same namespace as the credential.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret's `data` or `stringData`.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Exactly one place a secret value is read from; never the value itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum SecretSource {
    /// A key of a Secret in the same namespace.
    SecretKeyRef(SecretKeyRef),
    /// A path relative to `--secrets-dir` (file mode only).
    File(String),
    /// The name of an environment variable (file mode only).
    Env(String),
}

impl SecretSource {
    /// The source's kind, as written in a manifest.
    pub fn kind(&self) -> &'static str {
        match self {
            SecretSource::SecretKeyRef(_) => "secretKeyRef",
            SecretSource::File(_) => "file",
            SecretSource::Env(_) => "env",
        }
    }

    /// Where the value comes from, for messages (`env BC_TOKEN`, `file bc/token`,
    /// `Secret shop/bc key token`); never the value. `namespace` is the credential's.
    pub fn describe(&self, namespace: &str) -> String {
        match self {
            SecretSource::SecretKeyRef(r) => format!("Secret {namespace}/{} key {}", r.name, r.key),
            SecretSource::File(path) => format!("file {path}"),
            SecretSource::Env(var) => format!("env {var}"),
        }
    }
}

// Hand-written so that "exactly one" is a flat object with min/max properties: editors complete
// the three keys, and validators report a precise error instead of an opaque `oneOf` failure.
impl JsonSchema for SecretSource {
    fn schema_name() -> Cow<'static, str> {
        "SecretSource".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let key_ref = generator.subschema_for::<SecretKeyRef>();
        json_schema!({
            "description": "Where the secret value is read from: exactly one of secretKeyRef, file or env. Never the value itself.",
            "type": "object",
            "properties": {
                "secretKeyRef": key_ref,
                "file": {
                    "description": "Path relative to --secrets-dir; no absolute paths and no `..` (file mode only).",
                    "type": "string",
                    "minLength": 1
                },
                "env": {
                    "description": "Environment variable holding the value (file mode only).",
                    "type": "string",
                    "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"
                }
            },
            "additionalProperties": false,
            "minProperties": 1,
            "maxProperties": 1
        })
    }
}

/// The client ID: a plain string (it is not secret on its own) or a secret source.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClientId {
    /// The client ID written inline.
    Plain(String),
    /// The client ID read from a secret source.
    Source(SecretSource),
}

impl JsonSchema for ClientId {
    fn schema_name() -> Cow<'static, str> {
        "ClientId".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let source = generator.subschema_for::<SecretSource>();
        json_schema!({
            "description": "Client ID from the API account: a plain string or a secret source. BigCommerce cannot verify it with a store-level call, so it is stored as given.",
            "anyOf": [ { "type": "string", "minLength": 1, "maxLength": 255 }, source ]
        })
    }
}
