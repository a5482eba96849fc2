//! Field-level changes of a planned step (`plan --diff`): what the stored row has and what the
//! manifest wants, for every field that differs. Secrets are never shown, only that they change.

use serde::Serialize;

use super::plan::Action;
use super::step::Step;
use crate::model::Field;

/// One field a step changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The field (`label`, `accessToken`, …).
    pub field: Field,
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

/// The fields `step` would change: every set field of a Create, the differing fields of an
/// Update or Adopt, nothing for other actions.
pub fn diff(step: &Step) -> Vec<FieldChange> {
    if !matches!(
        step.action(),
        Action::Create | Action::Update | Action::Adopt
    ) {
        return Vec::new();
    }
    let Some(desired) = step.desired() else {
        return Vec::new();
    };
    let stored = step.stored().map(|s| &s.data);
    // Secrets last, as they always were listed.
    let (secrets, plain): (Vec<Field>, Vec<Field>) = desired
        .data
        .changed_fields(stored)
        .into_iter()
        .partition(|f| f.is_secret());
    plain
        .into_iter()
        .chain(secrets)
        .map(|field| FieldChange {
            field,
            from: stored.and_then(|s| s.shown(field)),
            to: desired.data.shown(field),
            secret: field.is_secret(),
        })
        .collect()
}
