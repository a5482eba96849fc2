//! `clientId` is stored in plaintext, shown on the credentials page and printed by `export`. A
//! `clientId: {env: …}` or `{file: …}` that points at an access token (by mistake, or by someone
//! who can commit but not read the secrets) would copy that token into the clear. So a clientId
//! equal to any secret resolved in the same pass is refused, naming whose secret it equals and
//! never the value. Values are compared by digest, so no copy of a secret is kept for it.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::desired::{Desired, Entry, Invalid, SourceKey};
use crate::model::Reason;
use crate::store::SecretUpdate;

type ValueDigest = [u8; 32];

fn digest(value: &str) -> ValueDigest {
    Sha256::digest(value.as_bytes()).into()
}

/// Which credentials hold which secret and clientId values, by digest.
#[derive(Clone, Debug, Default)]
pub struct SecretHolders {
    by_value: HashMap<ValueDigest, Vec<(SourceKey, &'static str)>>,
    by_key: HashMap<SourceKey, Vec<ValueDigest>>,
}

fn secret<'a>(field: &'static str, update: &'a SecretUpdate) -> Option<(&'static str, &'a str)> {
    match update {
        SecretUpdate::Set(v) => Some((field, v.expose())),
        SecretUpdate::Keep => None,
    }
}

/// The secret fields and the clientId of `d` that hold a value, with the value.
fn fields(d: &Desired) -> impl Iterator<Item = (&'static str, &str)> {
    [
        secret("accessToken", &d.data.access_token),
        secret("clientSecret", &d.data.client_secret),
        d.data.client_id.as_deref().map(|id| ("clientId", id)),
    ]
    .into_iter()
    .flatten()
}

impl SecretHolders {
    /// The holders of every desired entry of `entries`.
    pub fn of(entries: &[Entry]) -> SecretHolders {
        let mut holders = SecretHolders::default();
        for entry in entries {
            if let Entry::Desired(d) = entry {
                holders.record(d);
            }
        }
        holders
    }

    /// Records `d`'s values, replacing what was recorded for its key.
    pub fn record(&mut self, d: &Desired) {
        self.forget(&d.key);
        let mut mine = Vec::new();
        for (field, value) in fields(d) {
            let v = digest(value);
            self.by_value
                .entry(v)
                .or_default()
                .push((d.key.clone(), field));
            mine.push(v);
        }
        self.by_key.insert(d.key.clone(), mine);
    }

    /// Forgets what was recorded for `key`.
    pub fn forget(&mut self, key: &SourceKey) {
        for v in self.by_key.remove(key).unwrap_or_default() {
            if let Some(list) = self.by_value.get_mut(&v) {
                list.retain(|(k, _)| k != key);
                if list.is_empty() {
                    self.by_value.remove(&v);
                }
            }
        }
    }

    /// A secret (not a clientId) holding `value`: whose, and which field; `key`'s own first.
    fn secret_holding(&self, value: &str, key: &SourceKey) -> Option<&(SourceKey, &'static str)> {
        let holders = self.by_value.get(&digest(value))?;
        let secrets = || holders.iter().filter(|(_, field)| *field != "clientId");
        secrets()
            .find(|(k, _)| k == key)
            .or_else(|| secrets().next())
    }

    /// Whether a secret of `d` equals the clientId of another credential, whose refusal only a
    /// pass over every credential can decide.
    pub fn copied_by_another(&self, d: &Desired) -> bool {
        fields(d)
            .filter(|(field, _)| *field != "clientId")
            .any(|(_, value)| {
                self.by_value.get(&digest(value)).is_some_and(|list| {
                    list.iter()
                        .any(|(key, field)| *field == "clientId" && *key != d.key)
                })
            })
    }
}

/// Turns every desired entry whose clientId equals a secret that `holders` know into an invalid
/// one; returns how many were refused.
pub fn refuse_copied_secrets(entries: &mut [Entry], holders: &SecretHolders) -> usize {
    let mut refused = 0;
    for entry in entries.iter_mut() {
        let Entry::Desired(d) = entry else { continue };
        let Some(client_id) = d.data.client_id.as_deref() else {
            continue;
        };
        let Some((key, field)) = holders.secret_holding(client_id, &d.key) else {
            continue;
        };
        let whose = if *key == d.key {
            format!("this credential's own {field}")
        } else {
            format!("the {field} of {key}")
        };
        let message = format!(
            "clientId equals a secret ({whose}); clientId is stored in plaintext and shown on the credentials page, so it is refused: point clientId at the API account's Client ID"
        );
        *entry = Entry::Invalid(Invalid {
            key: d.key.clone(),
            label: Some(d.data.label.clone()),
            generation: d.generation,
            reason: Reason::InvalidSpec,
            message,
        });
        refused += 1;
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DeletionPolicy;
    use crate::secret::SecretValue;
    use crate::store::CredentialData;

    fn desired(name: &str, client_id: Option<&str>, token: &str, secret: Option<&str>) -> Entry {
        let data = CredentialData {
            label: name.to_uppercase(),
            api_url: "https://api.bigcommerce.com/stores/abc123/".into(),
            client_id: client_id.map(str::to_string),
            client_secret: secret.map_or(SecretUpdate::Keep, |s| {
                SecretUpdate::Set(SecretValue::new(s))
            }),
            access_token: SecretUpdate::Set(SecretValue::new(token)),
            active: true,
            default_locale: None,
            default_currency: None,
            locale_mapping: Default::default(),
            currency_mapping: Default::default(),
            store_info: None,
        };
        Entry::Desired(Box::new(Desired {
            key: SourceKey {
                namespace: "shop".into(),
                name: name.into(),
            },
            generation: None,
            origin: format!("{name}.yaml:1"),
            spec_sha256: String::new(),
            secret_digest: String::new(),
            source_path: None,
            data,
            store_hash: "abc123".into(),
            policy: DeletionPolicy::Delete,
            adopt: false,
        }))
    }

    fn refused(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .filter_map(|e| match e {
                Entry::Invalid(i) => Some(format!("{}: {}", i.key.name, i.message)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_client_id_equal_to_any_resolved_secret_is_refused_without_the_value() {
        let mut entries = vec![
            desired("own", Some("LEAK-own-token"), "LEAK-own-token", None),
            desired("other", Some("LEAK-b-token"), "LEAK-a-token", None),
            desired("b", None, "LEAK-b-token", Some("LEAK-b-secret")),
            desired("c", Some("LEAK-b-secret"), "LEAK-c-token", None),
            desired("fine", Some("client-1"), "LEAK-d-token", None),
            desired("same-id", Some("client-1"), "LEAK-e-token", None),
        ];
        let holders = SecretHolders::of(&entries);
        assert_eq!(refuse_copied_secrets(&mut entries, &holders), 3);
        let refused = refused(&entries);
        assert_eq!(refused.len(), 3, "{refused:?}");
        assert!(
            refused[0]
                .starts_with("own: clientId equals a secret (this credential's own accessToken)"),
            "{refused:?}"
        );
        assert!(
            refused[1].contains("(the accessToken of shop/b)"),
            "{refused:?}"
        );
        assert!(
            refused[2].contains("(the clientSecret of shop/b)"),
            "{refused:?}"
        );
        assert!(refused.iter().all(|r| !r.contains("LEAK")), "{refused:?}");
    }

    #[test]
    fn holders_follow_edits_and_know_when_only_a_full_pass_can_decide() {
        let entries = vec![
            desired("a", Some("client-a"), "tok-a", None),
            desired("b", None, "tok-b", None),
        ];
        let mut holders = SecretHolders::of(&entries);
        // b's token becomes a's clientId: a (unchanged) must now be refused.
        let edited = desired("b", None, "client-a", None);
        let Entry::Desired(b) = &edited else {
            unreachable!()
        };
        assert!(holders.copied_by_another(b));
        holders.record(b);
        let mut a_again = vec![entries[0].clone()];
        assert_eq!(refuse_copied_secrets(&mut a_again, &holders), 1);
        // Edited back, nothing is held against a any more.
        let back = desired("b", None, "tok-b", None);
        let Entry::Desired(b) = &back else {
            unreachable!()
        };
        holders.record(b);
        let mut a_again = vec![entries[0].clone()];
        assert_eq!(refuse_copied_secrets(&mut a_again, &holders), 0);
        holders.forget(&b.key);
        assert!(holders.by_key.len() == 1 && !holders.by_value.is_empty());
    }
}
