//! Turning one BigCommerceCredential into a desired entry, whatever the source: resolve its
//! secrets through a source-specific lookup, normalise its URL, read its annotations, hash it.

use crate::api_url;
use crate::model::{BigCommerceCredential, ClientId, Reason, SecretSource};
use crate::reconcile::{secret_hash, spec_hash, Desired, Entry, Invalid, SourceKey};
use crate::secret::SecretValue;
use crate::store::{CredentialData, SecretUpdate};

/// Looks a secret source up; the error says why, without the value.
pub type Lookup<'a> = &'a dyn Fn(&SecretSource) -> Result<SecretValue, String>;

fn update(source: Option<&SecretSource>, lookup: Lookup<'_>) -> Result<SecretUpdate, String> {
    match source {
        None => Ok(SecretUpdate::Keep),
        Some(source) => {
            let value = lookup(source)?;
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
        Some(ClientId::Source(src)) => match lookup(src) {
            Ok(v) => Some(v.expose().to_string()),
            Err(e) => return missing("clientId", e),
        },
    };
    let client_secret = match update(spec.client_secret.as_ref(), lookup) {
        Ok(u) => u,
        Err(e) => return missing("clientSecret", e),
    };
    let access_token = match update(spec.access_token.as_ref(), lookup) {
        Ok(u) => u,
        Err(e) => return missing("accessToken", e),
    };
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
        secret_sha256: secret_hash(&data),
        data,
        store_hash: url.store_hash,
        policy,
        adopt: resource.wants_adoption(),
        key,
    }))
}
