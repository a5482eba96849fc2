//! What a pass (or a plan) tells its caller: one item per credential and the summary counts,
//! and how step results become the status book's conditions.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::conditions::{NewCondition, StatusBook};
use super::desired::{Coverage, Entry, Scan, SourceKey};
use super::plan::Action;
use super::step::Step;
use super::verification::Verification;
use crate::model::{Reason, StoreInfo};

/// What came of one credential in a pass: the bucket of the summary it is counted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemResult {
    /// A row was created.
    Created,
    /// A row was updated (restored, re-activated).
    Updated,
    /// A row nobody managed was taken over (as it was, or rewritten to match the manifest).
    Adopted,
    /// A row was deleted.
    Deleted,
    /// A row was released (deletion policy Orphan): kept in the store, no longer managed.
    Orphaned,
    /// Nothing was written (up to date, re-verified, kept by a guard).
    Unchanged,
    /// The step failed (invalid, not verified, conflicts, store errors).
    Failed,
}

impl ItemResult {
    /// Every result, in the summary's order.
    pub const ALL: [ItemResult; 7] = [
        ItemResult::Created,
        ItemResult::Updated,
        ItemResult::Adopted,
        ItemResult::Deleted,
        ItemResult::Orphaned,
        ItemResult::Unchanged,
        ItemResult::Failed,
    ];

    /// As JSON, YAML and the `result` label of `bccreds_results_total` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemResult::Created => "created",
            ItemResult::Updated => "updated",
            ItemResult::Adopted => "adopted",
            ItemResult::Deleted => "deleted",
            ItemResult::Orphaned => "orphaned",
            ItemResult::Unchanged => "unchanged",
            ItemResult::Failed => "failed",
        }
    }

    /// The first column of an item line.
    pub fn title(self) -> &'static str {
        match self {
            ItemResult::Created => "Created",
            ItemResult::Updated => "Updated",
            ItemResult::Adopted => "Adopted",
            ItemResult::Deleted => "Deleted",
            ItemResult::Orphaned => "Orphaned",
            ItemResult::Unchanged => "Unchanged",
            ItemResult::Failed => "Failed",
        }
    }
}

impl fmt::Display for ItemResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One credential's line in `plan`/`apply` output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemReport {
    /// Namespace and name.
    #[serde(flatten)]
    pub key: SourceKey,
    /// Label.
    pub label: String,
    /// Action planned or attempted.
    pub action: Action,
    /// What came of it: always set after a pass; in a plan only for steps that already fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ItemResult>,
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
    /// The conditions the step records in the status book (`None`: the status is left as it
    /// was, or, for a deleted row, forgotten).
    #[serde(skip)]
    pub status: Option<StatusChange>,
}

/// What a step that ran records of its credential's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChange {
    /// `metadata.generation` the step acted on.
    pub generation: Option<i64>,
    /// The Verified condition.
    pub verified: NewCondition,
    /// The Stored condition.
    pub stored: NewCondition,
    /// The row, where there is one.
    pub credential_id: Option<i64>,
    /// The store as last verified.
    pub store_info: Option<StoreInfo>,
    /// Whether the row is active.
    pub active: Option<bool>,
    /// BigCommerce gave a verdict in this step.
    pub verified_at: bool,
    /// When the ownership row says it last did.
    pub last_verified_before: Option<DateTime<Utc>>,
}

impl ItemReport {
    /// An item with no result yet.
    pub fn new(
        key: SourceKey,
        label: &str,
        action: Action,
        reason: Reason,
        message: String,
    ) -> ItemReport {
        ItemReport {
            key,
            label: label.to_string(),
            action,
            result: None,
            reason,
            message,
            diff: Vec::new(),
            verification: None,
            status: None,
        }
    }

    /// Whether this credential failed (or, in a plan, already fails).
    pub fn failed(&self) -> bool {
        self.result == Some(ItemResult::Failed)
    }

    /// Whether nothing was (or, in a plan, would be) written for this credential.
    pub fn is_unchanged(&self) -> bool {
        match self.result {
            Some(result) => result == ItemResult::Unchanged,
            None => self.action == Action::Unchanged,
        }
    }
}

impl fmt::Display for ItemReport {
    /// The line `plan`, `apply` and the demo print for an item: its result after a pass
    /// (`Created`, `Updated`, `Deleted`, `Orphaned`, `Unchanged`, `Failed`), its action in a
    /// plan, then the credential and the message. A failed step's message starts with what was
    /// attempted (`Failed    shop/prod (Prod): create: BigCommerce has no store …`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let column = self.result.map_or(self.action.as_str(), ItemResult::title);
        // Names, labels and messages quote manifests, the store and BigCommerce.
        let safe = crate::redact::escape_controls;
        write!(
            f,
            "{:<9} {}/{}",
            column,
            safe(&self.key.namespace),
            safe(&self.key.name)
        )?;
        if !self.label.is_empty() {
            write!(f, " ({})", safe(&self.label))?;
        }
        f.write_str(": ")?;
        // A skip or an unchanged credential attempted nothing; every other action did.
        if self.failed() && !matches!(self.action, Action::Skip | Action::Unchanged) {
            write!(f, "{}: ", self.action.as_str().to_lowercase())?;
        }
        f.write_str(&safe(&self.message))
    }
}

/// Counts of a pass, as the summary line prints them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Summary {
    /// Rows created.
    pub created: usize,
    /// Rows updated (re-activations too).
    pub updated: usize,
    /// Rows nobody managed, taken over.
    pub adopted: usize,
    /// Rows deleted.
    pub deleted: usize,
    /// Rows released (deletion policy Orphan): kept, no longer managed.
    pub orphaned: usize,
    /// Credentials left as they were.
    pub unchanged: usize,
    /// Credentials that failed (invalid, not verified, conflicts, store errors).
    pub failed: usize,
}

impl Summary {
    /// The count of one result.
    pub fn count(&self, result: ItemResult) -> usize {
        match result {
            ItemResult::Created => self.created,
            ItemResult::Updated => self.updated,
            ItemResult::Adopted => self.adopted,
            ItemResult::Deleted => self.deleted,
            ItemResult::Orphaned => self.orphaned,
            ItemResult::Unchanged => self.unchanged,
            ItemResult::Failed => self.failed,
        }
    }

    fn add(&mut self, result: ItemResult) {
        *match result {
            ItemResult::Created => &mut self.created,
            ItemResult::Updated => &mut self.updated,
            ItemResult::Adopted => &mut self.adopted,
            ItemResult::Deleted => &mut self.deleted,
            ItemResult::Orphaned => &mut self.orphaned,
            ItemResult::Unchanged => &mut self.unchanged,
            ItemResult::Failed => &mut self.failed,
        } += 1;
    }

    /// A plan's summary line, which speaks of intent, as terraform's does:
    /// `Plan: 5 to create, 0 to update, 0 to delete, 0 to orphan, 1 unchanged, 0 failing`.
    /// Adoptions are named only when there are any, so that the usual line stays as it was.
    pub fn plan_line(&self) -> String {
        let adopt = match self.adopted {
            0 => String::new(),
            n => format!(", {n} to adopt"),
        };
        format!(
            "Plan: {} to create, {} to update{adopt}, {} to delete, {} to orphan, {} unchanged, {} failing",
            self.created, self.updated, self.deleted, self.orphaned, self.unchanged, self.failed
        )
    }
}

impl fmt::Display for Summary {
    /// A pass's summary line, which scripts grep for:
    /// `1 created, 0 updated, 0 deleted, 0 orphaned, 3 unchanged, 0 failed`.
    /// Adoptions are named only when there are any, so that the usual line stays as it was.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let adopted = match self.adopted {
            0 => String::new(),
            n => format!(", {n} adopted"),
        };
        write!(
            f,
            "{} created, {} updated{adopted}, {} deleted, {} orphaned, {} unchanged, {} failed",
            self.created, self.updated, self.deleted, self.orphaned, self.unchanged, self.failed
        )
    }
}

/// The result of a pass (or of a plan).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PassReport {
    /// One item per credential.
    pub items: Vec<ItemReport>,
    /// The counts: of what was done, or for a plan of what would be.
    pub summary: Summary,
    /// A plan, not a pass: nothing was done yet.
    #[serde(skip)]
    pub planned: bool,
}

impl PassReport {
    /// The summary line: the plan's (intent) or the pass's (past tense).
    pub fn summary_line(&self) -> String {
        if self.planned {
            self.summary.plan_line()
        } else {
            self.summary.to_string()
        }
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
    let mut report = PassReport {
        planned: true,
        ..PassReport::default()
    };
    let mut sorted: Vec<&Step> = steps.iter().collect();
    // The same order as `apply` reports, so that a plan and its apply read alike.
    sorted.sort_by(|a, b| a.key().cmp(b.key()));
    for s in sorted {
        let head = s.head();
        let mut it = ItemReport::new(
            head.key.clone(),
            &head.label,
            s.action(),
            head.reason,
            head.message.clone(),
        );
        if diff {
            it.diff = super::diff::diff(s);
        }
        // What the step would come to; only a failure is already a result.
        let intent = s.intent();
        if intent == ItemResult::Failed {
            it.result = Some(ItemResult::Failed);
        }
        report.items.push(it);
        report.summary.add(intent);
    }
    report
}

/// The report of steps that ran.
pub(super) fn pass_report(items: Vec<ItemReport>) -> PassReport {
    let mut report = PassReport::default();
    for item in &items {
        if let Some(result) = item.result {
            report.summary.add(result);
        }
    }
    report.items = items;
    report
}

/// Records the conditions of steps that ran. A scan of the whole source also forgets every
/// credential it did not see; a scan of some entries touches only those.
pub(super) fn record(book: &mut StatusBook, items: &[ItemReport], scan: &Scan, now: DateTime<Utc>) {
    let gone =
        |i: &ItemReport| matches!(i.result, Some(ItemResult::Deleted | ItemResult::Orphaned));
    for item in items {
        if gone(item) {
            book.forget(&item.key);
            continue;
        }
        let Some(change) = &item.status else {
            continue;
        };
        let status = book.record(
            &item.key,
            change.generation,
            change.verified.clone(),
            change.stored.clone(),
            now,
        );
        if !item.label.is_empty() {
            status.label = Some(item.label.clone());
        }
        status.credential_id = change.credential_id;
        if change.store_info.is_some() {
            status.store = change.store_info.clone();
        }
        if let Some(active) = change.active {
            status.credential_status = Some(if active { "Active" } else { "Inactive" }.into());
        }
        status.last_verified_time =
            super::outcome::last_verified(change, now, status.last_verified_time);
    }
    for entry in &scan.entries {
        if let Entry::Gone(gone) = entry {
            book.forget(&gone.key);
        }
    }
    if scan.coverage != Coverage::Entries {
        let keep: BTreeSet<_> = items
            .iter()
            .filter(|i| !gone(i))
            .map(|i| i.key.clone())
            .collect();
        book.retain(|k| keep.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(action: Action, result: Option<ItemResult>, label: &str) -> String {
        let mut item = ItemReport::new(
            SourceKey::new("shop", "prod"),
            label,
            action,
            Reason::InvalidToken,
            "why".into(),
        );
        item.result = result;
        item.to_string()
    }

    #[test]
    fn a_plan_line_shows_the_action_and_a_pass_line_the_result() {
        assert_eq!(
            line(Action::Create, None, "Prod"),
            "Create    shop/prod (Prod): why"
        );
        assert_eq!(
            line(Action::Create, Some(ItemResult::Created), "Prod"),
            "Created   shop/prod (Prod): why"
        );
        assert_eq!(
            line(Action::Orphan, Some(ItemResult::Orphaned), "Prod"),
            "Orphaned  shop/prod (Prod): why"
        );
        assert_eq!(
            line(Action::Reverify, Some(ItemResult::Unchanged), "Prod"),
            "Unchanged shop/prod (Prod): why"
        );
    }

    #[test]
    fn a_failed_line_says_so_and_what_was_attempted() {
        assert_eq!(
            line(Action::Create, Some(ItemResult::Failed), "Prod"),
            "Failed    shop/prod (Prod): create: why"
        );
        assert_eq!(
            line(Action::Update, Some(ItemResult::Failed), "Prod"),
            "Failed    shop/prod (Prod): update: why"
        );
        assert_eq!(
            line(Action::Reverify, Some(ItemResult::Failed), "Prod"),
            "Failed    shop/prod (Prod): reverify: why"
        );
        // A skip attempted nothing: its message says why it is skipped.
        assert_eq!(
            line(Action::Skip, Some(ItemResult::Failed), ""),
            "Failed    shop/prod: why"
        );
    }

    #[test]
    fn summaries_speak_of_intent_in_a_plan_and_of_results_after_a_pass() {
        let summary = Summary {
            created: 5,
            orphaned: 1,
            unchanged: 1,
            ..Summary::default()
        };
        assert_eq!(
            summary.plan_line(),
            "Plan: 5 to create, 0 to update, 0 to delete, 1 to orphan, 1 unchanged, 0 failing"
        );
        assert_eq!(
            summary.to_string(),
            "5 created, 0 updated, 0 deleted, 1 orphaned, 1 unchanged, 0 failed"
        );
        for result in ItemResult::ALL {
            let mut one = Summary::default();
            one.add(result);
            assert_eq!(one.count(result), 1, "{result}");
            assert_eq!(
                ItemResult::ALL.iter().map(|r| one.count(*r)).sum::<usize>(),
                1
            );
        }
    }
}
