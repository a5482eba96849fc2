//! The kube-runtime controllers, their reconcile function and the Secret watch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{finalizer, Event as Finalize};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, Controller, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use super::status::{ready, to_k8s};
use crate::model::{BigCommerceCredential, ConditionStatus, Reason};
use crate::reconcile::{Action as Step, ItemReport, Reconciler};
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
    failures: Mutex<HashMap<(String, String), u32>>,
}

impl Ctx {
    fn backoff(&self, key: &(String, String)) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        let secs = 2u64
            .saturating_pow((*n).min(10))
            .min(self.config.max_backoff.as_secs().max(1));
        Duration::from_secs(secs)
    }

    fn healthy(&self, key: &(String, String)) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
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
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!("cannot publish an event: {e}");
    }
}

/// A Normal Event saying what a pass did to the object, in the words of its report.
async fn announce(ctx: &Ctx, obj: &BigCommerceCredential, item: &ItemReport) {
    publish(
        ctx,
        obj,
        EventType::Normal,
        item.reason,
        item.message.clone(),
    )
    .await;
}

/// Logs what a pass did to one object, as `watch` logs its items.
fn log_items(items: &[ItemReport]) {
    for item in items.iter().filter(|i| i.action != Step::Unchanged) {
        tracing::info!(credential = %format!("{}/{}", item.namespace, item.name), action = %item.action, reason = %item.reason, "{}", item.message);
    }
}

async fn apply(obj: Arc<BigCommerceCredential>, ctx: &Ctx) -> Result<Action, ControllerError> {
    let key = key_of(&obj);
    let (ns, name) = (key.namespace.clone(), key.name.clone());
    let scan = scan_object(&ctx.client, &obj, &ctx.config.allowed_hosts).await?;
    let before = ctx.rec.status_of(&key);
    let report = ctx.rec.apply(&scan).await?;
    log_items(&report.items);
    let item = report.items.first().cloned();
    let after = ctx.rec.status_of(&key);
    if let Some(status) = &after {
        let capabilities = if ready(status).is_some_and(|(s, _)| s == ConditionStatus::True) {
            vec![crate::verify::CAPABILITY_PRODUCTS_READ.to_string()]
        } else {
            obj.status
                .as_ref()
                .map(|s| s.capabilities.clone())
                .unwrap_or_default()
        };
        let new_status = to_k8s(status, capabilities);
        // An unchanged status is not written: a write would only trigger another reconcile.
        if obj.status.as_ref() != Some(&new_status) {
            let api: Api<BigCommerceCredential> = Api::namespaced(ctx.client.clone(), &ns);
            api.patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": new_status })),
            )
            .await?;
        }
    }
    let id = (ns, name);
    let Some(item) = item else {
        return Ok(Action::requeue(ctx.config.reverify_interval));
    };
    let was = before.as_ref().and_then(ready);
    let now = after.as_ref().and_then(ready);
    match item.reason {
        Reason::Created | Reason::Updated | Reason::Adopted | Reason::Deactivated => {
            announce(ctx, &obj, &item).await;
        }
        _ if now.is_some_and(|(s, _)| s != ConditionStatus::True) && was != now => {
            publish(
                ctx,
                &obj,
                EventType::Warning,
                Reason::VerificationFailed,
                format!("{}: {}", item.reason, item.message),
            )
            .await;
        }
        _ => {}
    }
    match now.map(|(s, _)| s) {
        Some(ConditionStatus::True) => {
            ctx.healthy(&id);
            Ok(Action::requeue(ctx.config.reverify_interval))
        }
        // Unreachable, rate limited, a missing Secret or a rejected token: retry with backoff;
        // a Secret change triggers a reconcile at once anyway.
        _ => Ok(Action::requeue(ctx.backoff(&id))),
    }
}

/// An object being deleted goes through the planner like a deleted manifest in file mode.
async fn cleanup(obj: Arc<BigCommerceCredential>, ctx: &Ctx) -> Result<Action, ControllerError> {
    let report = ctx.rec.apply(&scan_deleted(&obj)).await?;
    log_items(&report.items);
    for item in &report.items {
        if matches!(item.reason, Reason::Deleted | Reason::Orphaned) {
            announce(ctx, &obj, item).await;
        } else if report.summary.failed > 0 {
            // The row could not be deleted: keep the finalizer and try again.
            return Err(ControllerError::Finalizer(format!(
                "cannot remove the stored row: {}",
                item.message
            )));
        }
    }
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
    let id = (obj.namespace().unwrap_or_default(), obj.name_any());
    let wait = ctx.backoff(&id);
    tracing::warn!(credential = %format!("{}/{}", id.0, id.1), retry_in = ?wait, "reconcile failed: {err}");
    Action::requeue(wait)
}

/// Runs one controller per watched namespace (or one for all) until `shutdown` resolves.
pub async fn run_controllers(
    client: Client,
    rec: Arc<Reconciler<BigCommerceClient>>,
    config: ControllerConfig,
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
        failures: Mutex::new(HashMap::new()),
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
        let controller = Controller::new(creds, watcher::Config::default());
        let cache = controller.store();
        // Only Secret metadata is watched: values are read on demand, and only when referenced.
        let secret_events = watcher(secrets, watcher::Config::default()).touched_objects();
        let mut stop = stop_tx.subscribe();
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            controller
                .watches_stream(secret_events, move |secret: PartialObjectMeta<Secret>| {
                    let name = secret.name_any();
                    let ns = secret.namespace();
                    cache
                        .state()
                        .into_iter()
                        .filter(|c| c.namespace() == ns && secret_names(c).contains(&name))
                        .map(|c| ObjectRef::from_obj(&*c))
                        .collect::<Vec<_>>()
                })
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
