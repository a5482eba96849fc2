//! Kubernetes mode: one BigCommerceCredential object becomes a one-object [`Scan`], its
//! `secretKeyRef`s read from Secrets of its own namespace (and no other).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::{Client, ResourceExt};

use crate::model::{BigCommerceCredential, Reason, SecretSource};
use crate::reconcile::{
    refuse_copied_secrets, Entry, Gone, Invalid, Scan, SecretHolders, SourceKey,
};
use crate::secret::SecretValue;
use crate::validate::{semantic, SemanticOptions};

/// The identity of an object.
pub fn key_of(obj: &BigCommerceCredential) -> SourceKey {
    SourceKey {
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
    }
}

/// The names of the Secrets an object refers to.
pub fn secret_names(obj: &BigCommerceCredential) -> Vec<String> {
    let mut names: Vec<String> = obj
        .spec
        .secret_sources()
        .filter_map(|(_, s)| match s {
            SecretSource::SecretKeyRef(r) => Some(r.name.clone()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Reads the referenced Secrets of the object's namespace; a missing one is simply absent.
async fn fetch_secrets(
    client: &Client,
    ns: &str,
    obj: &BigCommerceCredential,
) -> Result<BTreeMap<String, Secret>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut found = BTreeMap::new();
    for name in secret_names(obj) {
        if let Some(secret) = api.get_opt(&name).await? {
            found.insert(name, secret);
        }
    }
    Ok(found)
}

/// The value of `source` among the fetched Secrets, as the Secret holds it (`build::resolve`
/// trims one trailing newline and refuses an empty value, as for every source); the error says
/// why, never the value.
pub fn lookup(
    ns: &str,
    secrets: &BTreeMap<String, Secret>,
    source: &SecretSource,
) -> Result<SecretValue, String> {
    let SecretSource::SecretKeyRef(r) = source else {
        return Err(format!(
            "{} sources exist only in file mode; in Kubernetes use secretKeyRef",
            source.kind()
        ));
    };
    let secret = secrets
        .get(&r.name)
        .ok_or_else(|| format!("Secret `{ns}/{}` does not exist (yet)", r.name))?;
    if let Some(bytes) = secret.data.as_ref().and_then(|d| d.get(&r.key)) {
        return String::from_utf8(bytes.0.clone())
            .map(SecretValue::new)
            .map_err(|_| format!("Secret `{ns}/{}` key `{}` is not UTF-8 text", r.name, r.key));
    }
    if let Some(text) = secret.string_data.as_ref().and_then(|d| d.get(&r.key)) {
        return Ok(SecretValue::new(text.clone()));
    }
    Err(format!("Secret `{ns}/{}` has no key `{}`", r.name, r.key))
}

/// The one-object scan of a live object: checked, its Secrets read, its URL normalised.
pub async fn scan_object(
    client: &Client,
    obj: &BigCommerceCredential,
    allowed_hosts: &[String],
) -> Result<Scan, kube::Error> {
    let key = key_of(obj);
    let findings = semantic::check(
        obj,
        &SemanticOptions {
            allowed_hosts: allowed_hosts.to_vec(),
            kubernetes: true,
            // Kubernetes mode has no env sources: every one is refused before this list counts.
            env_allow: Vec::new(),
        },
    );
    let entry = if let Some(first) = findings.first() {
        Entry::Invalid(Invalid {
            key,
            label: Some(obj.spec.label.clone()),
            generation: obj.metadata.generation,
            reason: Reason::InvalidSpec,
            message: first.message.clone(),
        })
    } else {
        let ns = key.namespace.clone();
        let secrets = fetch_secrets(client, &ns, obj).await?;
        let find = |s: &SecretSource| lookup(&ns, &secrets, s);
        let origin = key.to_string();
        super::build::entry(obj, key, origin, allowed_hosts, &find)
    };
    let mut entries = vec![entry];
    // A clientId copying the object's own secret (the only ones this scan resolved).
    let holders = SecretHolders::of(&entries);
    refuse_copied_secrets(&mut entries, &holders);
    Ok(Scan::of_entries(entries))
}

/// The one-object scan of an object being deleted: its row goes as its deletion policy says.
pub fn scan_deleted(obj: &BigCommerceCredential) -> Scan {
    Scan::of_entries(vec![Entry::Gone(Gone {
        key: key_of(obj),
        policy: obj.deletion_policy(),
    })])
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn credential() -> BigCommerceCredential {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "bigcommerce.unopim.io/v1alpha1", "kind": "BigCommerceCredential",
            "metadata": {"name": "prod", "namespace": "shop"},
            "spec": {"label": "Prod", "apiUrl": "https://api.bigcommerce.com/stores/abc123/",
                     "accessToken": {"secretKeyRef": {"name": "bc", "key": "token"}}}
        }))
        .expect("credential")
    }

    /// The entry of `credential()` when Secret `shop/bc` holds `data` (bytes) or `string_data`.
    fn entry_with(data: Option<&str>, string_data: Option<&str>) -> Entry {
        let secret = Secret {
            data: data.map(|v| [("token".to_string(), ByteString(v.as_bytes().to_vec()))].into()),
            string_data: string_data.map(|v| [("token".to_string(), v.to_string())].into()),
            ..Secret::default()
        };
        let secrets: BTreeMap<String, Secret> = [("bc".to_string(), secret)].into();
        let obj = credential();
        let find = |s: &SecretSource| lookup("shop", &secrets, s);
        super::super::build::entry(
            &obj,
            key_of(&obj),
            "shop/prod".into(),
            &["api.bigcommerce.com".to_string()],
            &find,
        )
    }

    #[test]
    fn an_empty_secret_key_is_refused_naming_the_secret() {
        for (data, string_data) in [
            (Some(""), None),
            (Some("\n"), None),
            (None, Some("")),
            (None, Some("\n")),
        ] {
            let Entry::Invalid(invalid) = entry_with(data, string_data) else {
                panic!("an empty value was accepted ({data:?}, {string_data:?})");
            };
            assert_eq!(invalid.reason, Reason::SecretNotFound);
            assert_eq!(
                invalid.message,
                "accessToken: Secret shop/bc key token is empty"
            );
        }
    }

    #[test]
    fn one_trailing_newline_of_secret_data_is_trimmed() {
        // What one trim leaves of "tok\n\n" is a token with a control character: refused.
        let Entry::Invalid(left_over) = entry_with(Some("tok\n\n"), None) else {
            panic!("a token ending in a newline is refused");
        };
        assert!(
            left_over.message.contains("contains control characters"),
            "{}",
            left_over.message
        );
        for (data, string_data, expected) in [
            (Some("tok\n"), None, "tok"),
            (None, Some("tok\n"), "tok"),
            (Some("tok"), None, "tok"),
        ] {
            let Entry::Desired(desired) = entry_with(data, string_data) else {
                panic!("refused ({data:?}, {string_data:?})");
            };
            let crate::store::SecretUpdate::Set(token) = &desired.data.access_token else {
                panic!("kept");
            };
            assert_eq!(token.expose(), expected);
        }
    }
}
