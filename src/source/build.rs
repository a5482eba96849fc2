//! Turning one BigCommerceCredential into a desired entry, whatever the source: resolve its
//! secrets through a source-specific lookup, normalise its URL, read its annotations, hash it.

use crate::api_url;
use crate::model::{BigCommerceCredential, ClientId, Reason, SecretSource, MAX_CLIENT_ID_CHARS};
use crate::reconcile::{secret_digest, spec_hash, Desired, Entry, Invalid, SourceKey};
use crate::secret::SecretValue;
use crate::store::{CredentialData, SecretUpdate};

/// Looks a secret source up; the error says why, without the value. It returns the value as
/// the source holds it: trimming and the empty check are [`resolve`]'s, the same for every source.
pub type Lookup<'a> = &'a dyn Fn(&SecretSource) -> Result<SecretValue, String>;

/// The value of `source` as the credential uses it, whatever the source ("secrets as given"):
/// exactly one trailing newline is trimmed (what `echo`, editors and `echo tok | base64` add),
/// and an empty value is refused here, before anything could send it to BigCommerce. The error
/// names the source (`env BC_X is empty`), never a value.
pub fn resolve(
    source: &SecretSource,
    namespace: &str,
    lookup: Lookup<'_>,
) -> Result<SecretValue, String> {
    let value = lookup(source)?.without_trailing_newline();
    if value.is_empty() {
        return Err(format!("{} is empty", source.describe(namespace)));
    }
    Ok(value)
}

fn update(
    source: Option<&SecretSource>,
    namespace: &str,
    lookup: Lookup<'_>,
) -> Result<SecretUpdate, String> {
    match source {
        None => Ok(SecretUpdate::Keep),
        Some(source) => {
            let value = resolve(source, namespace, lookup)?;
            // `**********` means "keep the stored value", as on the credentials page.
            Ok(if value.is_keep_current() {
                SecretUpdate::Keep
            } else {
                SecretUpdate::Set(value)
            })
        }
    }
}

/// The desired entry for `resource`, or an invalid one saying why it cannot be reconciled.
pub fn entry(
    resource: &BigCommerceCredential,
    key: SourceKey,
    origin: String,
    allowed_hosts: &[String],
    lookup: Lookup<'_>,
) -> Entry {
    let spec = &resource.spec;
    let generation = resource.metadata.generation;
    let invalid = |reason: Reason, message: String| {
        Entry::Invalid(Invalid {
            key: key.clone(),
            label: Some(spec.label.clone()),
            generation,
            reason,
            message,
        })
    };
    let url = match api_url::normalize(&spec.api_url, allowed_hosts) {
        Ok(u) => u,
        Err(e) => return invalid(Reason::InvalidSpec, format!("apiUrl {e}")),
    };
    let missing = |field: &str, e: String| invalid(Reason::SecretNotFound, format!("{field}: {e}"));
    let client_id = match &spec.client_id {
        None => None,
        Some(ClientId::Plain(s)) => Some(s.clone()),
        Some(ClientId::Source(src)) => match resolve(src, &key.namespace, lookup) {
            Ok(v) => Some(v.expose().to_string()),
            Err(e) => return missing("clientId", e),
        },
    };
    // An inline clientId is bounded by the schema; a resolved one only here, before any request,
    // so that SQLite refuses it as MariaDB and PostgreSQL would.
    if let (Some(ClientId::Source(src)), Some(id)) = (&spec.client_id, &client_id) {
        let chars = id.chars().count();
        let problem = if chars > MAX_CLIENT_ID_CHARS {
            Some(format!(
                "is {chars} characters; the store's column holds {MAX_CLIENT_ID_CHARS}"
            ))
        } else if id.chars().any(char::is_control) {
            Some("contains control characters".to_string())
        } else {
            None
        };
        if let Some(problem) = problem {
            let from = src.describe(&key.namespace);
            return invalid(
                Reason::InvalidSpec,
                format!("clientId from {from} {problem}"),
            );
        }
    }
    let client_secret = match update(spec.client_secret.as_ref(), &key.namespace, lookup) {
        Ok(u) => u,
        Err(e) => return missing("clientSecret", e),
    };
    let access_token = match update(spec.access_token.as_ref(), &key.namespace, lookup) {
        Ok(u) => u,
        Err(e) => return missing("accessToken", e),
    };
    if let SecretUpdate::Set(token) = &access_token {
        // A header value cannot carry a control character: such a token never reaches
        // BigCommerce, so it is refused here rather than reported as BigCommerce's verdict.
        if token.expose().chars().any(char::is_control) {
            let from = spec.access_token.as_ref().map_or(String::new(), |s| {
                format!(" from {}", s.describe(&key.namespace))
            });
            return invalid(
                Reason::InvalidSpec,
                format!(
                    "accessToken{from} contains control characters, which no BigCommerce token has"
                ),
            );
        }
    }
    let policy = resource.deletion_policy();
    let data = CredentialData {
        label: spec.label.clone(),
        api_url: url.normalized,
        client_id,
        client_secret,
        access_token,
        active: spec.active,
        default_locale: spec.default_locale.clone(),
        default_currency: spec.default_currency.clone(),
        locale_mapping: spec.locale_mapping.clone(),
        currency_mapping: spec.currency_mapping.clone(),
        store_info: None,
    };
    Entry::Desired(Box::new(Desired {
        origin,
        generation,
        spec_sha256: spec_hash(&data, policy),
        secret_digest: secret_digest(&data),
        source_path: None,
        data,
        store_hash: url.store_hash,
        policy,
        adopt: resource.wants_adoption(),
        key,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{SecretDoc, SecretEntry};
    use crate::source::FileSecrets;
    use crate::yaml::Pos;
    use serde_json::json;
    use std::collections::BTreeMap;

    /// A credential in `shop` whose access token, client secret and client ID come from the
    /// given sources (JSON), or are absent.
    fn credential(token: serde_json::Value, extra: serde_json::Value) -> BigCommerceCredential {
        let mut spec = serde_json::json!({
            "label": "Prod",
            "apiUrl": "https://api.bigcommerce.com/stores/abc123/",
            "accessToken": token,
        });
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "bigcommerce.unopim.io/v1alpha1", "kind": "BigCommerceCredential",
            "metadata": {"name": "prod", "namespace": "shop"},
            "spec": spec,
        }))
        .expect("credential")
    }

    fn secret_doc(values: &[(&str, &str)]) -> SecretDoc {
        SecretDoc {
            file: "s.yaml".into(),
            pos: Pos::START,
            namespace: "shop".into(),
            name: "bc".into(),
            entries: values
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        SecretEntry {
                            pos: Pos::START,
                            value: SecretValue::new(*v),
                        },
                    )
                })
                .collect(),
            invalid_keys: Default::default(),
        }
    }

    fn build(resource: &BigCommerceCredential, secrets: &FileSecrets<'_>) -> Entry {
        let lookup = |s: &SecretSource| secrets.resolve(s, "shop").map_err(|e| e.to_string());
        entry(
            resource,
            SourceKey {
                namespace: "shop".into(),
                name: "prod".into(),
            },
            "prod.yaml:1".into(),
            &["api.bigcommerce.com".to_string()],
            &lookup,
        )
    }

    fn refused(entry: &Entry) -> (Reason, String) {
        match entry {
            Entry::Invalid(i) => (i.reason, i.message.clone()),
            Entry::Desired(_) => panic!("accepted"),
            Entry::Gone(_) => panic!("gone"),
        }
    }

    fn token(entry: &Entry) -> String {
        match entry {
            Entry::Desired(d) => match &d.data.access_token {
                SecretUpdate::Set(v) => v.expose().to_string(),
                SecretUpdate::Keep => "<keep>".into(),
            },
            other => panic!("not desired: {:?}", refused(other)),
        }
    }

    #[test]
    fn a_resolved_client_id_must_fit_its_column() {
        let long = "c".repeat(MAX_CLIENT_ID_CHARS + 1);
        let fits = "é".repeat(MAX_CLIENT_ID_CHARS);
        let vars: BTreeMap<&str, String> = [
            ("BC_LONG", long),
            ("BC_FITS", fits.clone()),
            ("BC_CTRL", "id\u{1b}[2J".to_string()),
            ("BC_TOK", "tok".to_string()),
        ]
        .into();
        let secrets = FileSecrets::with_env(&[], None, move |n| vars.get(n).cloned());
        let with_id = |var: &str| {
            build(
                &credential(json!({"env": "BC_TOK"}), json!({"clientId": {"env": var}})),
                &secrets,
            )
        };
        assert_eq!(
            refused(&with_id("BC_LONG")),
            (
                Reason::InvalidSpec,
                "clientId from env BC_LONG is 256 characters; the store's column holds 255".into()
            )
        );
        assert_eq!(
            refused(&with_id("BC_CTRL")).1,
            "clientId from env BC_CTRL contains control characters"
        );
        // Characters, not bytes, as VARCHAR counts on MariaDB (utf8mb4) and PostgreSQL.
        match with_id("BC_FITS") {
            Entry::Desired(d) => assert_eq!(d.data.client_id.as_deref(), Some(fits.as_str())),
            other => panic!("refused: {:?}", refused(&other)),
        }
    }

    #[test]
    fn empty_secrets_are_refused_naming_their_source_for_every_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("empty"), "").expect("w");
        std::fs::write(dir.path().join("newline"), "\n").expect("w");
        let docs = [secret_doc(&[("token", ""), ("nl", "\n")])];
        let vars: BTreeMap<&str, &str> = [("BC_X", ""), ("BC_NL", "\n")].into();
        let secrets = FileSecrets::with_env(&docs, Some(dir.path()), move |n| {
            vars.get(n).map(|v| v.to_string())
        });
        for (token, message) in [
            (json!({"env": "BC_X"}), "accessToken: env BC_X is empty"),
            (json!({"env": "BC_NL"}), "accessToken: env BC_NL is empty"),
            (json!({"file": "empty"}), "accessToken: file empty is empty"),
            (
                json!({"file": "newline"}),
                "accessToken: file newline is empty",
            ),
            (
                json!({"secretKeyRef": {"name": "bc", "key": "token"}}),
                "accessToken: Secret shop/bc key token is empty",
            ),
            (
                json!({"secretKeyRef": {"name": "bc", "key": "nl"}}),
                "accessToken: Secret shop/bc key nl is empty",
            ),
        ] {
            let entry = build(&credential(token, json!({})), &secrets);
            assert_eq!(
                refused(&entry),
                (Reason::SecretNotFound, message.to_string())
            );
        }
        // The client secret and a client ID from a source are held to the same rule.
        let entry = build(
            &credential(
                json!({"env": "BC_OK"}),
                json!({"clientSecret": {"file": "empty"}}),
            ),
            &FileSecrets::with_env(&docs, Some(dir.path()), |n| {
                (n == "BC_OK").then(|| "tok".to_string())
            }),
        );
        assert_eq!(
            refused(&entry),
            (
                Reason::SecretNotFound,
                "clientSecret: file empty is empty".to_string()
            )
        );
        let entry = build(
            &credential(
                json!({"env": "BC_OK"}),
                json!({"clientId": {"env": "BC_NL"}}),
            ),
            &FileSecrets::with_env(&docs, Some(dir.path()), |n| match n {
                "BC_OK" => Some("tok".into()),
                "BC_NL" => Some("\n".into()),
                _ => None,
            }),
        );
        assert_eq!(
            refused(&entry),
            (
                Reason::SecretNotFound,
                "clientId: env BC_NL is empty".to_string()
            )
        );
    }

    #[test]
    fn exactly_one_trailing_newline_is_trimmed_from_every_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("one"), "tok\n").expect("w");
        std::fs::write(dir.path().join("two"), "tok\n\n").expect("w");
        let docs = [secret_doc(&[("one", "tok\n"), ("two", "tok\n\n")])];
        let vars: BTreeMap<&str, &str> = [("ONE", "tok\n"), ("TWO", "tok\n\n")].into();
        let secrets = FileSecrets::with_env(&docs, Some(dir.path()), move |n| {
            vars.get(n).map(|v| v.to_string())
        });
        for (source, expected) in [
            (json!({"env": "ONE"}), "tok"),
            (json!({"env": "TWO"}), "tok\n"),
            (json!({"file": "one"}), "tok"),
            (json!({"file": "two"}), "tok\n"),
            (json!({"secretKeyRef": {"name": "bc", "key": "one"}}), "tok"),
            (
                json!({"secretKeyRef": {"name": "bc", "key": "two"}}),
                "tok\n",
            ),
        ] {
            // As a client secret, which is stored as given.
            let entry = build(
                &credential(json!({"env": "ONE"}), json!({"clientSecret": source})),
                &secrets,
            );
            let Entry::Desired(d) = &entry else {
                panic!("refused: {:?}", refused(&entry))
            };
            let SecretUpdate::Set(secret) = &d.data.client_secret else {
                panic!("kept")
            };
            assert_eq!(secret.expose(), expected, "{source}");
            // As a token, which cannot hold the newline left over: refused before any request.
            let entry = build(&credential(source.clone(), json!({})), &secrets);
            if expected.ends_with('\n') {
                let (reason, message) = refused(&entry);
                assert_eq!(reason, Reason::InvalidSpec, "{source}");
                assert!(message.contains("contains control characters"), "{message}");
            } else {
                assert_eq!(token(&entry), expected, "{source}");
            }
        }
    }

    #[test]
    fn asterisks_after_the_newline_still_keep_the_stored_value() {
        let secrets = FileSecrets::with_env(&[], None, |_| Some("**********\n".into()));
        let entry = build(
            &credential(serde_json::json!({"env": "KEEP"}), serde_json::json!({})),
            &secrets,
        );
        assert_eq!(token(&entry), "<keep>");
    }
}
