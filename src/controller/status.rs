//! Converting the reconciler's conditions into the resource's status subresource.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::model::{BigCommerceCredentialStatus, ConditionStatus, ConditionType, Reason};
use crate::reconcile::{Condition as BookCondition, CredentialStatus, SourceKey};

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

/// A Kubernetes `Time` as chrono.
fn from_k8s_time(t: &Time) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.0.as_second(), 0)
}

/// The status an object already carries, as the reconciler's book keeps it, so that a restarted
/// controller keeps transition times and sends no Event for a state it has already reported.
/// Conditions this version cannot read are left out.
pub fn from_k8s(
    key: &SourceKey,
    label: &str,
    status: &BigCommerceCredentialStatus,
) -> CredentialStatus {
    CredentialStatus {
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        label: Some(label.to_string()),
        conditions: status
            .conditions
            .iter()
            .filter_map(|c| {
                Some(BookCondition {
                    type_: ConditionType::parse(&c.type_)?,
                    status: ConditionStatus::parse(&c.status)?,
                    reason: Reason::parse(&c.reason)?,
                    message: c.message.clone(),
                    observed_generation: c.observed_generation,
                    last_transition_time: from_k8s_time(&c.last_transition_time)?,
                })
            })
            .collect(),
        credential_status: status.credential_status.clone(),
        store: status.store.clone(),
        credential_id: status.credential_id,
        last_verified_time: status.last_verified_time.as_ref().and_then(from_k8s_time),
        observed_generation: status.observed_generation,
    }
}

/// What the credential may do, as far as the last verification knows: the verified
/// capabilities, none after a verdict against the token, and the previous ones while
/// BigCommerce gave no verdict.
pub fn capabilities(status: &CredentialStatus, previous: &[String]) -> Vec<String> {
    let verified = status
        .conditions
        .iter()
        .find(|c| c.type_ == ConditionType::Verified)
        .map(|c| c.status);
    match verified {
        Some(ConditionStatus::True) => vec![crate::verify::CAPABILITY_PRODUCTS_READ.to_string()],
        Some(ConditionStatus::False) => Vec::new(),
        _ => previous.to_vec(),
    }
}

/// A merge patch that makes the status exactly `new`: fields `new` leaves out (an empty
/// capability list, a store no longer known) are set to null, or the server would keep them.
pub fn status_patch(
    old: Option<&BigCommerceCredentialStatus>,
    new: &BigCommerceCredentialStatus,
) -> serde_json::Value {
    let mut status = serde_json::to_value(new).unwrap_or_default();
    if let (Some(old), Some(fields)) = (
        old.and_then(|o| serde_json::to_value(o).ok()),
        status.as_object_mut(),
    ) {
        for key in old.as_object().into_iter().flat_map(|o| o.keys()) {
            fields.entry(key.clone()).or_insert(serde_json::Value::Null);
        }
    }
    serde_json::json!({ "status": status })
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
        let key = SourceKey {
            namespace: "shop".into(),
            name: "prod".into(),
        };
        assert_eq!(
            from_k8s(&key, "Prod", &k),
            status,
            "a written status reads back"
        );
    }

    #[test]
    fn a_status_patch_clears_what_the_new_status_leaves_out() {
        let old = BigCommerceCredentialStatus {
            capabilities: vec!["products:read".into()],
            credential_id: Some(3),
            ..Default::default()
        };
        let new = BigCommerceCredentialStatus {
            credential_id: Some(3),
            ..Default::default()
        };
        let patch = status_patch(Some(&old), &new);
        assert_eq!(patch["status"]["capabilities"], serde_json::Value::Null);
        assert!(patch["status"]
            .as_object()
            .expect("object")
            .contains_key("capabilities"));
        assert_eq!(patch["status"]["credentialId"], 3);
        assert_eq!(
            status_patch(None, &new)["status"],
            serde_json::json!({"credentialId": 3})
        );
    }

    #[test]
    fn capabilities_follow_the_verified_condition() {
        let mut status = from_k8s(
            &SourceKey {
                namespace: "a".into(),
                name: "b".into(),
            },
            "B",
            &BigCommerceCredentialStatus::default(),
        );
        let old = vec!["products:read".to_string()];
        assert_eq!(capabilities(&status, &old), old, "nothing known: keep");
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 5).unwrap();
        for (verdict, want) in [
            (ConditionStatus::False, vec![]),
            (ConditionStatus::Unknown, old.clone()),
            (ConditionStatus::True, old.clone()),
        ] {
            status.conditions = vec![Cond {
                type_: ConditionType::Verified,
                status: verdict,
                reason: Reason::InvalidToken,
                message: String::new(),
                observed_generation: None,
                last_transition_time: t,
            }];
            assert_eq!(capabilities(&status, &old), want, "{verdict}");
        }
    }
}
