//! Field-level changes of a planned step (`plan --diff`): what the stored row has and what the
//! manifest wants, for every field that differs. Secrets are never shown, only that they change.

use std::collections::BTreeMap;

use serde::Serialize;

use super::plan::{Action, Step};
use crate::secret::SecretValue;
use crate::store::SecretUpdate;

/// One field a step changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The manifest's name of the field (`label`, `accessToken`, …).
    pub field: &'static str,
    /// The stored value; `None` when there is none, and always for a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The wanted value; `None` when it is removed, and always for a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// A secret: shown as `(changed)` or `(set)`, never its value.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

impl std::fmt::Display for FieldChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<String>| v.as_deref().map_or("(none)".into(), |v| format!("{v:?}"));
        match (self.secret, &self.from) {
            (true, _) => write!(f, "{}: (changed)", self.field),
            (false, None) => write!(f, "{}: {}", self.field, shown(&self.to)),
            (false, Some(_)) => write!(
                f,
                "{}: {} -> {}",
                self.field,
                shown(&self.from),
                shown(&self.to)
            ),
        }
    }
}

fn mapping(m: &BTreeMap<String, String>) -> Option<String> {
    (!m.is_empty()).then(|| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

fn status(active: bool) -> Option<String> {
    Some(if active { "Active" } else { "Inactive" }.into())
}

/// Whether a secret update changes what is stored (`None`: nothing stored).
fn secret_changes(wanted: &SecretUpdate, stored: Option<&SecretValue>) -> bool {
    match wanted {
        SecretUpdate::Keep => false,
        SecretUpdate::Set(v) => stored.is_none_or(|s| s.expose() != v.expose()),
    }
}

/// The fields `step` would change: every set field of a Create, the differing fields of an
/// Update or Adopt, nothing for other actions.
pub fn diff(step: &Step) -> Vec<FieldChange> {
    if !matches!(step.action, Action::Create | Action::Update | Action::Adopt) {
        return Vec::new();
    }
    let Some(desired) = &step.desired else {
        return Vec::new();
    };
    let d = &desired.data;
    let s = step.stored.as_ref().map(|s| &s.data);
    let mut out = Vec::new();
    let mut field = |field: &'static str, from: Option<String>, to: Option<String>| {
        if from != to {
            out.push(FieldChange {
                field,
                from,
                to,
                secret: false,
            });
        }
    };
    field("label", s.map(|s| s.label.clone()), Some(d.label.clone()));
    field(
        "apiUrl",
        s.map(|s| s.api_url.clone()),
        Some(d.api_url.clone()),
    );
    field(
        "clientId",
        s.and_then(|s| s.client_id.clone()),
        d.client_id.clone(),
    );
    field("status", s.and_then(|s| status(s.active)), status(d.active));
    field(
        "defaultLocale",
        s.and_then(|s| s.default_locale.clone()),
        d.default_locale.clone(),
    );
    field(
        "defaultCurrency",
        s.and_then(|s| s.default_currency.clone()),
        d.default_currency.clone(),
    );
    field(
        "localeMapping",
        s.and_then(|s| mapping(&s.locale_mapping)),
        mapping(&d.locale_mapping),
    );
    field(
        "currencyMapping",
        s.and_then(|s| mapping(&s.currency_mapping)),
        mapping(&d.currency_mapping),
    );
    for (name, wanted, stored) in [
        (
            "clientSecret",
            &d.client_secret,
            s.and_then(|s| s.client_secret.as_ref()),
        ),
        ("accessToken", &d.access_token, s.map(|s| &s.access_token)),
    ] {
        if secret_changes(wanted, stored) {
            out.push(FieldChange {
                field: name,
                from: None,
                to: None,
                secret: true,
            });
        }
    }
    out
}
