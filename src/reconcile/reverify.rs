//! Verifying an unchanged credential again, with the token it has stored, and what
//! `--on-revoked deactivate` does to its row.

use chrono::Utc;

use super::desired::Desired;
use super::execute::Executor;
use super::outcome::{Effect, Outcome};
use super::step::Owned;
use super::verification::{ownership, record_attempt, verify_with_bigcommerce, Verification};
use super::OnRevoked;
use crate::model::Reason;
use crate::store::{SecretUpdate, StoreError};
use crate::verify::Verifier;

/// A Reverify step.
pub(super) async fn reverify<V: Verifier>(
    exec: &Executor<'_, V>,
    desired: &Desired,
    owned: &Owned,
) -> Outcome {
    let stored = &owned.row.data;
    let id = owned.ownership.credential_id;
    let (verdict, verification) = verify_with_bigcommerce(
        exec.verifier,
        desired,
        stored.access_token.clone(),
        exec.retried,
    )
    .await;
    if let Err(error) = record_attempt(exec.owner, exec.store, id, &verification, Utc::now()).await
    {
        return failed(error);
    }
    // A row `--on-revoked deactivate` marked inactive: inactive against an active manifest,
    // after a revocation (the planner re-verifies it instead of restoring it as drift).
    let deactivated_by_us = desired.data.active
        && !stored.active
        && owned
            .ownership
            .last_result
            .is_some_and(Reason::is_revocation);
    let revoked = verification.reason.is_revocation();
    let effect = if revoked && exec.on_revoked == OnRevoked::Deactivate && stored.active {
        Effect::Deactivated
    } else if revoked && deactivated_by_us {
        Effect::StaysInactive
    } else if verdict.is_verified() && deactivated_by_us {
        // The token works again: the row becomes what the manifest says, active.
        Effect::Reactivated
    } else {
        Effect::None
    };
    if matches!(effect, Effect::Deactivated | Effect::Reactivated) {
        if let Err(error) = mark(exec, desired, id, &verification, effect).await {
            return failed(error);
        }
    }
    Outcome::Reverified {
        verification,
        effect,
    }
}

/// Marks the row inactive (a revoked token) or active again (a token accepted again), keeping
/// its secrets.
async fn mark<V: Verifier>(
    exec: &Executor<'_, V>,
    desired: &Desired,
    id: i64,
    verification: &Verification,
    effect: Effect,
) -> Result<(), StoreError> {
    let mut data = desired.data.clone();
    data.client_secret = SecretUpdate::Keep;
    data.access_token = SecretUpdate::Keep;
    if effect == Effect::Deactivated {
        data.active = false;
    } else if let Some(s) = &verification.store {
        data.store_info = Some(s.info.clone());
    }
    let own = ownership(
        exec.store.fingerprints(),
        exec.owner,
        id,
        desired,
        verification,
        Utc::now(),
    );
    exec.store.update(id, &data, &own).await
}

fn failed(error: StoreError) -> Outcome {
    Outcome::StoreFailed {
        error,
        verification: None,
    }
}
