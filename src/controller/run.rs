//! The kube-runtime controllers, their reconcile function and the Secret watch.

use std::collections::{BTreeMap, HashMap};
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
use crate::model::{
    BigCommerceCredential, ClientId, DeletionPolicy, SecretSource, DELETION_POLICY_ANNOTATION,
};
use crate::reconcile::{Entry, Invalid, Reconciler, Scan, SourceKey};
use crate::secret::SecretValue;
use crate::store::StoreError;
use crate::validate::{semantic, SemanticOptions};
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

/// The Secret names an object refers to.
fn secret_names(obj: &BigCommerceCredential) -> Vec<String> {
    let spec = &obj.spec;
    let client_id = match &spec.client_id {
        Some(ClientId::Source(s)) => Some(s),
        _ => None,
    };
    [
        spec.access_token.as_ref(),
        spec.client_secret.as_ref(),
        client_id,
    ]
    .into_iter()
    .flatten()
    .filter_map(|s| match s {
        SecretSource::SecretKeyRef(r) => Some(r.name.clone()),
        _ => None,
    })
    .collect()
}

/// Reads the referenced Secrets of the object's namespace (and no other).
async fn fetch_secrets(
    ctx: &Ctx,
    ns: &str,
    obj: &BigCommerceCredential,
) -> Result<BTreeMap<String, Secret>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let mut found = BTreeMap::new();
    for name in secret_names(obj) {
        if found.contains_key(&name) {
            continue;
        }
        if let Some(secret) = api.get_opt(&name).await? {
            found.insert(name, secret);
        }
    }
    Ok(found)
}

fn lookup(
    ns: &str,
    secrets: &BTreeMap<String, Secret>,
    source: &SecretSource,
) -> Result<SecretValue, String> {
    let SecretSource::SecretKeyRef(r) = source else {
        return Err(format!(
            "{} sources exist only in file mode; in Kubernetes use secretKeyRef",
            source.kind()
        ));
    };
    let secret = secrets
        .get(&r.name)
        .ok_or_else(|| format!("Secret `{ns}/{}` does not exist (yet)", r.name))?;
    if let Some(bytes) = secret.data.as_ref().and_then(|d| d.get(&r.key)) {
        return String::from_utf8(bytes.0.clone())
            .map(SecretValue::new)
            .map_err(|_| format!("Secret `{ns}/{}` key `{}` is not UTF-8 text", r.name, r.key));
    }
    if let Some(text) = secret.string_data.as_ref().and_then(|d| d.get(&r.key)) {
        return Ok(SecretValue::new(text.clone()));
    }
    Err(format!("Secret `{ns}/{}` has no key `{}`", r.name, r.key))
}

async fn publish(
    ctx: &Ctx,
    obj: &BigCommerceCredential,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!("cannot publish an event: {e}");
    }
}

async fn apply(obj: Arc<BigCommerceCredential>, ctx: &Ctx) -> Result<Action, ControllerError> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let key = SourceKey {
        namespace: ns.clone(),
        name: name.clone(),
    };
    let findings = semantic::check(
        &obj,
        &SemanticOptions {
            allowed_hosts: ctx.config.allowed_hosts.clone(),
            kubernetes: true,
        },
    );
    let entry = if let Some(first) = findings.first() {
        Entry::Invalid(Invalid {
            key: key.clone(),
            label: Some(obj.spec.label.clone()),
            generation: obj.metadata.generation,
            message: first.message.clone(),
        })
    } else {
        let secrets = fetch_secrets(ctx, &ns, &obj).await?;
        let find = |s: &SecretSource| lookup(&ns, &secrets, s);
        crate::source::build::entry(
            &obj,
            key.clone(),
            format!("{ns}/{name}"),
            &ctx.config.allowed_hosts,
            &find,
        )
    };
    let before = ctx.rec.status_of(&key);
    let report = ctx
        .rec
        .apply(&Scan {
            entries: vec![entry],
            complete: true,
            problems: Vec::new(),
            partial: true,
        })
        .await?;
    let item = report.items.first().cloned();
    let after = ctx.rec.status_of(&key);
    if let Some(status) = &after {
        let capabilities = if ready(status).is_some_and(|(s, _)| s == "True") {
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
    let id = (ns.clone(), name.clone());
    let Some(item) = item else {
        return Ok(Action::requeue(ctx.config.reverify_interval));
    };
    let was = before
        .as_ref()
        .and_then(|s| ready(s).map(|(st, r)| (st.to_string(), r.to_string())));
    let now = after
        .as_ref()
        .and_then(|s| ready(s).map(|(st, r)| (st.to_string(), r.to_string())));
    match item.reason.as_str() {
        "Created" | "Updated" | "Adopted" | "Deactivated" => {
            publish(
                ctx,
                &obj,
                EventType::Normal,
                &item.reason,
                item.message.clone(),
            )
            .await;
        }
        _ if now.as_ref().is_some_and(|(s, _)| s != "True") && was != now => {
            publish(
                ctx,
                &obj,
                EventType::Warning,
                "VerificationFailed",
                format!("{}: {}", item.reason, item.message),
            )
            .await;
        }
        _ => {}
    }
    match now.as_ref().map(|(s, _)| s.as_str()) {
        Some("True") => {
            ctx.healthy(&id);
            Ok(Action::requeue(ctx.config.reverify_interval))
        }
        // Unreachable, rate limited, a missing Secret or a rejected token: retry with backoff;
        // a Secret change triggers a reconcile at once anyway.
        _ => Ok(Action::requeue(ctx.backoff(&id))),
    }
}

async fn cleanup(obj: Arc<BigCommerceCredential>, ctx: &Ctx) -> Result<Action, ControllerError> {
    let key = SourceKey {
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
    };
    let policy = obj
        .annotations()
        .get(DELETION_POLICY_ANNOTATION)
        .map_or(DeletionPolicy::Delete, |v| DeletionPolicy::parse(v));
    if ctx.rec.remove(&key, policy).await? {
        let (reason, note) = match policy {
            DeletionPolicy::Delete => (
                "Deleted",
                "the credential was removed from the connector store",
            ),
            DeletionPolicy::Orphan => (
                "Orphaned",
                "the credential stays in the connector store, no longer managed",
            ),
        };
        publish(ctx, &obj, EventType::Normal, reason, note.to_string()).await;
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
