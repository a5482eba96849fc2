//! What came of a step, typed per action, and the one place that turns it into what a pass
//! reports: the item line, its summary bucket (which is also its metric) and its conditions.

use chrono::{DateTime, Utc};

use super::conditions::NewCondition;
use super::report::{ItemReport, ItemResult, StatusChange};
use super::step::{Guard, Refusal, Step};
use super::verification::Verification;
use crate::model::{ConditionStatus, ConditionType, Reason, StoreInfo};
use crate::store::Ownership;
use crate::store::StoreError;

use ConditionStatus::{False, True, Unknown};
use ConditionType::{Stored, Verified};

/// How a write step left its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Written {
    Created,
    Updated,
    /// Taken over; `as_stored`: without writing to it.
    Adopted {
        as_stored: bool,
    },
}

/// What a re-verification did to the row besides recording the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Effect {
    /// Nothing.
    None,
    /// A revoked token: the row was marked inactive (`--on-revoked deactivate`).
    Deactivated,
    /// Still revoked: the row stays inactive.
    StaysInactive,
    /// Accepted again: the row was marked active again.
    Reactivated,
}

/// What came of one step.
pub(super) enum Outcome {
    /// The row matches; `remembered` is the Verified condition the ownership row keeps, and
    /// `inactive` says that `--on-revoked deactivate` left the row inactive.
    Unchanged {
        remembered: NewCondition,
        inactive: bool,
    },
    /// The row was deleted or released.
    Removed,
    /// A guard kept the row: its last status stands.
    Held,
    /// Verify only: nothing to verify the manifest with.
    NotVerifiable,
    /// Refused as planned.
    Refused,
    /// No token to verify a write with.
    NoToken(String),
    /// Verify only: what BigCommerce said.
    Checked(Verification),
    /// BigCommerce did not verify the credential: nothing was written.
    NotVerified(Verification),
    /// Verified and written.
    Written {
        how: Written,
        id: i64,
        verification: Verification,
        store: StoreInfo,
        active: bool,
    },
    /// Verified again.
    Reverified {
        verification: Verification,
        effect: Effect,
    },
    /// The store refused or failed; `verification` when BigCommerce was asked first.
    StoreFailed {
        error: StoreError,
        verification: Option<Verification>,
    },
}

/// The item a step comes to, with the conditions it records.
pub(super) fn settle(step: Step, outcome: Outcome) -> ItemReport {
    let Described {
        result,
        reason,
        message,
        conditions,
        verification,
        verified_now,
    } = outcome.describe(&step);
    let mut item = ItemReport::new(
        step.key().clone(),
        &step.head().label,
        step.action(),
        reason,
        message,
    );
    item.result = Some(result);
    item.status = conditions.map(|(verified, stored, facts)| StatusChange {
        generation: step.head().generation,
        verified,
        stored,
        credential_id: facts.credential_id.or_else(|| step.row_id()),
        store_info: facts
            .store_info
            .or_else(|| step.stored().and_then(|s| s.data.store_info.clone())),
        active: facts
            .active
            .or_else(|| step.stored().map(|s| s.data.active)),
        verified_at: verified_now,
        last_verified_before: step.ownership().and_then(|o| o.last_verified_at),
    });
    item.verification = verification;
    item
}

/// What the row is now, where the step changed what the step's own data says.
#[derive(Default)]
struct Facts {
    credential_id: Option<i64>,
    store_info: Option<StoreInfo>,
    active: Option<bool>,
}

struct Described {
    result: ItemResult,
    reason: Reason,
    message: String,
    conditions: Option<(NewCondition, NewCondition, Facts)>,
    verification: Option<Verification>,
    /// BigCommerce gave a verdict in this step.
    verified_now: bool,
}

fn plain(result: ItemResult, reason: Reason, message: String) -> Described {
    Described {
        result,
        reason,
        message,
        conditions: None,
        verification: None,
        verified_now: false,
    }
}

fn with(
    result: ItemResult,
    reason: Reason,
    message: String,
    verified: NewCondition,
    stored: NewCondition,
) -> Described {
    Described {
        conditions: Some((verified, stored, Facts::default())),
        ..plain(result, reason, message)
    }
}

fn passed(v: &Verification) -> ItemResult {
    if v.reason == Reason::Verified {
        ItemResult::Unchanged
    } else {
        ItemResult::Failed
    }
}

fn verified_condition(v: &Verification) -> NewCondition {
    NewCondition::new(Verified, v.status, v.reason, v.message.clone())
}

impl Outcome {
    fn describe(self, step: &Step) -> Described {
        let head = step.head();
        match self {
            Outcome::Unchanged {
                remembered,
                inactive,
            } => unchanged(head.message.clone(), remembered, inactive),
            Outcome::Removed => {
                let result = match step.action() {
                    super::plan::Action::Orphan => ItemResult::Orphaned,
                    _ => ItemResult::Deleted,
                };
                plain(result, head.reason, head.message.clone())
            }
            Outcome::Held => {
                let result = match step {
                    Step::Keep {
                        guard: Guard::EmptySet,
                        ..
                    } => ItemResult::Failed,
                    _ => ItemResult::Unchanged,
                };
                plain(result, head.reason, head.message.clone())
            }
            Outcome::NotVerifiable => {
                plain(ItemResult::Unchanged, head.reason, head.message.clone())
            }
            Outcome::Refused => refused(step),
            Outcome::NoToken(message) => with(
                ItemResult::Failed,
                Reason::SecretNotFound,
                message.clone(),
                NewCondition::new(Verified, False, Reason::SecretNotFound, &message),
                NewCondition::new(Stored, False, Reason::SecretNotFound, &message),
            ),
            Outcome::Checked(v) => Described {
                verification: Some(v.clone()),
                ..plain(passed(&v), v.reason, v.message)
            },
            Outcome::NotVerified(v) => not_verified(step, v),
            Outcome::Written {
                how,
                id,
                verification,
                store,
                active,
            } => written(how, id, verification, store, active),
            Outcome::Reverified {
                verification,
                effect,
            } => reverified(verification, effect),
            Outcome::StoreFailed {
                error,
                verification,
            } => store_failed(step, &error, verification),
        }
    }
}

/// An unchanged credential is not verified again before the re-verify interval; but one whose
/// last verdict was a failure (a revoked token whose row `--on-revoked deactivate` marked
/// inactive) stays a failure until BigCommerce accepts the token again.
fn unchanged(message: String, verified: NewCondition, inactive: bool) -> Described {
    if verified.status != False {
        let stored = NewCondition::new(
            Stored,
            True,
            Reason::UpToDate,
            "the stored row matches the manifest",
        );
        return with(
            ItemResult::Unchanged,
            Reason::UpToDate,
            message,
            verified,
            stored,
        );
    }
    let stored = NewCondition::new(
        Stored,
        True,
        Reason::UpToDate,
        if inactive {
            "the stored row is kept, inactive (--on-revoked deactivate)"
        } else {
            "the stored row is kept as it was"
        },
    );
    let message = if verified.reason.is_revocation() {
        format!(
            "token revoked at the last verification{}, and not verified again before --reverify-interval: {}",
            if inactive {
                "; the row stays inactive (--on-revoked deactivate)"
            } else {
                ""
            },
            verified.message
        )
    } else {
        format!(
            "the last verification failed, and it is not repeated before --reverify-interval: {}",
            verified.message
        )
    };
    let reason = verified.reason;
    with(ItemResult::Failed, reason, message, verified, stored)
}

/// A refused step. Invalid input carries its own reason on every condition, so that Ready
/// names it too; a row the manifest manages is kept as it was.
fn refused(step: &Step) -> Described {
    let head = step.head();
    let (reason, message) = (head.reason, head.message.clone());
    let kept = matches!(
        step,
        Step::Fail {
            refusal: Refusal::Invalid { held: Some(_) },
            ..
        }
    );
    let bad_input = is_bad_input(reason);
    let verified = if bad_input {
        NewCondition::new(Verified, False, reason, &message)
    } else {
        NewCondition::new(Verified, Unknown, Reason::NotVerified, &message)
    };
    let stored = match (kept, bad_input) {
        (true, true) => NewCondition::new(Stored, True, reason, "the stored row is kept as it was"),
        (true, false) => NewCondition::new(
            Stored,
            True,
            Reason::UpToDate,
            "the stored row is kept as it was",
        ),
        (false, _) => NewCondition::new(Stored, False, reason, &message),
    };
    with(ItemResult::Failed, reason, message, verified, stored)
}

/// Reasons that blame the manifest's own input, which the ownership row remembers.
pub(super) fn is_bad_input(reason: Reason) -> bool {
    matches!(reason, Reason::InvalidSpec | Reason::SecretNotFound)
}

/// Nothing is stored unless verified; an existing row is kept exactly as it is.
fn not_verified(step: &Step, v: Verification) -> Described {
    let stored = if step.stored().is_some() {
        NewCondition::new(
            Stored,
            True,
            Reason::UpToDate,
            "the stored row is kept as it was, since verification failed",
        )
    } else {
        NewCondition::new(
            Stored,
            False,
            Reason::NotStored,
            "nothing was stored, since verification failed",
        )
    };
    Described {
        verified_now: !v.reason.is_transient(),
        verification: Some(v.clone()),
        ..with(
            ItemResult::Failed,
            v.reason,
            v.message.clone(),
            verified_condition(&v),
            stored,
        )
    }
}

fn written(how: Written, id: i64, v: Verification, store: StoreInfo, active: bool) -> Described {
    let (result, reason, done) = match how {
        Written::Created => (ItemResult::Created, Reason::Created, "created the row"),
        Written::Updated => (ItemResult::Updated, Reason::Updated, "updated the row"),
        Written::Adopted { as_stored: true } => (
            ItemResult::Adopted,
            Reason::Adopted,
            "adopted the row as it was, changing no byte of it",
        ),
        Written::Adopted { as_stored: false } => (
            ItemResult::Adopted,
            Reason::Adopted,
            "adopted the row and rewrote it as the manifest asks",
        ),
    };
    // Adopting is an update of the row, as far as Stored is concerned.
    let stored_reason = if reason == Reason::Adopted {
        Reason::Updated
    } else {
        reason
    };
    let stored = NewCondition::new(
        Stored,
        True,
        stored_reason,
        format!("row {id} {}", reason.as_str().to_lowercase()),
    );
    let facts = Facts {
        credential_id: Some(id),
        store_info: Some(store),
        active: Some(active),
    };
    Described {
        result,
        reason,
        message: format!("{}; {done}", v.message),
        conditions: Some((verified_condition(&v), stored, facts)),
        verification: Some(v),
        verified_now: true,
    }
}

fn reverified(v: Verification, effect: Effect) -> Described {
    let message = &v.message;
    let (result, reason, line, note) = match effect {
        Effect::None => (passed(&v), v.reason, message.clone(), ""),
        Effect::Deactivated => (
            // A revoked token is a failure whatever `--on-revoked` does to the row.
            passed(&v),
            Reason::Deactivated,
            format!(
                "token revoked, the row was marked inactive (--on-revoked deactivate): {message}"
            ),
            "; the row was marked inactive (--on-revoked deactivate)",
        ),
        Effect::StaysInactive => (
            passed(&v),
            v.reason,
            format!("token revoked, the row stays inactive (--on-revoked deactivate): {message}"),
            "; the row stays inactive (--on-revoked deactivate)",
        ),
        Effect::Reactivated => (
            ItemResult::Updated,
            Reason::Updated,
            format!("{message}; the row was marked active again"),
            ", and marked active again: the token is accepted again",
        ),
    };
    let wrote = matches!(effect, Effect::Deactivated | Effect::Reactivated);
    let stored = NewCondition::new(
        Stored,
        True,
        if wrote {
            Reason::Updated
        } else {
            Reason::UpToDate
        },
        format!("the stored row is kept{note}"),
    );
    let facts = Facts {
        credential_id: None,
        store_info: v.store.as_ref().map(|s| s.info.clone()),
        active: match effect {
            Effect::Deactivated => Some(false),
            Effect::Reactivated => Some(true),
            Effect::None | Effect::StaysInactive => None,
        },
    };
    Described {
        result,
        reason,
        message: line,
        conditions: Some((verified_condition(&v), stored, facts)),
        verified_now: !v.reason.is_transient(),
        verification: Some(v),
    }
}

fn store_failed(step: &Step, e: &StoreError, verification: Option<Verification>) -> Described {
    let reason = match e {
        StoreError::LabelConflict { .. } => Reason::LabelConflict,
        StoreError::NotOwned { .. } => Reason::NotOwned,
        _ => Reason::StoreError,
    };
    let message = e.to_string();
    let verified = verification
        .as_ref()
        .map_or_else(|| remembered(step.ownership()), verified_condition);
    Described {
        verified_now: verification.is_some(),
        verification,
        ..with(
            ItemResult::Failed,
            reason,
            message.clone(),
            verified,
            NewCondition::new(Stored, False, reason, message),
        )
    }
}

/// When the status book should say the credential was last verified: now, or what the
/// ownership row remembers.
pub(super) fn last_verified(
    change: &StatusChange,
    now: DateTime<Utc>,
    current: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    if change.verified_at {
        Some(now)
    } else {
        current.or(change.last_verified_before)
    }
}

/// The condition Verified takes from what the ownership row remembers.
pub(super) fn remembered(own: Option<&Ownership>) -> NewCondition {
    let Some((own, last)) = own.and_then(|o| o.last_result.map(|r| (o, r))) else {
        return NewCondition::new(Verified, Unknown, Reason::Pending, "not verified yet");
    };
    let message = own.last_message.clone();
    if last == Reason::Verified {
        return NewCondition::new(
            Verified,
            True,
            last,
            message.unwrap_or_else(|| "verified".into()),
        );
    }
    NewCondition::new(
        Verified,
        last.verified_status(),
        last,
        message.unwrap_or_default(),
    )
}
