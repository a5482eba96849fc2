//! Leader election through a coordination.k8s.io Lease, so that only one replica writes to the
//! store and to status.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use kube::Client;
use serde_json::json;

/// Which lease, held by whom, for how long.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Lease name.
    pub name: String,
    /// Lease namespace (the controller's own).
    pub namespace: String,
    /// This replica's identity (its pod name).
    pub identity: String,
    /// How long a lease lasts without renewal.
    pub duration: Duration,
    /// How often the holder renews, and others retry.
    pub retry: Duration,
}

/// What one attempt found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// We hold the lease now.
    Leader,
    /// Someone else holds a live lease.
    Follower(String),
}

fn micro(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn lease_json(
    cfg: &LeaseConfig,
    acquired: DateTime<Utc>,
    now: DateTime<Utc>,
    transitions: i32,
    rv: Option<&str>,
) -> serde_json::Value {
    let mut metadata = json!({"name": cfg.name, "namespace": cfg.namespace});
    if let Some(rv) = rv {
        metadata["resourceVersion"] = json!(rv);
    }
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": cfg.identity,
            "leaseDurationSeconds": cfg.duration.as_secs().max(1),
            "acquireTime": micro(acquired),
            "renewTime": micro(now),
            "leaseTransitions": transitions,
        }
    })
}

fn to_chrono(
    t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime,
) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
}

/// Whether a lease held by someone else has lapsed at `now`.
pub fn expired(lease: &Lease, now: DateTime<Utc>) -> bool {
    let Some(spec) = &lease.spec else { return true };
    if spec.holder_identity.as_deref().unwrap_or("").is_empty() {
        return true;
    }
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    match spec.renew_time.as_ref().and_then(to_chrono) {
        Some(renewed) => renewed + chrono::Duration::seconds(duration) < now,
        None => true,
    }
}

/// One acquire-or-renew step; a 409 means another replica won the race.
pub async fn try_acquire(client: &Client, cfg: &LeaseConfig) -> Result<Attempt, kube::Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let now = Utc::now();
    let current = api.get_opt(&cfg.name).await?;
    let result = match &current {
        None => {
            let lease: Lease = serde_json::from_value(lease_json(cfg, now, now, 0, None))
                .map_err(kube::Error::SerdeError)?;
            api.create(&PostParams::default(), &lease).await.map(|_| ())
        }
        Some(lease) => {
            let spec = lease.spec.clone().unwrap_or_default();
            let holder = spec.holder_identity.clone().unwrap_or_default();
            let rv = lease.metadata.resource_version.clone();
            if holder == cfg.identity {
                let acquired = spec
                    .acquire_time
                    .as_ref()
                    .and_then(to_chrono)
                    .unwrap_or(now);
                let renewed: Lease = serde_json::from_value(lease_json(
                    cfg,
                    acquired,
                    now,
                    spec.lease_transitions.unwrap_or(0),
                    rv.as_deref(),
                ))
                .map_err(kube::Error::SerdeError)?;
                api.replace(&cfg.name, &PostParams::default(), &renewed)
                    .await
                    .map(|_| ())
            } else if expired(lease, now) {
                let taken: Lease = serde_json::from_value(lease_json(
                    cfg,
                    now,
                    now,
                    spec.lease_transitions.unwrap_or(0) + 1,
                    rv.as_deref(),
                ))
                .map_err(kube::Error::SerdeError)?;
                api.replace(&cfg.name, &PostParams::default(), &taken)
                    .await
                    .map(|_| ())
            } else {
                return Ok(Attempt::Follower(holder));
            }
        }
    };
    match result {
        Ok(()) => Ok(Attempt::Leader),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            Ok(Attempt::Follower("another replica".into()))
        }
        Err(e) => Err(e),
    }
}

/// Waits until this replica holds the lease.
pub async fn acquire(client: &Client, cfg: &LeaseConfig) {
    loop {
        match try_acquire(client, cfg).await {
            Ok(Attempt::Leader) => {
                tracing::info!(lease = %cfg.name, identity = %cfg.identity, "became leader");
                return;
            }
            Ok(Attempt::Follower(holder)) => tracing::debug!(%holder, "waiting for the lease"),
            Err(e) => tracing::warn!("cannot read the lease: {e}"),
        }
        tokio::time::sleep(cfg.retry).await;
    }
}

/// Renews the lease until it is lost (returns then), so the caller stops writing.
pub async fn hold(client: &Client, cfg: &LeaseConfig) {
    let mut last_renewal = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(cfg.retry).await;
        match try_acquire(client, cfg).await {
            Ok(Attempt::Leader) => last_renewal = tokio::time::Instant::now(),
            Ok(Attempt::Follower(holder)) => {
                tracing::warn!(%holder, "lost the lease");
                return;
            }
            // An API hiccup is tolerated until the lease would have lapsed anyway.
            Err(e) if last_renewal.elapsed() < cfg.duration => {
                tracing::warn!("cannot renew the lease: {e}")
            }
            Err(e) => {
                tracing::error!("cannot renew the lease in time: {e}");
                return;
            }
        }
    }
}

/// Gives the lease up at shutdown, so another replica takes over at once.
pub async fn release(client: &Client, cfg: &LeaseConfig) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let Ok(Some(lease)) = api.get_opt(&cfg.name).await else {
        return;
    };
    let spec = lease.spec.clone().unwrap_or_default();
    if spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
        return;
    }
    let mut released = lease;
    if let Some(spec) = released.spec.as_mut() {
        spec.holder_identity = None;
    }
    if let Err(e) = api
        .replace(&cfg.name, &PostParams::default(), &released)
        .await
    {
        tracing::warn!("cannot release the lease: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed: DateTime<Utc>, secs: i32) -> Lease {
        let cfg = LeaseConfig {
            name: "l".into(),
            namespace: "ns".into(),
            identity: holder.into(),
            duration: Duration::from_secs(secs as u64),
            retry: Duration::from_secs(1),
        };
        serde_json::from_value(lease_json(&cfg, renewed, renewed, 0, Some("1"))).expect("lease")
    }

    #[test]
    fn a_lease_expires_after_its_duration_without_renewal() {
        let t = Utc::now();
        let l = lease("a", t, 15);
        assert!(!expired(&l, t + chrono::Duration::seconds(10)));
        assert!(expired(&l, t + chrono::Duration::seconds(16)));
        let mut empty = l.clone();
        if let Some(s) = empty.spec.as_mut() {
            s.holder_identity = None;
        }
        assert!(expired(&empty, t));
    }
}
