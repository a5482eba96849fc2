//! One stored row as a BigCommerceCredential manifest that adopts it: every non-secret field as
//! stored, the adopt annotation, and secrets only as references (or left out, so that adoption
//! keeps the stored values).

use serde_yaml_ng::{Mapping, Value};

use crate::model::{ADOPT_ANNOTATION, API_VERSION, KIND};
use crate::secret::SecretValue;
use crate::store::StoredData;

/// Where the exported manifest's secrets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretRefs {
    /// No secret fields: adoption keeps the stored values, and nothing secret leaves the store.
    None,
    /// `file:` sources, relative to `--secrets-dir`.
    Files {
        /// The access token's file.
        access_token: String,
        /// The client secret's file, where the row has one.
        client_secret: Option<String>,
    },
    /// `secretKeyRef`s to one Secret in the credential's namespace.
    Kubernetes {
        /// The Secret's name.
        secret: String,
        /// Whether the row has a client secret (key `client-secret`).
        client_secret: bool,
    },
}

/// The key of the access token in an exported Secret.
pub const ACCESS_TOKEN_KEY: &str = "access-token";
/// The key of the client secret in an exported Secret.
pub const CLIENT_SECRET_KEY: &str = "client-secret";

fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    let mut m = Mapping::new();
    for (k, v) in entries {
        m.insert(Value::String(k.to_string()), v);
    }
    Value::Mapping(m)
}

fn text(s: &str) -> Value {
    Value::String(s.to_string())
}

fn codes(mapping: &std::collections::BTreeMap<String, String>) -> Value {
    let mut m = Mapping::new();
    for (k, v) in mapping {
        m.insert(text(k), text(v));
    }
    Value::Mapping(m)
}

/// The manifest document of `row`, named `name` (in `namespace`, if given), as YAML text that
/// starts with the schema modeline `modeline` points editors to.
pub fn render(
    row: &StoredData,
    name: &str,
    namespace: Option<&str>,
    secrets: &SecretRefs,
    modeline: &str,
) -> String {
    let mut metadata = Mapping::new();
    metadata.insert(text("name"), text(name));
    if let Some(ns) = namespace {
        metadata.insert(text("namespace"), text(ns));
    }
    metadata.insert(text("annotations"), map([(ADOPT_ANNOTATION, text("true"))]));
    let mut spec = Mapping::new();
    spec.insert(text("label"), text(&row.label));
    spec.insert(text("apiUrl"), text(&row.api_url));
    if let Some(id) = &row.client_id {
        spec.insert(text("clientId"), text(id));
    }
    let source = |file: &str, key: &str| match secrets {
        SecretRefs::Kubernetes { secret, .. } => map([(
            "secretKeyRef",
            map([("name", text(secret)), ("key", text(key))]),
        )]),
        _ => map([("file", text(file))]),
    };
    match secrets {
        SecretRefs::None => {}
        SecretRefs::Files {
            access_token,
            client_secret,
        } => {
            if let Some(file) = client_secret {
                spec.insert(text("clientSecret"), source(file, ""));
            }
            spec.insert(text("accessToken"), source(access_token, ""));
        }
        SecretRefs::Kubernetes { client_secret, .. } => {
            if *client_secret {
                spec.insert(text("clientSecret"), source("", CLIENT_SECRET_KEY));
            }
            spec.insert(text("accessToken"), source("", ACCESS_TOKEN_KEY));
        }
    }
    spec.insert(text("active"), Value::Bool(row.active));
    if let Some(l) = &row.default_locale {
        spec.insert(text("defaultLocale"), text(l));
    }
    if let Some(c) = &row.default_currency {
        spec.insert(text("defaultCurrency"), text(c));
    }
    if !row.locale_mapping.is_empty() {
        spec.insert(text("localeMapping"), codes(&row.locale_mapping));
    }
    if !row.currency_mapping.is_empty() {
        spec.insert(text("currencyMapping"), codes(&row.currency_mapping));
    }
    let doc = map([
        ("apiVersion", text(API_VERSION)),
        ("kind", text(KIND)),
        ("metadata", Value::Mapping(metadata)),
        ("spec", Value::Mapping(spec)),
    ]);
    // Invariant: a tree of strings, booleans and mappings always serialises.
    let body = serde_yaml_ng::to_string(&doc).unwrap_or_default();
    format!("# yaml-language-server: $schema={modeline}\n{body}")
}

/// The `kind: Secret` that an exported manifest's `secretKeyRef`s name, holding the row's
/// secrets base64-encoded in `data`, exactly as stored (a Secret's value keeps every byte but
/// one trailing newline, and exported values have none).
pub fn render_secret(
    name: &str,
    namespace: Option<&str>,
    access_token: &SecretValue,
    client_secret: Option<&SecretValue>,
) -> String {
    use base64::Engine as _;
    let encode =
        |v: &SecretValue| text(&base64::engine::general_purpose::STANDARD.encode(v.expose()));
    let mut metadata = Mapping::new();
    metadata.insert(text("name"), text(name));
    if let Some(ns) = namespace {
        metadata.insert(text("namespace"), text(ns));
    }
    let mut data = Mapping::new();
    data.insert(text(ACCESS_TOKEN_KEY), encode(access_token));
    if let Some(secret) = client_secret {
        data.insert(text(CLIENT_SECRET_KEY), encode(secret));
    }
    let doc = map([
        ("apiVersion", text("v1")),
        ("kind", text("Secret")),
        ("metadata", Value::Mapping(metadata)),
        ("type", text("Opaque")),
        ("data", Value::Mapping(data)),
    ]);
    // Invariant: a tree of strings and mappings always serialises.
    serde_yaml_ng::to_string(&doc).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::validate::{validate_text, Report, ValidateOptions};

    pub(crate) fn row() -> StoredData {
        StoredData {
            label: "Shop: \"EU\" #1".into(),
            api_url: "https://api.bigcommerce.com/stores/abc123/".into(),
            client_id: Some("client-id-1".into()),
            client_secret: Some(SecretValue::new("EXPORT-LEAK-secret")),
            access_token: SecretValue::new("EXPORT-LEAK-token"),
            active: false,
            default_locale: Some("en_US".into()),
            default_currency: Some("USD".into()),
            locale_mapping: [("en_US".to_string(), "en".to_string())].into(),
            currency_mapping: [("USD".to_string(), "USD".to_string())].into(),
            store_info: None,
        }
    }

    fn valid(text: &str, kubernetes: bool) -> Report {
        let mut opts = ValidateOptions::default();
        opts.semantic.kubernetes = kubernetes;
        let mut report = Report::default();
        validate_text("x.yaml", text, &opts, &mut report);
        report
    }

    #[test]
    fn every_mode_gives_a_valid_adopting_manifest_without_secret_values() {
        for (secrets, kubernetes) in [
            (SecretRefs::None, false),
            (
                SecretRefs::Files {
                    access_token: "shop/access-token".into(),
                    client_secret: Some("shop/client-secret".into()),
                },
                false,
            ),
            (
                SecretRefs::Kubernetes {
                    secret: "shop-bigcommerce".into(),
                    client_secret: true,
                },
                true,
            ),
        ] {
            let text = render(&row(), "shop", Some("unopim"), &secrets, "schema.json");
            assert!(text.starts_with("# yaml-language-server: $schema=schema.json\n"));
            assert!(!text.contains("EXPORT-LEAK"), "{text}");
            assert!(
                text.contains("bigcommerce.unopim.io/adopt: 'true'")
                    || text.contains("bigcommerce.unopim.io/adopt: \"true\""),
                "{text}"
            );
            let mut report = valid(&text, kubernetes);
            if kubernetes {
                // The Secret is in the cluster, not in this text.
                report
                    .diagnostics
                    .retain(|d| !d.message.contains("not found"));
            }
            assert!(
                report.diagnostics.is_empty(),
                "{:?}\n{text}",
                report.diagnostics
            );
            let cred = &report.credentials[0].resource;
            assert_eq!(cred.spec.label, "Shop: \"EU\" #1");
            assert!(!cred.spec.active);
            assert_eq!(
                cred.spec.secret_sources().count(),
                match secrets {
                    SecretRefs::None => 0,
                    _ => 2,
                }
            );
        }
    }

    #[test]
    fn the_secret_document_resolves_the_manifests_refs_exactly() {
        let refs = SecretRefs::Kubernetes {
            secret: "shop-bigcommerce".into(),
            client_secret: true,
        };
        let row = row();
        let secret = render_secret(
            "shop-bigcommerce",
            Some("unopim"),
            &row.access_token,
            row.client_secret.as_ref(),
        );
        assert!(!secret.contains("EXPORT-LEAK"), "base64 only: {secret}");
        let text = format!(
            "{}---\n{secret}",
            render(&row, "shop", Some("unopim"), &refs, "s.json")
        );
        let report = valid(&text, true);
        assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
        let doc = &report.secrets[0];
        let value = |key: &str| doc.entries.get(key).map(|e| e.value.expose().to_string());
        assert_eq!(
            value(ACCESS_TOKEN_KEY).as_deref(),
            Some("EXPORT-LEAK-token")
        );
        assert_eq!(
            value(CLIENT_SECRET_KEY).as_deref(),
            Some("EXPORT-LEAK-secret")
        );
    }
}
