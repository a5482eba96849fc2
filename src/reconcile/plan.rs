//! The planner: desired state against stored state gives one step per credential, with a
//! reason. A pure function, so every rule is tested without a database or network.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::desired::{Coverage, Desired, Entry, Scan, SourceKey};
use super::step::{Guard, Head, Held, Owned, Refusal, Step};
use crate::crypto::{FingerprintMatch, SecretFingerprints};
use crate::model::{label_key, DeletionPolicy, Field, Reason};
use crate::store::{
    ColumnError, CredentialData, ListedCredential, Ownership, SecretUpdate, StoredCredential,
    StoredData,
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
pub fn drift(stored: &StoredData, desired: &CredentialData) -> Vec<Field> {
    desired.changed_fields(Some(stored))
}

fn head(key: &SourceKey, label: &str, reason: Reason, message: impl Into<String>) -> Head {
    Head {
        key: key.clone(),
        label: label.to_string(),
        reason,
        message: message.into(),
        generation: None,
    }
}

type OwnedEntry = (Ownership, Option<StoredCredential>);

/// Plans one pass.
pub fn plan(input: &PlanInput<'_>) -> Vec<Step> {
    let owned_by_key: BTreeMap<&SourceKey, &OwnedEntry> = input
        .owned
        .iter()
        .map(|entry| (&entry.0.source_key, entry))
        .collect();
    let owned_ids: BTreeSet<i64> = input.owned.iter().map(|(o, _)| o.credential_id).collect();
    let mut steps = Vec::new();
    let mut seen: BTreeSet<&SourceKey> = BTreeSet::new();
    for entry in &input.scan.entries {
        seen.insert(entry.key());
        let owned = owned_by_key.get(entry.key()).copied();
        match entry {
            Entry::Invalid(invalid) => {
                let kept = if owned.is_some() {
                    "; the stored row is kept as it is"
                } else {
                    ""
                };
                let mut head = head(
                    &invalid.key,
                    invalid.label.as_deref().unwrap_or(""),
                    invalid.reason,
                    format!("{}{kept}", invalid.message),
                );
                head.generation = invalid.generation;
                let held = owned.map(|(ownership, row)| {
                    Box::new(Held {
                        ownership: ownership.clone(),
                        row: row.clone(),
                    })
                });
                steps.push(Step::Fail {
                    head,
                    refusal: Refusal::Invalid { held },
                });
            }
            // A manifest that is gone but was never stored leaves nothing to do.
            Entry::Gone(gone) => steps.extend(owned.map(|o| removal(o, gone.policy))),
            Entry::Desired(desired) => steps.push(plan_desired(input, desired, owned, &owned_ids)),
        }
    }
    steps.extend(prune(input, &seen));
    renames(input, steps)
}

/// A pass that deletes one name's row and creates another name with the same label and API
/// URL is a rename of `metadata.name`: the new name takes the row over and it keeps its id,
/// which the connector's other tables reference.
fn renames(input: &PlanInput<'_>, steps: Vec<Step>) -> Vec<Step> {
    // What a new name must share with a deleted row to take it over; labels are unique, so
    // each is one row at most.
    let same = |label: &str, api_url: &str| (label_key(label), api_url.to_string());
    let mut steps: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    let mut freed: HashMap<(String, String), usize> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        if let Some(Step::Remove {
            policy: DeletionPolicy::Delete,
            held: Held { row: Some(row), .. },
            ..
        }) = step
        {
            freed.insert(same(&row.data.label, &row.data.api_url), i);
        }
    }
    if freed.is_empty() {
        return steps.into_iter().flatten().collect();
    }
    let owned: HashSet<&SourceKey> = input.owned.iter().map(|(o, _)| &o.source_key).collect();
    for i in 0..steps.len() {
        let slot = match &steps[i] {
            Some(Step::Create { head, desired }) if !owned.contains(&head.key) => {
                freed.remove(&same(&desired.data.label, &desired.data.api_url))
            }
            _ => None,
        };
        let Some(slot) = slot else { continue };
        match (steps[i].take(), steps[slot].take()) {
            (
                Some(Step::Create { head, desired }),
                Some(Step::Remove {
                    head: old,
                    held:
                        Held {
                            ownership,
                            row: Some(row),
                        },
                    ..
                }),
            ) => steps[i] = Some(take_over(head, desired, &old.key, Owned { ownership, row })),
            // Unreachable: both were chosen by these shapes.
            (create, remove) => (steps[i], steps[slot]) = (create, remove),
        }
    }
    steps.into_iter().flatten().collect()
}

/// The Update by which a new name takes over the row of `old`, a name this pass deletes.
fn take_over(mut head: Head, desired: Box<Desired>, old: &SourceKey, owned: Owned) -> Step {
    (head.reason, head.message) = (
        Reason::Changed,
        format!(
            "renamed from {old}: verify and update row {}, which keeps its id",
            owned.row.id
        ),
    );
    Step::Update {
        head,
        desired,
        owned,
        drifted: Vec::new(),
    }
}

/// The rows of manifests that are gone: only rows the scan's paths declared are this pass's
/// to delete; the others belong to manifests it did not read.
fn prune(input: &PlanInput<'_>, seen: &BTreeSet<&SourceKey>) -> Vec<Step> {
    let in_scope = |own: &Ownership| {
        input.scan.coverage != Coverage::Entries
            && !seen.contains(&own.source_key)
            && input
                .scan
                .scope
                .as_ref()
                .is_none_or(|scope| scope.covers(own.source_path.as_deref()))
    };
    if !input.prune {
        return Vec::new();
    }
    let empty_guard = input.scan.entries.is_empty()
        && input.owned.iter().any(|(own, _)| in_scope(own))
        && !input.allow_empty;
    input
        .owned
        .iter()
        .filter(|(own, _)| in_scope(own))
        .map(|entry| {
            if input.scan.coverage == Coverage::Incomplete {
                kept(entry, Guard::IncompleteScan, Reason::IncompleteScan, "kept: part of the manifests could not be read, and deleting needs a complete scan")
            } else if empty_guard {
                kept(entry, Guard::EmptySet, Reason::EmptySetGuard, "kept: no manifests were found while rows are managed (an unmounted volume or a half-swapped checkout?); pass --allow-empty to delete them")
            } else {
                removal(entry, entry.0.deletion_policy)
            }
        })
        .collect()
}

/// The head of a step on an owned row whose manifest is gone.
fn gone_head((own, row): &OwnedEntry, reason: Reason, message: &str) -> (Head, Held) {
    let label = row.as_ref().map_or("", |c| c.data.label.as_str());
    let held = Held {
        ownership: own.clone(),
        row: row.clone(),
    };
    (head(&own.source_key, label, reason, message), held)
}

/// Deleting (or, under the Orphan policy, releasing) the row of a manifest that is gone; file
/// mode and Kubernetes mode both delete through here.
fn removal(entry: &OwnedEntry, policy: DeletionPolicy) -> Step {
    let (head, held) = match policy {
        DeletionPolicy::Orphan => gone_head(entry, Reason::Orphaned, "the manifest is gone and its deletion policy is Orphan: the row is kept and no longer managed"),
        DeletionPolicy::Delete => gone_head(entry, Reason::Deleted, "the manifest is gone: the row is deleted"),
    };
    Step::Remove { head, held, policy }
}

/// A row whose manifest is gone, kept by a guard.
fn kept(entry: &OwnedEntry, guard: Guard, reason: Reason, message: &str) -> Step {
    let (head, held) = gone_head(entry, reason, message);
    Step::Keep { head, held, guard }
}

fn plan_desired(
    input: &PlanInput<'_>,
    desired: &Desired,
    owned: Option<&OwnedEntry>,
    owned_ids: &BTreeSet<i64>,
) -> Step {
    let mut head = head(&desired.key, &desired.data.label, Reason::UpToDate, "");
    head.generation = desired.generation;
    match owned {
        Some((own, Some(row))) => {
            let owned = Owned {
                ownership: own.clone(),
                row: row.clone(),
            };
            owned_step(input, desired, owned, head)
        }
        Some((own, None)) => match input.unreadable.get(&own.credential_id) {
            Some(problem) => repair(desired, problem, own, head),
            None => creation(
                input,
                desired,
                owned_ids,
                head,
                "the stored row was deleted outside bccreds: verify and create it again",
            ),
        },
        None => creation(input, desired, owned_ids, head, "new: verify and create"),
    }
}

/// The step for a manifest whose row bccreds owns and could read.
fn owned_step(input: &PlanInput<'_>, desired: &Desired, owned: Owned, mut head: Head) -> Step {
    let (own, stored) = (&owned.ownership, &owned.row);
    let last = own.last_result;
    let deactivated_by_us = input.on_revoked_deactivate
        && !stored.data.active
        && last.is_some_and(Reason::is_revocation);
    let mut drifted = drift(&stored.data, &desired.data);
    if deactivated_by_us {
        drifted.retain(|c| *c != Field::Status);
    }
    let secrets = input
        .fingerprints
        .check(&own.secret_sha256, &desired.secret_digest);
    let desired = Box::new(desired.clone());
    let spec_changed = own.spec_sha256 != desired.spec_sha256;
    if spec_changed || secrets == FingerprintMatch::Changed {
        let what = if spec_changed {
            "the spec changed"
        } else {
            "a secret changed"
        };
        (head.reason, head.message) = (Reason::Changed, format!("{what}: verify and update"));
        return Step::Update {
            head,
            desired,
            owned,
            drifted: Vec::new(),
        };
    }
    if !drifted.is_empty() {
        let names: Vec<&str> = drifted.iter().map(|f| f.as_str()).collect();
        (head.reason, head.message) = (
            Reason::Drift,
            format!(
                "the stored row was changed outside bccreds ({}): verify and restore",
                names.join(", ")
            ),
        );
        return Step::Update {
            head,
            desired,
            owned,
            drifted,
        };
    }
    match reverify_reason(input, own, deactivated_by_us) {
        Some((reason, message)) => {
            (head.reason, head.message) = (reason, message.into());
            Step::Reverify {
                head,
                desired,
                owned,
            }
        }
        None => {
            head.message = "unchanged since the last verification".into();
            Step::Unchanged {
                head,
                desired,
                owned,
            }
        }
    }
}

/// Why an unchanged credential is verified again, if it is.
fn reverify_reason(
    input: &PlanInput<'_>,
    own: &Ownership,
    deactivated_by_us: bool,
) -> Option<(Reason, &'static str)> {
    if own.last_result.is_some_and(|r| r != Reason::Verified) && !deactivated_by_us {
        // The stored row is what was verified, but the last attempt (a change since reverted,
        // an outage) failed: verify again rather than report it until the re-verify interval.
        return Some((
            Reason::LastVerificationFailed,
            "unchanged, but the last verification failed: verify again",
        ));
    }
    let age = |t: DateTime<Utc>| {
        input
            .now
            .signed_duration_since(t)
            .to_std()
            .unwrap_or_default()
    };
    own.last_verified_at
        .is_none_or(|t| age(t) >= input.reverify_interval)
        .then_some((
            Reason::ReverifyDue,
            "unchanged, but the last verification is older than --reverify-interval",
        ))
}

/// A row bccreds owns but cannot read fails on its own; the manifest may overwrite it when it
/// gives every secret that cannot be read, since those cannot be kept.
fn repair(desired: &Desired, problem: &ColumnError, own: &Ownership, mut head: Head) -> Step {
    // The stored token cannot be read, whichever column failed, so verification needs the
    // manifest's.
    let mut missing = Vec::new();
    if matches!(desired.data.access_token, SecretUpdate::Keep) {
        missing.push(Field::AccessToken.as_str());
    }
    if problem.column == Field::ClientSecret.as_str()
        && matches!(desired.data.client_secret, SecretUpdate::Keep)
    {
        missing.push(Field::ClientSecret.as_str());
    }
    let id = own.credential_id;
    head.reason = Reason::StoredRowUnreadable;
    if !missing.is_empty() {
        head.message = format!(
            "stored credential {id} cannot be read: {problem}; the row is kept as it is, and the manifest can overwrite it by setting {}",
            missing.join(" and ")
        );
        return Step::Fail {
            head,
            refusal: Refusal::Unreadable {
                ownership: Box::new(own.clone()),
            },
        };
    }
    head.message =
        format!("stored credential {id} cannot be read: {problem}; verify and overwrite it");
    Step::Repair {
        head,
        desired: Box::new(desired.clone()),
        ownership: own.clone(),
    }
}

fn creation(
    input: &PlanInput<'_>,
    desired: &Desired,
    owned_ids: &BTreeSet<i64>,
    mut head: Head,
    message: &str,
) -> Step {
    let wanted = label_key(&desired.data.label);
    let taken = input
        .all_rows
        .iter()
        .find(|r| label_key(&r.label) == wanted && !owned_ids.contains(&r.id));
    let desired = Box::new(desired.clone());
    match taken {
        Some(row) if row.owner_id.is_none() && desired.adopt => {
            (head.reason, head.message) = (Reason::Adopt, "a row with this label exists and the manifest asks to adopt it: verify and take it over".into());
            Step::Adopt {
                head,
                desired,
                row: row.id,
            }
        }
        Some(row) => {
            let by = row.owner_id.as_ref().map_or_else(
                || "a credential bccreds does not manage (annotate the manifest with bigcommerce.unopim.io/adopt: \"true\" to take it over)".to_string(),
                |o| format!("a credential managed by owner `{o}`"),
            );
            (head.reason, head.message) = (
                Reason::LabelConflict,
                format!("label `{}` is already used by {by}", desired.data.label),
            );
            Step::Fail {
                head,
                refusal: Refusal::LabelConflict { row: row.id },
            }
        }
        None if matches!(desired.data.access_token, SecretUpdate::Keep) => {
            (head.reason, head.message) = (
                Reason::SecretNotFound,
                "no accessToken (absent, or `**********` to keep a stored one): there is nothing to verify or create the credential with".into(),
            );
            Step::Fail {
                head,
                refusal: Refusal::NoToken,
            }
        }
        None => {
            (head.reason, head.message) = (Reason::New, message.to_string());
            Step::Create { head, desired }
        }
    }
}

/// The steps of a verify-only pass (`bccreds verify`): every manifest that could be created is
/// verified, and nothing else is planned, since there is no store.
pub fn verification_steps(scan: &Scan) -> Vec<Step> {
    let mut steps = Vec::new();
    for entry in &scan.entries {
        match entry {
            Entry::Desired(desired) => {
                let mut head = head(&desired.key, &desired.data.label, Reason::New, "");
                head.generation = desired.generation;
                steps.push(if matches!(desired.data.access_token, SecretUpdate::Keep) {
                    // No failure of the manifest: it keeps a token verify does not read.
                    (head.reason, head.message) = (Reason::NotVerified, "the manifest keeps the stored access token (no accessToken, or `**********`), and verify reads no store: nothing to verify it with; `bccreds apply` verifies it with the stored token".into());
                    Step::NotVerifiable { head }
                } else {
                    Step::Verify {
                        head,
                        desired: desired.clone(),
                    }
                });
            }
            Entry::Invalid(invalid) => {
                let mut head = head(
                    &invalid.key,
                    invalid.label.as_deref().unwrap_or(""),
                    invalid.reason,
                    invalid.message.clone(),
                );
                head.generation = invalid.generation;
                steps.push(Step::Fail {
                    head,
                    refusal: Refusal::Invalid { held: None },
                });
            }
            Entry::Gone(_) => {}
        }
    }
    steps
}
