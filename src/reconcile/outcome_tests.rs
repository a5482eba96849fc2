//! What `settle` makes of each outcome: the report line's result and reason, and the
//! conditions, tested without a store or BigCommerce.

use super::outcome::{settle, Effect, Outcome, Written};
use super::plan::{verification_steps, Action};
use super::plan_tests::{desired, entry, owned};
use super::report::ItemResult;
use super::step::{Head, Held, Owned, Refusal, Step};
use super::verification::Verification;
use crate::model::{ConditionStatus, Reason, StoreInfo};
use crate::reconcile::Scan;
use crate::store::{SecretUpdate, StoreError};

fn head(reason: Reason, message: &str) -> Head {
    Head {
        key: crate::model::SourceKey::new("shop", "a"),
        label: "A".into(),
        reason,
        message: message.into(),
        generation: Some(3),
    }
}

fn verification(reason: Reason) -> Verification {
    Verification {
        store_hash: "abc".into(),
        status: reason.verified_status(),
        reason,
        message: format!("said {reason}"),
        store: None,
    }
}

fn owned_step(kind: fn(Head, Box<crate::reconcile::Desired>, Owned) -> Step) -> Step {
    let d = desired("a", "A");
    let (ownership, row) = owned(7, &d, 5);
    let owned = Owned {
        ownership,
        row: row.expect("a row"),
    };
    kind(head(Reason::ReverifyDue, "due"), Box::new(d), owned)
}

fn reverify_step() -> Step {
    owned_step(|head, desired, owned| Step::Reverify {
        head,
        desired,
        owned,
    })
}

#[test]
fn a_write_reports_its_result_and_stores_the_row_it_wrote() {
    let step = Step::Create {
        head: head(Reason::New, "new"),
        desired: Box::new(desired("a", "A")),
    };
    let item = settle(
        step,
        Outcome::Written {
            how: Written::Adopted { as_stored: true },
            id: 9,
            verification: verification(Reason::Verified),
            store: StoreInfo::default(),
            active: true,
        },
    );
    assert_eq!(item.result, Some(ItemResult::Adopted));
    assert_eq!(item.reason, Reason::Adopted);
    assert!(
        item.message.ends_with("changing no byte of it"),
        "{}",
        item.message
    );
    let change = item.status.expect("conditions");
    // Adopting is an update of the row, as far as Stored is concerned.
    assert_eq!(change.stored.reason, Reason::Updated);
    assert_eq!(change.stored.message, "row 9 adopted");
    assert_eq!(change.verified.status, ConditionStatus::True);
    assert_eq!((change.credential_id, change.active), (Some(9), Some(true)));
    assert_eq!(change.generation, Some(3));
    assert!(change.verified_at);
}

#[test]
fn a_failed_verification_keeps_an_existing_row_and_stores_nothing_new() {
    let update = owned_step(|head, desired, owned| Step::Update {
        head,
        desired,
        owned,
        drifted: Vec::new(),
    });
    let item = settle(
        update,
        Outcome::NotVerified(verification(Reason::InvalidToken)),
    );
    let change = item.status.expect("conditions");
    assert_eq!(item.result, Some(ItemResult::Failed));
    assert_eq!(
        (change.stored.status, change.stored.reason),
        (ConditionStatus::True, Reason::UpToDate)
    );
    // The row's own facts stand: its id and active flag.
    assert_eq!((change.credential_id, change.active), (Some(7), Some(true)));
    let create = Step::Create {
        head: head(Reason::New, "new"),
        desired: Box::new(desired("a", "A")),
    };
    let item = settle(
        create,
        Outcome::NotVerified(verification(Reason::Unreachable)),
    );
    let change = item.status.expect("conditions");
    assert_eq!(
        (change.stored.status, change.stored.reason),
        (ConditionStatus::False, Reason::NotStored)
    );
    // No verdict was reached, so the verification time does not move.
    assert!(!change.verified_at);
}

#[test]
fn a_reverification_names_what_it_did_to_the_row() {
    let cases = [
        (
            Reason::Verified,
            Effect::None,
            ItemResult::Unchanged,
            Reason::Verified,
            Reason::UpToDate,
            None,
        ),
        (
            Reason::InvalidToken,
            Effect::Deactivated,
            ItemResult::Failed,
            Reason::Deactivated,
            Reason::Updated,
            Some(false),
        ),
        (
            Reason::InvalidToken,
            Effect::StaysInactive,
            ItemResult::Failed,
            Reason::InvalidToken,
            Reason::UpToDate,
            None,
        ),
        (
            Reason::Verified,
            Effect::Reactivated,
            ItemResult::Updated,
            Reason::Updated,
            Reason::Updated,
            Some(true),
        ),
    ];
    for (said, effect, result, reason, stored, active) in cases {
        let item = settle(
            reverify_step(),
            Outcome::Reverified {
                verification: verification(said),
                effect,
            },
        );
        assert_eq!(
            (item.result, item.reason),
            (Some(result), reason),
            "{effect:?}"
        );
        let change = item.status.expect("conditions");
        assert_eq!(change.stored.reason, stored, "{effect:?}");
        // Where the effect says nothing of the row, the row's own flag stands.
        assert_eq!(change.active, active.or(Some(true)), "{effect:?}");
    }
}

#[test]
fn a_refusal_blames_the_manifest_and_keeps_the_row_it_manages() {
    let d = desired("a", "A");
    let (ownership, row) = owned(7, &d, 5);
    let invalid = Step::Fail {
        head: head(Reason::InvalidSpec, "bad apiUrl"),
        refusal: Refusal::Invalid {
            held: Some(Box::new(Held { ownership, row })),
        },
    };
    let change = settle(invalid, Outcome::Refused)
        .status
        .expect("conditions");
    assert_eq!(
        (change.verified.status, change.verified.reason),
        (ConditionStatus::False, Reason::InvalidSpec)
    );
    assert_eq!(
        (change.stored.status, change.stored.reason),
        (ConditionStatus::True, Reason::InvalidSpec)
    );
    let conflict = Step::Fail {
        head: head(Reason::LabelConflict, "taken"),
        refusal: Refusal::LabelConflict { row: 4 },
    };
    let change = settle(conflict, Outcome::Refused)
        .status
        .expect("conditions");
    assert_eq!(change.verified.reason, Reason::NotVerified);
    assert_eq!(
        (change.stored.status, change.stored.reason),
        (ConditionStatus::False, Reason::LabelConflict)
    );
}

#[test]
fn a_store_failure_after_a_verification_reports_the_verdict_it_got() {
    let error = StoreError::NotOwned {
        id: 7,
        owner: "me".into(),
    };
    let item = settle(
        reverify_step(),
        Outcome::StoreFailed {
            error,
            verification: Some(verification(Reason::Verified)),
        },
    );
    assert_eq!(
        (item.result, item.reason),
        (Some(ItemResult::Failed), Reason::NotOwned)
    );
    let change = item.status.expect("conditions");
    assert_eq!(change.verified.reason, Reason::Verified);
    assert!(change.verified_at);
}

#[test]
fn a_verify_only_plan_verifies_what_it_can_and_plans_nothing_else() {
    let mut keeps = desired("b", "B");
    keeps.data.access_token = SecretUpdate::Keep;
    let scan = Scan::of_entries(vec![entry(desired("a", "A")), entry(keeps)]);
    let steps = verification_steps(&scan);
    assert!(matches!(steps[0], Step::Verify { .. }));
    assert_eq!(steps[0].action(), Action::Create);
    assert!(matches!(steps[1], Step::NotVerifiable { .. }));
    // No failure of the manifest: verify reads no store to take the kept token from.
    let item = settle(steps[1].clone(), Outcome::NotVerifiable);
    assert_eq!(
        (item.result, item.reason),
        (Some(ItemResult::Unchanged), Reason::NotVerified)
    );
    assert!(item.status.is_none());
}
