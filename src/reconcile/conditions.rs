//! Status conditions per credential, with Kubernetes' rule that lastTransitionTime moves only
//! when a condition's status flips.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::desired::SourceKey;
use crate::model::{ConditionStatus, ConditionType, Reason, StoreInfo};

/// One condition (Verified, Stored or Ready).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Verified`, `Stored` or `Ready`.
    #[serde(rename = "type")]
    pub type_: ConditionType,
    /// `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// Why.
    pub reason: Reason,
    /// What happened, for people.
    pub message: String,
    /// The generation this condition describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the status last changed.
    pub last_transition_time: DateTime<Utc>,
}

/// A condition to set; the book fills in the transition time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCondition {
    /// Type.
    pub type_: ConditionType,
    /// Status.
    pub status: ConditionStatus,
    /// Reason.
    pub reason: Reason,
    /// Message.
    pub message: String,
}

impl NewCondition {
    /// A condition of `type_` with this status, reason and message.
    pub fn new(
        type_: ConditionType,
        status: ConditionStatus,
        reason: Reason,
        message: impl Into<String>,
    ) -> NewCondition {
        NewCondition {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// Sets `new` in `conditions`, keeping lastTransitionTime unless the status changes.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    new: NewCondition,
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    let existing = conditions.iter_mut().find(|c| c.type_ == new.type_);
    match existing {
        Some(c) => {
            if c.status != new.status {
                c.last_transition_time = now;
            }
            c.status = new.status;
            c.reason = new.reason;
            c.message = new.message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: new.type_,
            status: new.status,
            reason: new.reason,
            message: new.message,
            observed_generation: generation,
            last_transition_time: now,
        }),
    }
}

/// Ready summarises Verified and Stored: True only when both are.
pub fn ready_condition(conditions: &[Condition]) -> NewCondition {
    use ConditionStatus::{False, True, Unknown};
    let find = |t: ConditionType| conditions.iter().find(|c| c.type_ == t);
    let (verified, stored) = (find(ConditionType::Verified), find(ConditionType::Stored));
    let status_of = |c: Option<&Condition>| c.map_or(Unknown, |c| c.status);
    match (status_of(verified), status_of(stored)) {
        (True, True) => NewCondition::new(
            ConditionType::Ready,
            True,
            Reason::Ready,
            "verified with BigCommerce and stored",
        ),
        (v, s) => {
            // The first condition that is not True explains why.
            let culprit = if v != True { verified } else { stored };
            // An unverified credential is Unknown even if nothing could be stored because of it;
            // once verified, Stored decides.
            let status = match (v, s) {
                (True, False) | (False, _) => False,
                _ => Unknown,
            };
            NewCondition::new(
                ConditionType::Ready,
                status,
                culprit.map_or(Reason::Pending, |c| c.reason),
                culprit.map_or("not reconciled yet".into(), |c| c.message.clone()),
            )
        }
    }
}

/// What `/status` shows for one credential; never a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialStatus {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Conditions.
    pub conditions: Vec<Condition>,
    /// Active or Inactive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_status: Option<String>,
    /// The store, as last verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreInfo>,
    /// Row id in the connector store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<i64>,
    /// Last verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_verified_time: Option<DateTime<Utc>>,
    /// observedGeneration of the whole status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Conditions of every credential seen, kept across passes.
#[derive(Clone, Debug, Default)]
pub struct StatusBook {
    entries: BTreeMap<SourceKey, CredentialStatus>,
}

impl StatusBook {
    /// The status of `key`, created empty on first use.
    pub fn entry(&mut self, key: &SourceKey) -> &mut CredentialStatus {
        self.entries
            .entry(key.clone())
            .or_insert_with(|| CredentialStatus {
                namespace: key.namespace.clone(),
                name: key.name.clone(),
                label: None,
                conditions: Vec::new(),
                credential_status: None,
                store: None,
                credential_id: None,
                last_verified_time: None,
                observed_generation: None,
            })
    }

    /// Sets Verified and Stored and derives Ready.
    pub fn record(
        &mut self,
        key: &SourceKey,
        generation: Option<i64>,
        verified: NewCondition,
        stored: NewCondition,
        now: DateTime<Utc>,
    ) -> &mut CredentialStatus {
        let status = self.entry(key);
        set_condition(&mut status.conditions, verified, generation, now);
        set_condition(&mut status.conditions, stored, generation, now);
        let ready = ready_condition(&status.conditions);
        set_condition(&mut status.conditions, ready, generation, now);
        status.observed_generation = generation;
        status
    }

    /// Takes `status` as the credential's current status unless the book already has one.
    pub fn insert_if_absent(&mut self, status: CredentialStatus) {
        let key = SourceKey {
            namespace: status.namespace.clone(),
            name: status.name.clone(),
        };
        self.entries.entry(key).or_insert(status);
    }

    /// Forgets credentials whose manifests are gone.
    pub fn retain(&mut self, keep: impl Fn(&SourceKey) -> bool) {
        self.entries.retain(|k, _| keep(k));
    }

    /// Forgets one credential.
    pub fn forget(&mut self, key: &SourceKey) {
        self.entries.remove(key);
    }

    /// Every status, ordered by key.
    pub fn all(&self) -> Vec<CredentialStatus> {
        self.entries.values().cloned().collect()
    }

    /// One status.
    pub fn matching(&self, wanted: impl Fn(&CredentialStatus) -> bool) -> Vec<CredentialStatus> {
        self.entries
            .values()
            .filter(|s| wanted(s))
            .cloned()
            .collect()
    }

    /// The status of one credential.
    pub fn get(&self, key: &SourceKey) -> Option<&CredentialStatus> {
        self.entries.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    use ConditionStatus::{False, True, Unknown};
    use ConditionType::{Stored, Verified};

    fn cond(type_: ConditionType, status: ConditionStatus, reason: Reason) -> NewCondition {
        NewCondition::new(type_, status, reason, format!("{reason} message"))
    }

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let t1 = Utc.with_ymd_and_hms(2026, 1, 1, 1, 0, 0).unwrap();
        let t2 = Utc.with_ymd_and_hms(2026, 1, 1, 2, 0, 0).unwrap();
        let mut conds = Vec::new();
        set_condition(
            &mut conds,
            cond(Verified, True, Reason::Verified),
            Some(1),
            t0,
        );
        set_condition(
            &mut conds,
            cond(Verified, True, Reason::Verified),
            Some(2),
            t1,
        );
        assert_eq!(conds[0].last_transition_time, t0);
        assert_eq!(conds[0].observed_generation, Some(2));
        set_condition(
            &mut conds,
            cond(Verified, False, Reason::InvalidToken),
            Some(2),
            t2,
        );
        assert_eq!(conds[0].last_transition_time, t2);
        assert_eq!(conds[0].reason, Reason::InvalidToken);
        assert_eq!(conds.len(), 1);
    }

    #[test]
    fn ready_needs_both_and_explains_the_first_failure() {
        let now = Utc::now();
        let mut book = StatusBook::default();
        let key = SourceKey {
            namespace: "ns".into(),
            name: "a".into(),
        };
        let s = book.record(
            &key,
            None,
            cond(Verified, True, Reason::Verified),
            cond(Stored, True, Reason::Created),
            now,
        );
        assert_eq!(s.conditions[2].status, True);
        let s = book.record(
            &key,
            None,
            cond(Verified, False, Reason::InvalidToken),
            cond(Stored, True, Reason::UpToDate),
            now,
        );
        let ready = s
            .conditions
            .iter()
            .find(|c| c.type_ == ConditionType::Ready)
            .expect("ready");
        assert_eq!((ready.status, ready.reason), (False, Reason::InvalidToken));
        let s = book.record(
            &key,
            None,
            cond(Verified, Unknown, Reason::Unreachable),
            cond(Stored, True, Reason::UpToDate),
            now,
        );
        let ready = s
            .conditions
            .iter()
            .find(|c| c.type_ == ConditionType::Ready)
            .expect("ready");
        assert_eq!((ready.status, ready.reason), (Unknown, Reason::Unreachable));
    }
}
