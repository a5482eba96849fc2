//! What a pass (or a plan) tells its caller: one item per credential and the summary counts,
//! and how step results become the status book's conditions.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::conditions::StatusBook;
use super::desired::{Coverage, Entry, Scan};
use super::execute::{Bucket, Done, Verification};
use super::plan::{Action, Step};
use crate::model::Reason;

/// One credential's line in `plan`/`apply` output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemReport {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Action planned or taken.
    pub action: Action,
    /// Why, or what came of it.
    pub reason: Reason,
    /// For people; never a secret.
    pub message: String,
    /// The fields the step changes (`plan --diff`); secrets only as `(changed)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<super::diff::FieldChange>,
    /// What BigCommerce said, when it was asked (`bccreds verify` prints it).
    #[serde(skip)]
    pub verification: Option<Verification>,
}

impl fmt::Display for ItemReport {
    /// The line `plan`, `apply`, the demo and the daemons' logs print for an item. Its first
    /// column is what was done: the action, or `Deactivated` when a re-verification marked the
    /// row inactive for a revoked token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let done = if self.reason == Reason::Deactivated {
            Reason::Deactivated.as_str()
        } else {
            self.action.as_str()
        };
        // Names, labels and messages quote manifests, the store and BigCommerce.
        let safe = crate::redact::escape_controls;
        write!(
            f,
            "{:<9} {}/{} ({}): {}",
            done,
            safe(&self.namespace),
            safe(&self.name),
            safe(&self.label),
            safe(&self.message)
        )
    }
}

/// Counts of a pass, as the summary line prints them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Rows created.
    pub created: usize,
    /// Rows updated (adoptions and deactivations too).
    pub updated: usize,
    /// Rows deleted or orphaned.
    pub deleted: usize,
    /// Credentials left as they were.
    pub unchanged: usize,
    /// Credentials that failed (invalid, not verified, conflicts, store errors).
    pub failed: usize,
}

impl fmt::Display for Summary {
    /// The summary line scripts grep for.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} deleted, {} unchanged, {} failed",
            self.created, self.updated, self.deleted, self.unchanged, self.failed
        )
    }
}

/// The result of a pass (or of a plan).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PassReport {
    /// One item per credential.
    pub items: Vec<ItemReport>,
    /// The counts.
    pub summary: Summary,
}

fn item(step: &Step, reason: Reason, message: &str) -> ItemReport {
    ItemReport {
        namespace: step.key.namespace.clone(),
        name: step.key.name.clone(),
        label: step.label.clone(),
        action: step.action,
        reason,
        message: message.to_string(),
        diff: Vec::new(),
        verification: None,
    }
}

/// Turns planned steps into a report without running them (`bccreds plan`).
pub fn plan_report(steps: &[Step]) -> PassReport {
    plan_report_with(steps, false)
}

/// A plan's report with each step's field changes (`plan --diff`).
pub fn plan_diff_report(steps: &[Step]) -> PassReport {
    plan_report_with(steps, true)
}

fn plan_report_with(steps: &[Step], diff: bool) -> PassReport {
    let mut report = PassReport::default();
    let mut sorted: Vec<&Step> = steps.iter().collect();
    // The same order as `apply` reports, so that a plan and its apply read alike.
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    for s in sorted {
        let mut it = item(s, s.reason, &s.message);
        if diff {
            it.diff = super::diff::diff(s);
        }
        report.items.push(it);
        let sum = &mut report.summary;
        match s.action {
            _ if s.failed => sum.failed += 1,
            Action::Create => sum.created += 1,
            Action::Update | Action::Adopt => sum.updated += 1,
            Action::Delete | Action::Orphan => sum.deleted += 1,
            Action::Reverify | Action::Unchanged | Action::Skip => sum.unchanged += 1,
        }
    }
    report
}

/// The report of steps that ran.
pub(super) fn pass_report(done: Vec<Done>) -> PassReport {
    let mut report = PassReport::default();
    for d in done {
        let mut line = item(&d.step, d.reason, &d.message);
        line.verification = d.verification;
        report.items.push(line);
        let sum = &mut report.summary;
        match d.bucket {
            Bucket::Created => sum.created += 1,
            Bucket::Updated => sum.updated += 1,
            Bucket::Deleted => sum.deleted += 1,
            Bucket::Unchanged => sum.unchanged += 1,
            Bucket::Failed => sum.failed += 1,
        }
    }
    report
}

/// Records the conditions of steps that ran. A scan of the whole source also forgets every
/// credential it did not see; a scan of some entries touches only those.
pub(super) fn record(book: &mut StatusBook, done: &[Done], scan: &Scan, now: DateTime<Utc>) {
    for d in done {
        let s = &d.step;
        if d.forget {
            book.forget(&s.key);
            continue;
        }
        let (Some(v), Some(st)) = (d.verified.clone(), d.stored.clone()) else {
            continue;
        };
        let status = book.record(&s.key, s.generation, v, st, now);
        if !s.label.is_empty() {
            status.label = Some(s.label.clone());
        }
        status.credential_id = d.credential_id;
        if d.store_info.is_some() {
            status.store = d.store_info.clone();
        }
        if let Some(active) = d.active {
            status.credential_status = Some(if active { "Active" } else { "Inactive" }.into());
        }
        if d.verified_now {
            status.last_verified_time = Some(now);
        } else if status.last_verified_time.is_none() {
            status.last_verified_time = s.ownership.as_ref().and_then(|o| o.last_verified_at);
        }
    }
    for entry in &scan.entries {
        if let Entry::Gone(gone) = entry {
            book.forget(&gone.key);
        }
    }
    if scan.coverage != Coverage::Entries {
        let keep: BTreeSet<_> = done
            .iter()
            .filter(|d| !d.forget)
            .map(|d| d.step.key.clone())
            .collect();
        book.retain(|k| keep.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(action: Action, reason: Reason) -> String {
        ItemReport {
            namespace: "shop".into(),
            name: "prod".into(),
            label: "Prod".into(),
            action,
            reason,
            message: "why".into(),
            diff: Vec::new(),
            verification: None,
        }
        .to_string()
    }

    #[test]
    fn the_first_column_is_the_action_or_a_deactivation() {
        assert_eq!(
            line(Action::Reverify, Reason::InvalidToken),
            "Reverify  shop/prod (Prod): why"
        );
        assert_eq!(
            line(Action::Reverify, Reason::Deactivated),
            "Deactivated shop/prod (Prod): why"
        );
    }
}
