//! The planner: desired state against stored state gives one step per credential, with a
//! reason. A pure function, so every rule is tested without a database or network.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::desired::{Coverage, Desired, Entry, Scan, SourceKey};
use crate::crypto::{FingerprintMatch, SecretFingerprints};
use crate::model::{DeletionPolicy, Reason};
use crate::store::{
    ColumnError, ListedCredential, Ownership, SecretUpdate, StoredCredential, StoredData,
};

/// What a pass will do with one credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Action {
    /// Verify, then insert a row.
    Create,
    /// Verify, then rewrite the owned row.
    Update,
    /// Verify, then take over a row nobody manages.
    Adopt,
    /// Nothing changed, but the last verification is old: verify again.
    Reverify,
    /// The manifest is gone: delete the row.
    Delete,
    /// The manifest is gone and its policy is Orphan: stop managing the row, keep it.
    Orphan,
    /// Nothing to do.
    Unchanged,
    /// Nothing may be done; the reason says why.
    Skip,
}

impl Action {
    /// As printed by `plan` and `apply`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "Create",
            Action::Update => "Update",
            Action::Adopt => "Adopt",
            Action::Reverify => "Reverify",
            Action::Delete => "Delete",
            Action::Orphan => "Orphan",
            Action::Unchanged => "Unchanged",
            Action::Skip => "Skip",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One planned step.
#[derive(Clone, Debug)]
pub struct Step {
    /// The credential's identity.
    pub key: SourceKey,
    /// Its label (desired, or stored for deletions).
    pub label: String,
    /// What to do.
    pub action: Action,
    /// Why.
    pub reason: Reason,
    /// Why, for people.
    pub message: String,
    /// The desired state, for steps that write.
    pub desired: Option<Box<Desired>>,
    /// The row concerned, when there is one.
    pub id: Option<i64>,
    /// The stored row, when bccreds owns it.
    pub stored: Option<StoredCredential>,
    /// The ownership record, when there is one.
    pub ownership: Option<Ownership>,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// Whether the step counts as a failure (bad manifest, conflict, refused guard).
    pub failed: bool,
}

/// Everything the planner looks at.
pub struct PlanInput<'a> {
    /// Desired state.
    pub scan: &'a Scan,
    /// This owner's rows (`None` credential: deleted behind bccreds' back).
    pub owned: &'a [(Ownership, Option<StoredCredential>)],
    /// Every stored row, for label collisions with rows this owner does not manage.
    pub all_rows: &'a [ListedCredential],
    /// This owner's rows that exist but cannot be read, by id (`owned` has `None` for them).
    pub unreadable: &'a BTreeMap<i64, ColumnError>,
    /// Now.
    pub now: DateTime<Utc>,
    /// How old a verification may get before it is repeated.
    pub reverify_interval: Duration,
    /// Allow deleting everything when the desired set is empty.
    pub allow_empty: bool,
    /// Delete rows whose manifests are gone; `false` deletes nothing.
    pub prune: bool,
    /// `--on-revoked deactivate`: a row bccreds deactivated for a revoked token is not drift.
    pub on_revoked_deactivate: bool,
    /// How stored secret fingerprints are compared with the desired secrets.
    pub fingerprints: &'a SecretFingerprints,
}

/// Which stored columns differ from the desired ones, ignoring secrets kept as they are.
pub fn drift(stored: &StoredData, desired: &Desired) -> Vec<&'static str> {
    let d = &desired.data;
    let mut out = Vec::new();
    if stored.label != d.label {
        out.push("label");
    }
    if stored.api_url != d.api_url {
        out.push("apiUrl");
    }
    if stored.client_id != d.client_id {
        out.push("clientId");
    }
    if let SecretUpdate::Set(v) = &d.client_secret {
        if stored.client_secret.as_ref() != Some(v) {
            out.push("clientSecret");
        }
    }
    if let SecretUpdate::Set(v) = &d.access_token {
        if &stored.access_token != v {
            out.push("accessToken");
        }
    }
    if stored.active != d.active {
        out.push("status");
    }
    if stored.default_locale != d.default_locale {
        out.push("defaultLocale");
    }
    if stored.default_currency != d.default_currency {
        out.push("defaultCurrency");
    }
    if stored.locale_mapping != d.locale_mapping {
        out.push("localeMapping");
    }
    if stored.currency_mapping != d.currency_mapping {
        out.push("currencyMapping");
    }
    out
}

fn step(key: &SourceKey, label: &str, action: Action, reason: Reason, message: String) -> Step {
    Step {
        key: key.clone(),
        label: label.to_string(),
        action,
        reason,
        message,
        desired: None,
        id: None,
        stored: None,
        ownership: None,
        generation: None,
        failed: false,
    }
}

/// Plans one pass.
pub fn plan(input: &PlanInput<'_>) -> Vec<Step> {
    let mut owned_by_key: BTreeMap<&str, &(Ownership, Option<StoredCredential>)> = BTreeMap::new();
    for entry in input.owned {
        owned_by_key.insert(entry.0.source_key.as_str(), entry);
    }
    let owned_ids: BTreeSet<i64> = input.owned.iter().map(|(o, _)| o.credential_id).collect();
    let mut steps = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for entry in &input.scan.entries {
        let key_text = entry.key().to_string();
        seen.insert(key_text.clone());
        let owned = owned_by_key.get(key_text.as_str()).copied();
        match entry {
            Entry::Invalid(invalid) => {
                let mut s = step(
                    &invalid.key,
                    invalid.label.as_deref().unwrap_or(""),
                    Action::Skip,
                    invalid.reason,
                    format!(
                        "{}{}",
                        invalid.message,
                        if owned.is_some() {
                            "; the stored row is kept as it is"
                        } else {
                            ""
                        }
                    ),
                );
                s.failed = true;
                s.generation = invalid.generation;
                if let Some((own, cred)) = owned {
                    s.id = Some(own.credential_id);
                    s.ownership = Some(own.clone());
                    s.stored = cred.clone();
                }
                steps.push(s);
            }
            // A manifest that is gone but was never stored leaves nothing to do.
            Entry::Gone(gone) => {
                steps.extend(owned.map(|(own, cred)| removal(own, cred, gone.policy)))
            }
            Entry::Desired(desired) => steps.push(plan_desired(input, desired, owned, &owned_ids)),
        }
    }
    // Only rows the scan's paths declared are this pass's to delete; the others belong to
    // manifests it did not read.
    let in_scope = |own: &Ownership| {
        input.scan.coverage != Coverage::Entries
            && !seen.contains(&own.source_key)
            && input
                .scan
                .scope
                .as_ref()
                .is_none_or(|scope| scope.covers(own.source_path.as_deref()))
    };
    let empty_guard = input.scan.entries.is_empty()
        && input.owned.iter().any(|(own, _)| in_scope(own))
        && !input.allow_empty;
    for (own, cred) in input.owned {
        if !in_scope(own) || !input.prune {
            continue;
        }
        let s = if input.scan.coverage == Coverage::Incomplete {
            kept(
                own,
                cred,
                Reason::IncompleteScan,
                "kept: part of the manifests could not be read, and deleting needs a complete scan",
                false,
            )
        } else if empty_guard {
            kept(own, cred, Reason::EmptySetGuard, "kept: no manifests were found while rows are managed (an unmounted volume or a half-swapped checkout?); pass --allow-empty to delete them", true)
        } else {
            removal(own, cred, own.deletion_policy)
        };
        steps.push(s);
    }
    steps
}

/// The key a row was stored under (a row of an unparsable key keeps its text as the name).
fn stored_key(own: &Ownership) -> SourceKey {
    SourceKey::parse(&own.source_key).unwrap_or(SourceKey {
        namespace: String::new(),
        name: own.source_key.clone(),
    })
}

/// A step on an owned row whose manifest is gone.
fn gone_step(
    own: &Ownership,
    cred: &Option<StoredCredential>,
    action: Action,
    reason: Reason,
    message: &str,
) -> Step {
    let label = cred
        .as_ref()
        .map_or(String::new(), |c| c.data.label.clone());
    let mut s = step(&stored_key(own), &label, action, reason, message.into());
    s.id = Some(own.credential_id);
    s.ownership = Some(own.clone());
    s.stored = cred.clone();
    s
}

/// Deleting (or, under the Orphan policy, releasing) the row of a manifest that is gone; file
/// mode and Kubernetes mode both delete through here.
fn removal(own: &Ownership, cred: &Option<StoredCredential>, policy: DeletionPolicy) -> Step {
    match policy {
        DeletionPolicy::Orphan => gone_step(own, cred, Action::Orphan, Reason::Orphaned, "the manifest is gone and its deletion policy is Orphan: the row is kept and no longer managed"),
        DeletionPolicy::Delete => gone_step(own, cred, Action::Delete, Reason::Deleted, "the manifest is gone: the row is deleted"),
    }
}

/// A row whose manifest is gone, kept by a guard.
fn kept(
    own: &Ownership,
    cred: &Option<StoredCredential>,
    reason: Reason,
    message: &str,
    failed: bool,
) -> Step {
    let mut s = gone_step(own, cred, Action::Skip, reason, message);
    s.failed = failed;
    s
}

fn plan_desired(
    input: &PlanInput<'_>,
    desired: &Desired,
    owned: Option<&(Ownership, Option<StoredCredential>)>,
    owned_ids: &BTreeSet<i64>,
) -> Step {
    let d = &desired.data;
    let mut s = step(
        &desired.key,
        &d.label,
        Action::Unchanged,
        Reason::UpToDate,
        String::new(),
    );
    s.generation = desired.generation;
    s.desired = Some(Box::new(desired.clone()));
    match owned {
        Some((own, Some(stored))) => {
            s.id = Some(own.credential_id);
            s.ownership = Some(own.clone());
            s.stored = Some(stored.clone());
            let mut drifted = drift(&stored.data, desired);
            let last = own.last_reason();
            let deactivated_by_us = input.on_revoked_deactivate
                && !stored.data.active
                && last.is_some_and(Reason::is_revocation);
            if deactivated_by_us {
                drifted.retain(|c| *c != "status");
            }
            let secrets = input
                .fingerprints
                .check(&own.secret_sha256, &desired.secret_digest);
            if own.spec_sha256 != desired.spec_sha256 || secrets == FingerprintMatch::Changed {
                let what = if own.spec_sha256 != desired.spec_sha256 {
                    "the spec changed"
                } else {
                    "a secret changed"
                };
                (s.action, s.reason, s.message) = (
                    Action::Update,
                    Reason::Changed,
                    format!("{what}: verify and update"),
                );
            } else if !drifted.is_empty() {
                (s.action, s.reason, s.message) = (
                    Action::Update,
                    Reason::Drift,
                    format!(
                        "the stored row was changed outside bccreds ({}): verify and restore",
                        drifted.join(", ")
                    ),
                );
            } else if own.last_result.is_some()
                && last != Some(Reason::Verified)
                && !deactivated_by_us
            {
                // The stored row is what was verified, but the last attempt (a change since
                // reverted, an outage) failed: verify again rather than report it until the
                // re-verify interval.
                (s.action, s.reason, s.message) = (
                    Action::Reverify,
                    Reason::LastVerificationFailed,
                    "unchanged, but the last verification failed: verify again".into(),
                );
            } else if own.last_verified_at.is_none_or(|t| {
                input
                    .now
                    .signed_duration_since(t)
                    .to_std()
                    .unwrap_or_default()
                    >= input.reverify_interval
            }) {
                (s.action, s.reason, s.message) = (
                    Action::Reverify,
                    Reason::ReverifyDue,
                    "unchanged, but the last verification is older than --reverify-interval".into(),
                );
            } else {
                s.message = "unchanged since the last verification".into();
            }
        }
        Some((own, None)) if input.unreadable.contains_key(&own.credential_id) => {
            s.id = Some(own.credential_id);
            s.ownership = Some(own.clone());
            let problem = &input.unreadable[&own.credential_id];
            repair(desired, problem, own.credential_id, &mut s);
        }
        Some((own, None)) => {
            s.ownership = Some(own.clone());
            creation(
                input,
                desired,
                owned_ids,
                &mut s,
                "the stored row was deleted outside bccreds: verify and create it again",
            );
        }
        None => creation(input, desired, owned_ids, &mut s, "new: verify and create"),
    }
    s
}

/// A row bccreds owns but cannot read fails on its own; the manifest may overwrite it when it
/// gives every secret that cannot be read, since those cannot be kept.
fn repair(desired: &Desired, problem: &ColumnError, id: i64, s: &mut Step) {
    // The stored token cannot be read, whichever column failed, so verification needs the
    // manifest's.
    let mut missing = Vec::new();
    if matches!(desired.data.access_token, SecretUpdate::Keep) {
        missing.push("accessToken");
    }
    if problem.column == "clientSecret" && matches!(desired.data.client_secret, SecretUpdate::Keep)
    {
        missing.push("clientSecret");
    }
    if !missing.is_empty() {
        (s.action, s.reason, s.message) = (
            Action::Skip,
            Reason::StoredRowUnreadable,
            format!(
                "stored credential {id} cannot be read: {problem}; the row is kept as it is, and the manifest can overwrite it by setting {}",
                missing.join(" and ")
            ),
        );
        s.failed = true;
    } else {
        (s.action, s.reason, s.message) = (
            Action::Update,
            Reason::StoredRowUnreadable,
            format!("stored credential {id} cannot be read: {problem}; verify and overwrite it"),
        );
    }
}

fn creation(
    input: &PlanInput<'_>,
    desired: &Desired,
    owned_ids: &BTreeSet<i64>,
    s: &mut Step,
    message: &str,
) {
    let wanted = desired.data.label.to_lowercase();
    let taken = input
        .all_rows
        .iter()
        .find(|r| r.label.to_lowercase() == wanted && !owned_ids.contains(&r.id));
    match taken {
        Some(row) if row.owner_id.is_none() && desired.adopt => {
            (s.action, s.reason, s.message) = (Action::Adopt, Reason::Adopt, "a row with this label exists and the manifest asks to adopt it: verify and take it over".into());
            s.id = Some(row.id);
        }
        Some(row) => {
            let by = row.owner_id.as_ref().map_or_else(
                || "a credential bccreds does not manage (annotate the manifest with bigcommerce.unopim.io/adopt: \"true\" to take it over)".to_string(),
                |o| format!("a credential managed by owner `{o}`"),
            );
            (s.action, s.reason, s.message) = (
                Action::Skip,
                Reason::LabelConflict,
                format!("label `{}` is already used by {by}", desired.data.label),
            );
            s.id = Some(row.id);
            s.failed = true;
        }
        None if matches!(desired.data.access_token, SecretUpdate::Keep) => {
            (s.action, s.reason, s.message) = (
                Action::Skip,
                Reason::SecretNotFound,
                "no accessToken (absent, or `**********` to keep a stored one): there is nothing to verify or create the credential with".into(),
            );
            s.failed = true;
        }
        None => {
            (s.action, s.reason, s.message) = (Action::Create, Reason::New, message.to_string())
        }
    }
}
