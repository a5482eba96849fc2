//! Converting the reconciler's conditions into the resource's status subresource.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::model::{BigCommerceCredentialStatus, ConditionStatus, ConditionType, Reason};
use crate::reconcile::CredentialStatus;

/// A chrono time as Kubernetes' `Time`, which has second precision: a status read back must
/// compare equal to the one written, or every reconcile would write it again.
pub fn k8s_time(t: DateTime<Utc>) -> Time {
    // A chrono UTC time is always within jiff's range; the epoch is a harmless fallback.
    Time(Timestamp::from_second(t.timestamp()).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// The status subresource for one credential; never holds a secret.
pub fn to_k8s(status: &CredentialStatus, capabilities: Vec<String>) -> BigCommerceCredentialStatus {
    BigCommerceCredentialStatus {
        observed_generation: status.observed_generation,
        conditions: status
            .conditions
            .iter()
            .map(|c| Condition {
                type_: c.type_.as_str().to_string(),
                status: c.status.as_str().to_string(),
                reason: c.reason.as_str().to_string(),
                message: c.message.chars().take(32_768).collect(),
                observed_generation: c.observed_generation,
                last_transition_time: k8s_time(c.last_transition_time),
            })
            .collect(),
        credential_status: status.credential_status.clone(),
        store: status.store.clone(),
        capabilities,
        credential_id: status.credential_id,
        last_verified_time: status.last_verified_time.map(k8s_time),
    }
}

/// The status and reason of the `Ready` condition, if set.
pub fn ready(status: &CredentialStatus) -> Option<(ConditionStatus, Reason)> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == ConditionType::Ready)
        .map(|c| (c.status, c.reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Condition as Cond;
    use chrono::TimeZone;

    #[test]
    fn conditions_and_times_carry_over() {
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 5).unwrap();
        let status = CredentialStatus {
            namespace: "shop".into(),
            name: "prod".into(),
            label: Some("Prod".into()),
            conditions: vec![Cond {
                type_: ConditionType::Ready,
                status: ConditionStatus::True,
                reason: Reason::Ready,
                message: "ok".into(),
                observed_generation: Some(3),
                last_transition_time: t,
            }],
            credential_status: Some("Active".into()),
            store: None,
            credential_id: Some(7),
            last_verified_time: Some(t),
            observed_generation: Some(3),
        };
        let k = to_k8s(&status, vec!["products:read".into()]);
        assert_eq!(k.observed_generation, Some(3));
        assert_eq!(k.conditions[0].type_, "Ready");
        assert_eq!(
            k.conditions[0].last_transition_time.0.as_second(),
            t.timestamp()
        );
        assert_eq!(k.credential_id, Some(7));
        let json = serde_json::to_value(&k).expect("json");
        assert_eq!(
            json["conditions"][0]["lastTransitionTime"],
            "2026-11-26T12:00:05Z"
        );
        assert_eq!(k.conditions[0].status, ConditionStatus::True.as_str());
        assert_eq!(ready(&status), Some((ConditionStatus::True, Reason::Ready)));
    }
}
