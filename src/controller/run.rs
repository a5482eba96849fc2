//! The kube-runtime controllers, their reconcile function and the Secret watch.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{finalizer, Event as Finalize};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{reflector, watcher, Controller, PredicateConfig, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};

use super::backoff::Backoff;
use super::health::ApiHealth;
use super::status::{capabilities, from_k8s, ready, status_patch, to_k8s};
use crate::model::{BigCommerceCredential, ConditionStatus, Reason};
use crate::reconcile::{ItemReport, Reconciler};
use crate::source::kubernetes::{key_of, scan_deleted, scan_object, secret_names};
use crate::store::StoreError;
use crate::verify::BigCommerceClient;

/// The finalizer that makes a deleted object remove its store row first.
pub const FINALIZER: &str = "bigcommerce.unopim.io/cleanup";

/// How the controllers run.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// Hosts an apiUrl may name.
    pub allowed_hosts: Vec<String>,
    /// Requeue of healthy objects.
    pub reverify_interval: Duration,
    /// The Event reporter's instance (pod name).
    pub instance: String,
    /// Longest retry backoff.
    pub max_backoff: Duration,
    /// Watch Secrets, or only get them by name.
    pub secret_access: SecretAccess,
    /// With [`SecretAccess::Get`]: how often a credential's Secrets are read again.
    pub secret_recheck_interval: Duration,
}

/// How the controller reads Secrets, which decides the RBAC it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SecretAccess {
    // List and watch Secret metadata: a rotation is reconciled within seconds.
    Watch,
    // Get referenced Secrets by name only, re-checked on a timer: no list or watch permission.
    Get,
}

/// Why a reconcile failed; the object is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The Kubernetes API refused or failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The finalizer helper failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
}

struct Ctx {
    client: Client,
    rec: Arc<Reconciler<BigCommerceClient>>,
    recorder: Recorder,
    config: ControllerConfig,
    backoff: Mutex<Backoff>,
}

impl Ctx {
    fn backoff(&self) -> std::sync::MutexGuard<'_, Backoff> {
        // Plain data: usable after a panic elsewhere.
        self.backoff.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When a credential is looked at again: without a Secret watch, its Secrets are re-read
    /// at least every recheck interval.
    fn next_look(&self, wait: Duration) -> Duration {
        match self.config.secret_access {
            SecretAccess::Watch => wait,
            SecretAccess::Get => wait.min(self.config.secret_recheck_interval),
        }
    }
}

/// Kubernetes refuses an Event whose note is longer than 1024 bytes (not characters).
const EVENT_NOTE_LIMIT: usize = 1024;

/// The longest prefix of `text` that fits in `max` bytes without splitting a character.
fn within_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

async fn publish(
    ctx: &Ctx,
    obj: &BigCommerceCredential,
    type_: EventType,
    reason: Reason,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.as_str().to_string(),
        note: Some(within_bytes(&note, EVENT_NOTE_LIMIT).to_string()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!("cannot publish an event: {e}");
    }
}

/// Whether a pass changed the stored row.
fn wrote(item: &ItemReport) -> bool {
    matches!(
        item.reason,
        Reason::Created
            | Reason::Updated
            | Reason::Adopted
            | Reason::Deactivated
            | Reason::Deleted
            | Reason::Orphaned
    )
}

/// One log line per credential whose outcome changed (or whose row was written); repeats of the
/// same outcome only at debug, so that a failing credential does not flood the log.
fn log_outcome(item: &ItemReport, changed: bool, ready: bool) {
    let credential = crate::redact::escape_controls(&item.key.to_string()).into_owned();
    if !changed && !wrote(item) {
        tracing::debug!(credential = %credential, action = %item.action, reason = %item.reason, "{}", crate::redact::escape_controls(&item.message));
    } else if ready || matches!(item.reason, Reason::Deleted | Reason::Orphaned) {
        tracing::info!(credential = %credential, action = %item.action, reason = %item.reason, "{}", crate::redact::escape_controls(&item.message));
    } else {
        tracing::warn!(credential = %credential, action = %item.action, reason = %item.reason, "{}", crate::redact::escape_controls(&item.message));
    }
}

/// The Events of one pass: a Normal Event for a write, and one Event when Ready changes (status
/// or reason), named after the new reason; a repeat of the same outcome sends nothing.
async fn announce(
    ctx: &Ctx,
    obj: &BigCommerceCredential,
    item: &ItemReport,
    was: Option<(ConditionStatus, Reason)>,
    now: Option<(ConditionStatus, Reason)>,
) {
    if wrote(item) {
        publish(
            ctx,
            obj,
            EventType::Normal,
            item.reason,
            item.message.clone(),
        )
        .await;
    } else if let Some((status, reason)) = now.filter(|_| was != now) {
        let type_ = if status == ConditionStatus::True {
            EventType::Normal
        } else {
            EventType::Warning
        };
        publish(ctx, obj, type_, reason, item.message.clone()).await;
    }
}

async fn apply(obj: Arc<BigCommerceCredential>, ctx: &Ctx) -> Result<Action, ControllerError> {
    let key = key_of(&obj);
    let scan = scan_object(&ctx.client, &obj, &ctx.config.allowed_hosts).await?;
    let digest = scan
        .entries
        .first()
        .map(crate::reconcile::Entry::digest)
        .unwrap_or_default();
    if let Some(wait) = ctx.backoff().wait(&key, digest, Instant::now()) {
        // The same content failed moments ago: BigCommerce would say the same again.
        tracing::debug!(credential = %key, retry_in = ?wait, "unchanged and backing off");
        return Ok(Action::requeue(ctx.next_look(wait)));
    }
    // This process logs every credential's first outcome once; Events, which outlive the
    // process, continue from the status the object already reports.
    let seen = ctx.rec.status_of(&key).as_ref().and_then(ready);
    if let Some(reported) = &obj.status {
        ctx.rec
            .remember_status(from_k8s(&key, &obj.spec.label, reported));
    }
    let before = ctx.rec.status_of(&key);
    let report = ctx.rec.apply(&scan).await?;
    let after = ctx.rec.status_of(&key);
    if let Some(status) = &after {
        let previous = obj
            .status
            .as_ref()
            .map(|s| s.capabilities.clone())
            .unwrap_or_default();
        let new_status = to_k8s(status, capabilities(status, &previous));
        // Only a status a user would see change is written; equal statuses cost no request.
        if obj.status.as_ref() != Some(&new_status) {
            let api: Api<BigCommerceCredential> =
                Api::namespaced(ctx.client.clone(), &key.namespace);
            api.patch_status(
                &key.name,
                &PatchParams::default(),
                &Patch::Merge(status_patch(obj.status.as_ref(), &new_status)),
            )
            .await?;
        }
    }
    let was = before.as_ref().and_then(ready);
    let now = after.as_ref().and_then(ready);
    let healthy = now.is_some_and(|(s, _)| s == ConditionStatus::True);
    if let Some(item) = report.items.first() {
        log_outcome(item, seen != now, healthy);
        announce(ctx, &obj, item, was, now).await;
    }
    if healthy {
        ctx.backoff().forget(&key);
        return Ok(Action::requeue(ctx.next_look(ctx.config.reverify_interval)));
    }
    // Unreachable, rate limited, a missing Secret or a rejected token: the same content is not
    // tried again before its backoff step is over; a Secret or spec change is tried at once.
    let wait = ctx.backoff().failed(&key, digest, Instant::now());
    Ok(Action::requeue(ctx.next_look(wait)))
}

/// An object being deleted goes through the planner like a deleted manifest in file mode.
async fn cleanup(obj: Arc<BigCommerceCredential>, ctx: &Ctx) -> Result<Action, ControllerError> {
    let report = ctx.rec.apply(&scan_deleted(&obj)).await?;
    for item in &report.items {
        if matches!(item.reason, Reason::Deleted | Reason::Orphaned) {
            log_outcome(item, true, true);
            publish(
                ctx,
                &obj,
                EventType::Normal,
                item.reason,
                item.message.clone(),
            )
            .await;
        } else if report.summary.failed > 0 {
            // The row could not be deleted: keep the finalizer and try again.
            return Err(ControllerError::Finalizer(format!(
                "cannot remove the stored row: {}",
                item.message
            )));
        }
    }
    ctx.backoff().forget(&key_of(&obj));
    Ok(Action::await_change())
}

async fn reconcile(
    obj: Arc<BigCommerceCredential>,
    ctx: Arc<Ctx>,
) -> Result<Action, ControllerError> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<BigCommerceCredential> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalize::Apply(o) => apply(o, &ctx).await,
            Finalize::Cleanup(o) => cleanup(o, &ctx).await,
        }
    })
    .await
    .map_err(|e| ControllerError::Finalizer(e.to_string()))
}

fn error_policy(obj: Arc<BigCommerceCredential>, err: &ControllerError, ctx: Arc<Ctx>) -> Action {
    let key = key_of(&obj);
    // A failed call is retried with the same backoff as a failed verification; it has no
    // content of its own, so it counts under the empty digest.
    let wait = ctx
        .backoff()
        .failed(&key, Default::default(), Instant::now());
    tracing::warn!(credential = %key, retry_in = ?wait, "reconcile failed: {err}");
    Action::requeue(ctx.next_look(wait))
}

/// What a change of a credential object must trigger a reconcile for: its spec (generation),
/// bccreds' annotations, its finalizers and its deletion. Status writes, bccreds' own included,
/// change none of these, so they trigger nothing.
fn reconcile_trigger(obj: &BigCommerceCredential) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let meta = &obj.metadata;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    meta.generation.hash(&mut h);
    meta.deletion_timestamp.is_some().hash(&mut h);
    meta.finalizers.hash(&mut h);
    if let Some(annotations) = &meta.annotations {
        annotations
            .iter()
            .filter(|(k, _)| k.starts_with(crate::model::ANNOTATION_PREFIX))
            .for_each(|a| a.hash(&mut h));
    }
    Some(h.finish())
}

/// Runs one controller per watched namespace (or one for all) until `shutdown` resolves.
pub async fn run_controllers(
    client: Client,
    rec: Arc<Reconciler<BigCommerceClient>>,
    config: ControllerConfig,
    health: Arc<ApiHealth>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let reporter = Reporter {
        controller: "bccreds".into(),
        instance: Some(config.instance.clone()),
    };
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        rec,
        recorder: Recorder::new(client.clone(), reporter),
        config: config.clone(),
        backoff: Mutex::new(Backoff::new(config.max_backoff)),
    });
    let scopes: Vec<Option<String>> = if config.namespaces.is_empty() {
        vec![None]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    };
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    for scope in scopes {
        let (creds, secrets): (Api<BigCommerceCredential>, Api<PartialObjectMeta<Secret>>) =
            match &scope {
                Some(ns) => (
                    Api::namespaced(client.clone(), ns),
                    Api::namespaced(client.clone(), ns),
                ),
                None => (Api::all(client.clone()), Api::all(client.clone())),
            };
        let (cache, writer) = reflector::store();
        let mut listed = health.expect_list();
        let triggers = watcher(creds, watcher::Config::default())
            .inspect(move |item| listed.see(item))
            .default_backoff()
            .reflect(writer)
            .applied_objects()
            .predicate_filter(reconcile_trigger, PredicateConfig::default());
        let mut controller = Controller::for_stream(triggers, cache.clone());
        if config.secret_access == SecretAccess::Watch {
            // Only Secret metadata is watched: values are read on demand, and only when referenced.
            let mut listed = health.expect_list();
            let secret_events = watcher(secrets, watcher::Config::default())
                .inspect(move |item| listed.see(item))
                .default_backoff()
                .touched_objects();
            controller = controller.watches_stream(
                secret_events,
                move |secret: PartialObjectMeta<Secret>| {
                    let name = secret.name_any();
                    let ns = secret.namespace();
                    cache
                        .state()
                        .into_iter()
                        .filter(|c| c.namespace() == ns && secret_names(c).contains(&name))
                        .map(|c| ObjectRef::from_obj(&*c))
                        .collect::<Vec<_>>()
                },
            );
        }
        let mut stop = stop_tx.subscribe();
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            controller
                .graceful_shutdown_on(async move {
                    let _ = stop.recv().await;
                })
                .run(reconcile, error_policy, ctx)
                .for_each(|result| async move {
                    if let Err(e) = result {
                        tracing::debug!("controller: {e}");
                    }
                })
                .await;
        }));
    }
    shutdown.await;
    let _ = stop_tx.send(());
    for task in tasks {
        let _ = task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_notes_are_cut_by_bytes_at_a_character_boundary() {
        assert_eq!(within_bytes("short", 1024), "short");
        let long = "é".repeat(600);
        let cut = within_bytes(&long, EVENT_NOTE_LIMIT);
        assert_eq!(cut.len(), 1024);
        assert_eq!(cut.chars().count(), 512);
        let odd = format!("a{}", "é".repeat(600));
        assert_eq!(within_bytes(&odd, EVENT_NOTE_LIMIT).len(), 1023);
    }

    #[test]
    fn status_writes_trigger_nothing_and_spec_annotation_finalizer_deletion_changes_do() {
        let base: BigCommerceCredential = serde_json::from_value(serde_json::json!({
            "apiVersion": "bigcommerce.unopim.io/v1alpha1", "kind": "BigCommerceCredential",
            "metadata": {"name": "a", "namespace": "shop", "generation": 1, "resourceVersion": "5",
                         "annotations": {"argocd.argoproj.io/tracking-id": "x"}},
            "spec": {"label": "A", "apiUrl": "https://api.bigcommerce.com/stores/abc123/",
                     "accessToken": {"secretKeyRef": {"name": "s", "key": "t"}}}
        }))
        .expect("object");
        let h = reconcile_trigger(&base);
        let mut status_only = base.clone();
        status_only.status = Some(Default::default());
        status_only.metadata.resource_version = Some("6".into());
        let mut foreign = base.clone();
        foreign
            .metadata
            .annotations
            .get_or_insert_default()
            .insert("argocd.argoproj.io/tracking-id".into(), "y".into());
        assert_eq!(reconcile_trigger(&status_only), h);
        assert_eq!(reconcile_trigger(&foreign), h);
        let mut spec = base.clone();
        spec.metadata.generation = Some(2);
        let mut adopt = base.clone();
        adopt
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(crate::model::ADOPT_ANNOTATION.into(), "true".into());
        let mut finalized = base.clone();
        finalized.metadata.finalizers = Some(vec![FINALIZER.into()]);
        let mut deleted = base.clone();
        deleted.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        for (what, obj) in [
            ("spec", spec),
            ("adopt", adopt),
            ("finalizer", finalized),
            ("deletion", deleted),
        ] {
            assert_ne!(reconcile_trigger(&obj), h, "{what}");
        }
    }
}
