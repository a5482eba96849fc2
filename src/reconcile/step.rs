//! A planned step: one variant per action, each carrying exactly the data its execution needs,
//! so that the executor never re-checks what the planner already knew.

use super::desired::{Desired, SourceKey};
use super::plan::Action;
use super::report::ItemResult;
use crate::model::{DeletionPolicy, Field, Reason};
use crate::store::{Ownership, StoredCredential};

/// What every step carries: whose it is, and why the planner chose it.
#[derive(Clone, Debug)]
pub struct Head {
    /// The credential's identity.
    pub key: SourceKey,
    /// Its label (desired, or stored for deletions).
    pub label: String,
    /// Why.
    pub reason: Reason,
    /// Why, for people.
    pub message: String,
    /// `metadata.generation`.
    pub generation: Option<i64>,
}

/// A row bccreds owns and could read.
#[derive(Clone, Debug)]
pub struct Owned {
    /// The ownership record.
    pub ownership: Ownership,
    /// The row.
    pub row: StoredCredential,
}

/// A row bccreds owns, whether or not it could be read (`None`: deleted behind its back).
#[derive(Clone, Debug)]
pub struct Held {
    /// The ownership record.
    pub ownership: Ownership,
    /// The row, where it exists.
    pub row: Option<StoredCredential>,
}

/// Which guard keeps the row of a manifest that is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// Part of the manifests could not be read: no pass deletes on a partial scan.
    IncompleteScan,
    /// No manifest at all while rows are managed, without `--allow-empty`: a failure.
    EmptySet,
}

/// Why nothing may be done for a manifest.
#[derive(Clone, Debug)]
pub enum Refusal {
    /// The manifest is unusable (invalid, a secret not found); its stored row, if any, stays.
    Invalid {
        /// The row it manages, kept as it is.
        held: Option<Box<Held>>,
    },
    /// The owned row cannot be read, and the manifest does not give every secret it lacks.
    Unreadable {
        /// The unreadable row's ownership record.
        ownership: Box<Ownership>,
    },
    /// Another row has the label.
    LabelConflict {
        /// The row that has it.
        row: i64,
    },
    /// Nothing to create the credential with: the manifest gives no token.
    NoToken,
}

/// One planned step.
#[derive(Clone, Debug)]
pub enum Step {
    /// Verify, then insert a row.
    Create { head: Head, desired: Box<Desired> },
    /// Verify, then take over row `row`, which nobody manages.
    Adopt {
        head: Head,
        desired: Box<Desired>,
        row: i64,
    },
    /// Verify, then rewrite the owned row: the manifest changed, or the row drifted.
    Update {
        head: Head,
        desired: Box<Desired>,
        owned: Owned,
        /// The columns that drifted (empty when the manifest changed).
        drifted: Vec<Field>,
    },
    /// Verify, then overwrite an owned row that cannot be read.
    Repair {
        head: Head,
        desired: Box<Desired>,
        ownership: Ownership,
    },
    /// Nothing changed, but the last verification is old or failed: verify again.
    Reverify {
        head: Head,
        desired: Box<Desired>,
        owned: Owned,
    },
    /// Nothing to do: the row matches and its verification stands.
    Unchanged {
        head: Head,
        desired: Box<Desired>,
        owned: Owned,
    },
    /// The manifest is gone: delete the row, or release it under the Orphan policy.
    Remove {
        head: Head,
        held: Held,
        policy: DeletionPolicy,
    },
    /// The manifest is gone, and a guard keeps its row and its last status.
    Keep {
        head: Head,
        held: Held,
        guard: Guard,
    },
    /// A verify-only pass: ask BigCommerce, write nothing.
    Verify { head: Head, desired: Box<Desired> },
    /// A verify-only pass with no token to verify: the manifest keeps the stored one.
    NotVerifiable { head: Head },
    /// Nothing may be done; the head's reason says why.
    Fail { head: Head, refusal: Refusal },
}

impl Step {
    /// What every step carries.
    pub fn head(&self) -> &Head {
        match self {
            Step::Create { head, .. }
            | Step::Adopt { head, .. }
            | Step::Update { head, .. }
            | Step::Repair { head, .. }
            | Step::Reverify { head, .. }
            | Step::Unchanged { head, .. }
            | Step::Remove { head, .. }
            | Step::Keep { head, .. }
            | Step::Verify { head, .. }
            | Step::NotVerifiable { head }
            | Step::Fail { head, .. } => head,
        }
    }

    /// The credential's identity.
    pub fn key(&self) -> &SourceKey {
        &self.head().key
    }

    /// The action, as `plan` and `apply` print it.
    pub fn action(&self) -> Action {
        match self {
            Step::Create { .. } | Step::Verify { .. } => Action::Create,
            Step::Adopt { .. } => Action::Adopt,
            Step::Update { .. } | Step::Repair { .. } => Action::Update,
            Step::Reverify { .. } => Action::Reverify,
            Step::Unchanged { .. } => Action::Unchanged,
            Step::Remove {
                policy: DeletionPolicy::Delete,
                ..
            } => Action::Delete,
            Step::Remove {
                policy: DeletionPolicy::Orphan,
                ..
            } => Action::Orphan,
            Step::Keep { .. } | Step::NotVerifiable { .. } | Step::Fail { .. } => Action::Skip,
        }
    }

    /// Whether the step fails as planned, whatever BigCommerce would say.
    pub fn fails(&self) -> bool {
        matches!(
            self,
            Step::Fail { .. }
                | Step::Keep {
                    guard: Guard::EmptySet,
                    ..
                }
        )
    }

    /// What a plan expects the step to come to.
    pub fn intent(&self) -> ItemResult {
        if self.fails() {
            return ItemResult::Failed;
        }
        match self.action() {
            Action::Create => ItemResult::Created,
            Action::Update => ItemResult::Updated,
            Action::Adopt => ItemResult::Adopted,
            Action::Delete => ItemResult::Deleted,
            Action::Orphan => ItemResult::Orphaned,
            Action::Reverify | Action::Unchanged | Action::Skip => ItemResult::Unchanged,
        }
    }

    /// The desired state, for steps that have one.
    pub fn desired(&self) -> Option<&Desired> {
        match self {
            Step::Create { desired, .. }
            | Step::Adopt { desired, .. }
            | Step::Update { desired, .. }
            | Step::Repair { desired, .. }
            | Step::Reverify { desired, .. }
            | Step::Unchanged { desired, .. }
            | Step::Verify { desired, .. } => Some(desired),
            _ => None,
        }
    }

    /// The ownership record of the row the step concerns, where bccreds has one.
    pub fn ownership(&self) -> Option<&Ownership> {
        match self {
            Step::Update { owned, .. }
            | Step::Reverify { owned, .. }
            | Step::Unchanged { owned, .. } => Some(&owned.ownership),
            Step::Repair { ownership, .. } => Some(ownership),
            Step::Fail {
                refusal: Refusal::Unreadable { ownership },
                ..
            } => Some(ownership),
            Step::Remove { held, .. } | Step::Keep { held, .. } => Some(&held.ownership),
            Step::Fail {
                refusal: Refusal::Invalid { held: Some(held) },
                ..
            } => Some(&held.ownership),
            _ => None,
        }
    }

    /// The stored row, where the step has read one.
    pub fn stored(&self) -> Option<&StoredCredential> {
        match self {
            Step::Update { owned, .. }
            | Step::Reverify { owned, .. }
            | Step::Unchanged { owned, .. } => Some(&owned.row),
            Step::Remove { held, .. } | Step::Keep { held, .. } => held.row.as_ref(),
            Step::Fail {
                refusal: Refusal::Invalid { held: Some(held) },
                ..
            } => held.row.as_ref(),
            _ => None,
        }
    }

    /// The id of the row the step concerns.
    pub fn row_id(&self) -> Option<i64> {
        match self {
            Step::Adopt { row, .. }
            | Step::Fail {
                refusal: Refusal::LabelConflict { row },
                ..
            } => Some(*row),
            _ => self.ownership().map(|o| o.credential_id),
        }
    }
}
