//! Running planned steps: verify with bounded concurrency, write only what verified, and record
//! conditions.

use chrono::Utc;
use futures_util::stream::{self, StreamExt};

use super::conditions::NewCondition;
use super::plan::{Action, Step, REVOKED};
use super::{ItemReport, OnRevoked, PassReport, Reconciler};
use crate::model::StoreInfo;
use crate::store::{CredentialData, Ownership, SecretUpdate, StoreError};
use crate::verify::{Outcome, Verifier, VerifyRequest};

/// Which summary bucket a result falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bucket {
    Created,
    Updated,
    Deleted,
    Unchanged,
    Failed,
}

/// What happened to one step.
struct Done {
    step: Step,
    bucket: Bucket,
    reason: String,
    message: String,
    verified: Option<NewCondition>,
    stored: Option<NewCondition>,
    /// The store as verified, the row id and active flag, for status.
    store_info: Option<StoreInfo>,
    credential_id: Option<i64>,
    active: Option<bool>,
    verified_now: bool,
    /// The manifest is gone: forget its status.
    forget: bool,
}

fn cond(type_: &'static str, status: &'static str, reason: &str, message: &str) -> NewCondition {
    NewCondition {
        type_,
        status,
        reason: reason.to_string(),
        message: message.to_string(),
    }
}

impl Done {
    fn new(step: Step, bucket: Bucket, reason: &str, message: String) -> Done {
        Done {
            credential_id: step.id,
            active: step.stored.as_ref().map(|s| s.data.active),
            store_info: step.stored.as_ref().and_then(|s| s.data.store_info.clone()),
            step,
            bucket,
            reason: reason.to_string(),
            message,
            verified: None,
            stored: None,
            verified_now: false,
            forget: false,
        }
    }
}

/// Runs `steps` and returns the pass report, updating the status book.
pub(super) async fn run<V: Verifier>(rec: &Reconciler<V>, steps: Vec<Step>) -> PassReport {
    let concurrency = rec.config.concurrency.max(1);
    let mut done: Vec<Done> = stream::iter(steps.into_iter().map(|s| run_step(rec, s)))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    done.sort_by(|a, b| a.step.key.cmp(&b.step.key));
    let now = Utc::now();
    let mut report = PassReport::default();
    let mut book = super::lock(&rec.book);
    for d in &done {
        let s = &d.step;
        report.items.push(ItemReport {
            namespace: s.key.namespace.clone(),
            name: s.key.name.clone(),
            label: s.label.clone(),
            action: s.action.as_str().to_string(),
            reason: d.reason.clone(),
            message: d.message.clone(),
        });
        let sum = &mut report.summary;
        match d.bucket {
            Bucket::Created => sum.created += 1,
            Bucket::Updated => sum.updated += 1,
            Bucket::Deleted => sum.deleted += 1,
            Bucket::Unchanged => sum.unchanged += 1,
            Bucket::Failed => sum.failed += 1,
        }
        if d.forget {
            continue;
        }
        if let (Some(v), Some(st)) = (d.verified.clone(), d.stored.clone()) {
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
    }
    let keep: std::collections::BTreeSet<_> = done
        .iter()
        .filter(|d| !d.forget)
        .map(|d| d.step.key.clone())
        .collect();
    book.retain(|k| keep.contains(k));
    report
}

fn verified_condition(outcome: &Outcome, message: &str) -> NewCondition {
    cond(
        "Verified",
        outcome.status().as_str(),
        outcome.reason(),
        message,
    )
}

/// The condition Verified takes from what the ownership row remembers.
fn remembered(own: Option<&Ownership>) -> NewCondition {
    match own.and_then(|o| {
        o.last_result
            .as_deref()
            .map(|r| (r, o.last_message.clone()))
    }) {
        Some(("Verified", m)) => cond(
            "Verified",
            "True",
            "Verified",
            &m.unwrap_or_else(|| "verified".into()),
        ),
        Some((r @ ("Unreachable" | "RateLimited"), m)) => {
            cond("Verified", "Unknown", r, &m.unwrap_or_default())
        }
        Some((r, m)) => cond("Verified", "False", r, &m.unwrap_or_default()),
        None => cond("Verified", "Unknown", "Pending", "not verified yet"),
    }
}

async fn run_step<V: Verifier>(rec: &Reconciler<V>, step: Step) -> Done {
    let message = step.message.clone();
    match step.action {
        Action::Create | Action::Update | Action::Adopt => write(rec, step).await,
        Action::Reverify => reverify(rec, step).await,
        Action::Delete | Action::Orphan => {
            let id = step.id.unwrap_or_default();
            let result = if step.action == Action::Delete {
                rec.store.delete(&rec.config.owner, id).await
            } else {
                rec.store.release(&rec.config.owner, id).await
            };
            match result {
                Ok(()) => {
                    let mut d = Done::new(step, Bucket::Deleted, "", message);
                    d.reason = if d.step.action == Action::Delete {
                        "Deleted"
                    } else {
                        "Orphaned"
                    }
                    .into();
                    d.forget = true;
                    d
                }
                Err(e) => store_failure(step, &e),
            }
        }
        Action::Unchanged => {
            let verified = remembered(step.ownership.as_ref());
            let mut d = Done::new(step, Bucket::Unchanged, "UpToDate", message);
            d.verified = Some(verified);
            d.stored = Some(cond(
                "Stored",
                "True",
                "UpToDate",
                "the stored row matches the manifest",
            ));
            d
        }
        Action::Skip => {
            let bucket = if step.failed {
                Bucket::Failed
            } else {
                Bucket::Unchanged
            };
            let reason = step.reason;
            let exists = step.id.is_some() && step.ownership.is_some();
            let gone = step.desired.is_none() && !matches!(reason, "Invalid");
            let mut d = Done::new(step, bucket, reason, message.clone());
            if gone {
                // A manifest that is gone but kept by a guard keeps its last status.
                d.forget = false;
                return d;
            }
            let verified_status = if reason == "Invalid" {
                "False"
            } else {
                "Unknown"
            };
            d.verified = Some(cond(
                "Verified",
                verified_status,
                if reason == "Invalid" {
                    "InvalidSpec"
                } else {
                    "NotVerified"
                },
                &message,
            ));
            d.stored = Some(if exists {
                cond(
                    "Stored",
                    "True",
                    "UpToDate",
                    "the stored row is kept as it was",
                )
            } else {
                cond("Stored", "False", reason, &message)
            });
            d
        }
    }
}

fn store_failure(step: Step, e: &StoreError) -> Done {
    let reason = match e {
        StoreError::LabelConflict { .. } => "LabelConflict",
        StoreError::NotOwned { .. } => "NotOwned",
        _ => "StoreError",
    };
    let message = e.to_string();
    let verified = remembered(step.ownership.as_ref());
    let mut d = Done::new(step, Bucket::Failed, reason, message.clone());
    d.verified = Some(verified);
    d.stored = Some(cond("Stored", "False", reason, &message));
    d
}

/// The token to verify with: the manifest's, or the stored one when the manifest keeps it.
async fn token_for<V: Verifier>(
    rec: &Reconciler<V>,
    step: &Step,
) -> Result<crate::secret::SecretValue, String> {
    let Some(desired) = &step.desired else {
        return Err("nothing to verify".into());
    };
    if let SecretUpdate::Set(v) = &desired.data.access_token {
        return Ok(v.clone());
    }
    if let Some(stored) = &step.stored {
        return Ok(stored.data.access_token.clone());
    }
    // Adoption without a token in the manifest: the hand-made row's token is verified and kept.
    match step.id {
        Some(id) => match rec.store.get(id).await {
            Ok(Some(row)) => Ok(row.data.access_token),
            Ok(None) => Err(format!("credential {id} disappeared")),
            Err(e) => Err(e.to_string()),
        },
        None => Err("an accessToken is required to create a credential".into()),
    }
}

/// The ownership record of a row written for `desired` after `outcome`.
fn ownership<V: Verifier>(
    rec: &Reconciler<V>,
    id: i64,
    desired: &super::Desired,
    outcome: &Outcome,
    message: &str,
    now: chrono::DateTime<Utc>,
) -> Ownership {
    Ownership {
        credential_id: id,
        owner_id: rec.config.owner.clone(),
        source_key: desired.key.to_string(),
        spec_sha256: desired.spec_sha256.clone(),
        secret_sha256: desired.secret_sha256.clone(),
        last_verified_at: Some(now),
        last_result: Some(outcome.reason().to_string()),
        last_message: Some(message.to_string()),
        deletion_policy: desired.policy,
    }
}

async fn write<V: Verifier>(rec: &Reconciler<V>, step: Step) -> Done {
    let Some(desired) = step.desired.clone() else {
        return Done::new(step, Bucket::Failed, "Internal", "no desired state".into());
    };
    let token = match token_for(rec, &step).await {
        Ok(t) => t,
        Err(message) => {
            let mut d = Done::new(step, Bucket::Failed, "SecretMissing", message.clone());
            d.verified = Some(cond("Verified", "Unknown", "SecretMissing", &message));
            d.stored = Some(cond("Stored", "False", "SecretMissing", &message));
            return d;
        }
    };
    let key = desired.key.to_string();
    let outcome = rec
        .verifier
        .verify(&VerifyRequest {
            store_hash: desired.store_hash.clone(),
            token,
            locale_mapping: desired.data.locale_mapping.clone(),
            currency_mapping: desired.data.currency_mapping.clone(),
        })
        .await;
    let message = outcome.message(&key, &desired.store_hash);
    let now = Utc::now();
    let Outcome::Verified(store) = &outcome else {
        // Nothing is stored unless verified; an existing row is kept exactly as it is.
        if let Some(id) = step
            .id
            .filter(|_| step.ownership.is_some() && step.stored.is_some())
        {
            if let Err(e) = rec
                .store
                .record_verification(&rec.config.owner, id, outcome.reason(), &message, now)
                .await
            {
                tracing::warn!(credential = %key, "cannot record the verification: {e}");
            }
        }
        let stored = if step.stored.is_some() {
            cond(
                "Stored",
                "True",
                "UpToDate",
                "the stored row is kept as it was, since verification failed",
            )
        } else {
            cond(
                "Stored",
                "False",
                "NotStored",
                "nothing was stored, since verification failed",
            )
        };
        let mut d = Done::new(step, Bucket::Failed, outcome.reason(), message.clone());
        d.verified = Some(verified_condition(&outcome, &message));
        d.stored = Some(stored);
        d.verified_now = true;
        return d;
    };
    let mut data: CredentialData = desired.data.clone();
    data.store_info = Some(store.info.clone());
    let own = ownership(
        rec,
        step.id.unwrap_or_default(),
        &desired,
        &outcome,
        &message,
        now,
    );
    let (result, bucket, reason) = match step.action {
        Action::Create => (
            rec.store.create(&data, &own).await,
            Bucket::Created,
            "Created",
        ),
        Action::Adopt => {
            let id = step.id.unwrap_or_default();
            (
                rec.store.adopt(id, &data, &own).await.map(|()| id),
                Bucket::Updated,
                "Adopted",
            )
        }
        _ => {
            let id = step.id.unwrap_or_default();
            (
                rec.store.update(id, &data, &own).await.map(|()| id),
                Bucket::Updated,
                "Updated",
            )
        }
    };
    match result {
        Ok(id) => {
            let mut d = Done::new(
                step,
                bucket,
                reason,
                format!("{message}; {} the row", reason.to_lowercase()),
            );
            d.verified = Some(verified_condition(&outcome, &message));
            d.stored = Some(cond(
                "Stored",
                "True",
                if reason == "Adopted" {
                    "Updated"
                } else {
                    reason
                },
                &format!("row {id} {}", reason.to_lowercase()),
            ));
            d.credential_id = Some(id);
            d.store_info = Some(store.info.clone());
            d.active = Some(data.active);
            d.verified_now = true;
            d
        }
        Err(e) => {
            let mut d = store_failure(step, &e);
            d.verified = Some(verified_condition(&outcome, &message));
            d.verified_now = true;
            d
        }
    }
}

async fn reverify<V: Verifier>(rec: &Reconciler<V>, step: Step) -> Done {
    let (Some(desired), Some(stored), Some(id)) =
        (step.desired.clone(), step.stored.clone(), step.id)
    else {
        return Done::new(
            step,
            Bucket::Failed,
            "Internal",
            "nothing to re-verify".into(),
        );
    };
    let key = desired.key.to_string();
    let outcome = rec
        .verifier
        .verify(&VerifyRequest {
            store_hash: desired.store_hash.clone(),
            token: stored.data.access_token.clone(),
            locale_mapping: desired.data.locale_mapping.clone(),
            currency_mapping: desired.data.currency_mapping.clone(),
        })
        .await;
    let message = outcome.message(&key, &desired.store_hash);
    let now = Utc::now();
    if let Err(e) = rec
        .store
        .record_verification(&rec.config.owner, id, outcome.reason(), &message, now)
        .await
    {
        return store_failure(step, &e);
    }
    let revoked = REVOKED.contains(&outcome.reason());
    let mut active = stored.data.active;
    let mut bucket = if outcome.is_verified() {
        Bucket::Unchanged
    } else {
        Bucket::Failed
    };
    let mut reason = outcome.reason().to_string();
    let mut note = String::new();
    if revoked && rec.config.on_revoked == OnRevoked::Deactivate && stored.data.active {
        let mut data = desired.data.clone();
        data.active = false;
        data.client_secret = SecretUpdate::Keep;
        data.access_token = SecretUpdate::Keep;
        let own = ownership(rec, id, &desired, &outcome, &message, now);
        match rec.store.update(id, &data, &own).await {
            Ok(()) => {
                active = false;
                bucket = Bucket::Updated;
                reason = "Deactivated".into();
                note = "; the row was marked inactive (--on-revoked deactivate)".into();
            }
            Err(e) => return store_failure(step, &e),
        }
    }
    let mut d = Done::new(step, bucket, &reason, format!("{message}{note}"));
    d.verified = Some(verified_condition(&outcome, &message));
    d.stored = Some(cond(
        "Stored",
        "True",
        if reason == "Deactivated" {
            "Updated"
        } else {
            "UpToDate"
        },
        &format!("the stored row is kept{note}"),
    ));
    d.active = Some(active);
    if let Some(s) = outcome.store() {
        d.store_info = Some(s.info.clone());
    }
    d.verified_now = true;
    d
}
