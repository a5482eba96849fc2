//! Running planned steps: verify with bounded concurrency, write only what verified, and say
//! what each step did. A verify-only pass (`bccreds verify`) runs the same steps without a store.

use chrono::Utc;
use futures_util::stream::{self, StreamExt};

use super::conditions::NewCondition;
use super::plan::{drift, Action, Step};
use super::verification::{
    ownership, record_attempt, remembered, token_for, verified_condition, verify_with_bigcommerce,
    Verification,
};
use super::OnRevoked;
use crate::model::{ConditionStatus, ConditionType, Reason, StoreInfo};
use crate::store::{CredentialData, Ownership, SecretUpdate, Store, StoreError};
use crate::verify::{Outcome, Verifier};

use ConditionStatus::{False, True, Unknown};
use ConditionType::{Stored, Verified};

/// What runs steps: a verifier, and the store to write to (none in a verify-only pass).
pub(super) struct Executor<'a, V> {
    pub verifier: &'a V,
    /// `None`: verify only, write nothing.
    pub store: Option<&'a Store>,
    pub owner: &'a str,
    pub on_revoked: OnRevoked,
    pub concurrency: usize,
    /// Whether a transient failure will be retried (the daemons), which messages then say.
    pub retried: bool,
}

/// Which summary bucket a result falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Bucket {
    Created,
    Updated,
    /// A row nobody managed, taken over.
    Adopted,
    Deleted,
    /// Released: the row is kept, no longer managed (deletion policy Orphan).
    Orphaned,
    Unchanged,
    Failed,
}

/// What happened to one step.
pub(super) struct Done {
    pub step: Step,
    pub bucket: Bucket,
    pub reason: Reason,
    pub message: String,
    pub verified: Option<NewCondition>,
    pub stored: Option<NewCondition>,
    /// The store as verified, the row id and active flag, for status.
    pub store_info: Option<StoreInfo>,
    pub credential_id: Option<i64>,
    pub active: Option<bool>,
    pub verified_now: bool,
    /// The manifest is gone: forget its status.
    pub forget: bool,
    /// What BigCommerce said, when it was asked in this step.
    pub verification: Option<Verification>,
}

impl Done {
    fn new(step: Step, bucket: Bucket, reason: Reason, message: String) -> Done {
        Done {
            credential_id: step.id,
            active: step.stored.as_ref().map(|s| s.data.active),
            store_info: step.stored.as_ref().and_then(|s| s.data.store_info.clone()),
            step,
            bucket,
            reason,
            message,
            verified: None,
            stored: None,
            verified_now: false,
            forget: false,
            verification: None,
        }
    }

    fn conditions(mut self, verified: NewCondition, stored: NewCondition) -> Done {
        self.verified = Some(verified);
        self.stored = Some(stored);
        self
    }
}

/// Runs `steps`, at most `concurrency` at once; results come back ordered by key.
pub(super) async fn run<V: Verifier>(exec: &Executor<'_, V>, steps: Vec<Step>) -> Vec<Done> {
    let mut done: Vec<Done> = stream::iter(steps.into_iter().map(|s| run_step(exec, s)))
        .buffer_unordered(exec.concurrency.max(1))
        .collect()
        .await;
    done.sort_by(|a, b| a.step.key.cmp(&b.step.key));
    done
}

async fn run_step<V: Verifier>(exec: &Executor<'_, V>, step: Step) -> Done {
    match step.action {
        Action::Create | Action::Update | Action::Adopt => write(exec, step).await,
        Action::Reverify => reverify(exec, step).await,
        Action::Delete | Action::Orphan => remove(exec, step).await,
        Action::Unchanged => unchanged(step),
        Action::Skip => skip(exec, step).await,
    }
}

/// An unchanged credential is not verified again before the re-verify interval; but one whose
/// last verdict was a failure (a revoked token whose row `--on-revoked deactivate` marked
/// inactive) stays a failure until BigCommerce accepts the token again.
fn unchanged(step: Step) -> Done {
    let verified = remembered(step.ownership.as_ref());
    if verified.status != False {
        let message = step.message.clone();
        return Done::new(step, Bucket::Unchanged, Reason::UpToDate, message).conditions(
            verified,
            NewCondition::new(
                Stored,
                True,
                Reason::UpToDate,
                "the stored row matches the manifest",
            ),
        );
    }
    let inactive = step.stored.as_ref().is_some_and(|s| !s.data.active)
        && step.desired.as_ref().is_some_and(|d| d.data.active);
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
    Done::new(step, Bucket::Failed, verified.reason, message).conditions(verified, stored)
}

async fn remove<V: Verifier>(exec: &Executor<'_, V>, step: Step) -> Done {
    let Some(store) = exec.store else {
        return nothing_written(step);
    };
    let id = step.id.unwrap_or_default();
    let result = if step.action == Action::Delete {
        store.delete(exec.owner, id).await
    } else {
        store.release(exec.owner, id).await
    };
    match result {
        Ok(()) => {
            let (reason, message) = (step.reason, step.message.clone());
            let bucket = if step.action == Action::Delete {
                Bucket::Deleted
            } else {
                Bucket::Orphaned
            };
            let mut d = Done::new(step, bucket, reason, message);
            d.forget = true;
            d
        }
        Err(e) => store_failure(step, &e),
    }
}

async fn skip<V: Verifier>(exec: &Executor<'_, V>, step: Step) -> Done {
    if exec.store.is_none() && keeps_stored_token(&step) {
        // `bccreds verify` has no store: a manifest that keeps the stored token has nothing to
        // verify with, which is no failure of the manifest.
        return Done::new(
            step,
            Bucket::Unchanged,
            Reason::NotVerified,
            "the manifest keeps the stored access token (no accessToken, or `**********`), and verify reads no store: nothing to verify it with; `bccreds apply` verifies it with the stored token".into(),
        );
    }
    let bucket = if step.failed {
        Bucket::Failed
    } else {
        Bucket::Unchanged
    };
    let (reason, message) = (step.reason, step.message.clone());
    if matches!(reason, Reason::IncompleteScan | Reason::EmptySetGuard) {
        // A manifest that is gone but kept by a guard keeps its last status.
        return Done::new(step, bucket, reason, message);
    }
    let kept =
        step.id.is_some() && step.ownership.is_some() && reason != Reason::StoredRowUnreadable;
    let bad_input = matches!(reason, Reason::InvalidSpec | Reason::SecretNotFound);
    if bad_input && kept {
        remember_bad_input(exec, &step).await;
    }
    // Invalid input carries its own reason on every condition, so that Ready names it too.
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
    Done::new(step, bucket, reason, message).conditions(verified, stored)
}

/// A step skipped only because the manifest gives no access token, keeping the stored one.
fn keeps_stored_token(step: &Step) -> bool {
    step.action == Action::Skip
        && step.reason == Reason::SecretNotFound
        && step
            .desired
            .as_ref()
            .is_some_and(|d| matches!(d.data.access_token, SecretUpdate::Keep))
}

/// Records on the ownership row that the manifest of a stored credential is unusable, so that
/// `list` does not show the row Ready while its manifest is broken; the verification time is
/// left alone, since nothing was verified.
async fn remember_bad_input<V: Verifier>(exec: &Executor<'_, V>, step: &Step) {
    let (Some(store), Some(own), Some(id)) = (exec.store, step.ownership.as_ref(), step.id) else {
        return;
    };
    if own.last_result.as_deref() == Some(step.reason.as_str()) {
        return;
    }
    if let Err(e) = store
        .record_result(exec.owner, id, step.reason.as_str(), &step.message)
        .await
    {
        tracing::warn!(credential = %step.key, "cannot record the result: {e}");
    }
}

fn store_failure(step: Step, e: &StoreError) -> Done {
    let reason = match e {
        StoreError::LabelConflict { .. } => Reason::LabelConflict,
        StoreError::NotOwned { .. } => Reason::NotOwned,
        _ => Reason::StoreError,
    };
    let message = e.to_string();
    let verified = remembered(step.ownership.as_ref());
    Done::new(step, Bucket::Failed, reason, message.clone())
        .conditions(verified, NewCondition::new(Stored, False, reason, message))
}

fn internal(step: Step, message: &str) -> Done {
    Done::new(step, Bucket::Failed, Reason::Internal, message.into())
}

/// A write step reached in a verify-only pass: planning without stored rows never plans one.
fn nothing_written(step: Step) -> Done {
    internal(step, "a verify-only pass writes nothing")
}

async fn write<V: Verifier>(exec: &Executor<'_, V>, step: Step) -> Done {
    let Some(desired) = step.desired.clone() else {
        return internal(step, "no desired state");
    };
    // An adoption compares the manifest with the row as it is now, and verifies the row's own
    // token when the manifest keeps it.
    let adopted = match (step.action, step.id, exec.store) {
        (Action::Adopt, Some(id), Some(store)) => match store.get(id).await {
            Ok(Some(row)) => Some(row),
            Ok(None) => return store_failure(step, &StoreError::NotFound(id)),
            Err(e) => return store_failure(step, &e),
        },
        _ => None,
    };
    let token = match token_for(&step, &desired, adopted.as_ref()) {
        Ok(t) => t,
        Err(message) => {
            return Done::new(
                step,
                Bucket::Failed,
                Reason::SecretNotFound,
                message.clone(),
            )
            .conditions(
                NewCondition::new(Verified, False, Reason::SecretNotFound, &message),
                NewCondition::new(Stored, False, Reason::SecretNotFound, &message),
            )
        }
    };
    let (outcome, verification) =
        verify_with_bigcommerce(exec.verifier, &desired, token, exec.retried).await;
    let verified = verified_condition(&verification);
    let message = verification.message.clone();
    let Some(store) = exec.store else {
        // Verify only: the verdict is the result.
        let bucket = if outcome.is_verified() {
            Bucket::Unchanged
        } else {
            Bucket::Failed
        };
        let mut d = Done::new(step, bucket, verification.reason, message);
        d.verification = Some(verification);
        return d;
    };
    let now = Utc::now();
    let Outcome::Verified(verified_store) = &outcome else {
        // Nothing is stored unless verified; an existing row is kept exactly as it is.
        if let Some(id) = step
            .id
            .filter(|_| step.ownership.is_some() && step.stored.is_some())
        {
            if let Err(e) = record_attempt(exec.owner, store, id, &verification, now).await {
                tracing::warn!(credential = %desired.key, "cannot record the verification: {e}");
            }
        }
        let stored = if step.stored.is_some() {
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
        let mut d = Done::new(step, Bucket::Failed, verification.reason, message)
            .conditions(verified, stored);
        d.verified_now = !verification.reason.is_transient();
        d.verification = Some(verification);
        return d;
    };
    let mut data: CredentialData = desired.data.clone();
    data.store_info = Some(verified_store.info.clone());
    let id = step.id.unwrap_or_default();
    let own = ownership(
        store.fingerprints(),
        exec.owner,
        id,
        &desired,
        &verification,
        now,
    );
    let (result, bucket, reason, done) = match step.action {
        Action::Create => (
            store.create(&data, &own).await,
            Bucket::Created,
            Reason::Created,
            "created the row",
        ),
        Action::Adopt => {
            // A manifest asking for exactly what is stored (as `bccreds export` writes) adopts
            // the row without writing to it: not even updated_at or storeInfo change.
            let as_stored = adopted
                .as_ref()
                .is_some_and(|row| drift(&row.data, &desired).is_empty());
            let (result, done) = if as_stored {
                let claimed = store.claim(id, &data.label, &own).await;
                (claimed, "adopted the row as it was, changing no byte of it")
            } else {
                let rewritten = store.adopt(id, &data, &own).await;
                (
                    rewritten,
                    "adopted the row and rewrote it as the manifest asks",
                )
            };
            (result.map(|()| id), Bucket::Adopted, Reason::Adopted, done)
        }
        _ if step.reason == Reason::StoredRowUnreadable => (
            store.repair(id, &data, &own).await.map(|()| id),
            Bucket::Updated,
            Reason::Updated,
            "updated the row",
        ),
        _ => (
            store.update(id, &data, &own).await.map(|()| id),
            Bucket::Updated,
            Reason::Updated,
            "updated the row",
        ),
    };
    let mut d = match result {
        Ok(id) => {
            let mut d = Done::new(step, bucket, reason, format!("{message}; {done}")).conditions(
                verified,
                NewCondition::new(
                    Stored,
                    True,
                    // Adopting is an update of the row, as far as Stored is concerned.
                    if reason == Reason::Adopted {
                        Reason::Updated
                    } else {
                        reason
                    },
                    format!("row {id} {}", reason.as_str().to_lowercase()),
                ),
            );
            d.credential_id = Some(id);
            d.store_info = Some(verified_store.info.clone());
            d.active = Some(data.active);
            d
        }
        Err(e) => {
            let mut d = store_failure(step, &e);
            d.verified = Some(verified);
            d
        }
    };
    d.verified_now = true;
    d.verification = Some(verification);
    d
}

async fn reverify<V: Verifier>(exec: &Executor<'_, V>, step: Step) -> Done {
    let Some(store) = exec.store else {
        return nothing_written(step);
    };
    let (Some(desired), Some(stored), Some(id)) =
        (step.desired.clone(), step.stored.clone(), step.id)
    else {
        return internal(step, "nothing to re-verify");
    };
    let (outcome, verification) = verify_with_bigcommerce(
        exec.verifier,
        &desired,
        stored.data.access_token.clone(),
        exec.retried,
    )
    .await;
    let message = verification.message.clone();
    let now = Utc::now();
    if let Err(e) = record_attempt(exec.owner, store, id, &verification, now).await {
        return store_failure(step, &e);
    }
    let mut active = stored.data.active;
    let mut bucket = if outcome.is_verified() {
        Bucket::Unchanged
    } else {
        Bucket::Failed
    };
    let mut reason = verification.reason;
    let mut line = message.clone();
    let mut note = String::new();
    let mut wrote = false;
    // A row `--on-revoked deactivate` marked inactive: inactive against an active manifest,
    // after a revocation (the planner re-verifies it instead of restoring it as drift).
    let deactivated_by_us = desired.data.active
        && !stored.data.active
        && step
            .ownership
            .as_ref()
            .and_then(Ownership::last_reason)
            .is_some_and(Reason::is_revocation);
    if verification.reason.is_revocation()
        && exec.on_revoked == OnRevoked::Deactivate
        && stored.data.active
    {
        let mut data = desired.data.clone();
        data.active = false;
        data.client_secret = SecretUpdate::Keep;
        data.access_token = SecretUpdate::Keep;
        let own = ownership(
            store.fingerprints(),
            exec.owner,
            id,
            &desired,
            &verification,
            now,
        );
        match store.update(id, &data, &own).await {
            Ok(()) => {
                // A revoked token is a failure whatever `--on-revoked` does to the row.
                active = false;
                wrote = true;
                reason = Reason::Deactivated;
                note = "; the row was marked inactive (--on-revoked deactivate)".into();
                line = format!(
                    "token revoked, the row was marked inactive (--on-revoked deactivate): {message}"
                );
            }
            Err(e) => return store_failure(step, &e),
        }
    } else if verification.reason.is_revocation() && deactivated_by_us {
        note = "; the row stays inactive (--on-revoked deactivate)".into();
        line =
            format!("token revoked, the row stays inactive (--on-revoked deactivate): {message}");
    } else if outcome.is_verified() && deactivated_by_us {
        // The token works again: the row becomes what the manifest says, active.
        let mut data = desired.data.clone();
        data.client_secret = SecretUpdate::Keep;
        data.access_token = SecretUpdate::Keep;
        if let Some(s) = &verification.store {
            data.store_info = Some(s.info.clone());
        }
        let own = ownership(
            store.fingerprints(),
            exec.owner,
            id,
            &desired,
            &verification,
            now,
        );
        match store.update(id, &data, &own).await {
            Ok(()) => {
                active = true;
                wrote = true;
                bucket = Bucket::Updated;
                reason = Reason::Updated;
                note = ", and marked active again: the token is accepted again".into();
                line = format!("{message}; the row was marked active again");
            }
            Err(e) => return store_failure(step, &e),
        }
    }
    let stored_reason = if wrote {
        Reason::Updated
    } else {
        Reason::UpToDate
    };
    let mut d = Done::new(step, bucket, reason, line).conditions(
        verified_condition(&verification),
        NewCondition::new(
            Stored,
            True,
            stored_reason,
            format!("the stored row is kept{note}"),
        ),
    );
    d.active = Some(active);
    if let Some(s) = &verification.store {
        d.store_info = Some(s.info.clone());
    }
    d.verified_now = !verification.reason.is_transient();
    d.verification = Some(verification);
    d
}
