//! A world for controller tests: the fake API server beside the common world (the BigCommerce
//! simulator and a SQLite store), with helpers to start controllers and to write and read objects.
#![allow(dead_code)]

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::common::world::sqlite_store;
use crate::fake_apiserver::FakeApiServer;
use bccreds::controller::lease::LeaseConfig;
use bccreds::controller::{Controller, ControllerConfig, SecretAccess};
use bccreds::model::BigCommerceCredential;
use bccreds::reconcile::Reconciler;
use bccreds::verify::{BigCommerceClient, RetryPolicy};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::{json, Value};

/// Stores `abc123` (three tokens), `down99` (always 500), and `shop01`..`shop08`, each with its
/// own token `tok-shop01`..`tok-shop08`, so that requests can be counted per credential;
/// `shop07` and `shop08` answer after 500 ms.
fn fixture() -> String {
    let scopes = "[store_v2_information_read_only, store_v2_products_read_only]";
    let mut stores = String::from(
        "stores:\n  - hash: abc123\n    name: Demo\n  - hash: down99\n    name: Down\n    faults: [{status: 500}]\n",
    );
    let mut tokens = format!(
        "tokens:\n  - {{token: tok-one, store: abc123, scopes: {scopes}}}\n  - {{token: tok-two, store: abc123, scopes: {scopes}}}\n  - {{token: tok-doomed, store: abc123, scopes: {scopes}}}\n  - {{token: tok-down, store: down99, scopes: {scopes}}}\n"
    );
    for i in 1..=8 {
        stores.push_str(&format!("  - hash: shop{i:02}\n    name: Shop {i}\n"));
        if i >= 7 {
            // As slow as the real API, so that a verification spans a clock second, as each
            // pass of a status-write loop did on a real cluster.
            stores.push_str("    faults: [{latencyMs: 500}]\n");
        }
        tokens.push_str(&format!(
            "  - {{token: tok-shop{i:02}, store: shop{i:02}, scopes: {scopes}}}\n"
        ));
    }
    stores + &tokens
}

/// How a test's controller runs, beyond the defaults.
#[derive(Clone, Debug)]
pub struct Options {
    pub lease: bool,
    pub max_backoff: Duration,
    pub secret_access: SecretAccess,
    pub secret_recheck_interval: Duration,
    pub listen: std::net::SocketAddr,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            lease: false,
            max_backoff: Duration::from_secs(2),
            secret_access: SecretAccess::Watch,
            secret_recheck_interval: Duration::from_secs(60),
            listen: "127.0.0.1:0".parse().expect("a"),
        }
    }
}

/// A loopback address nothing listens on yet.
pub fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
}

/// The fake API server and the common world; `w.sim` and `w.store` are the common world's.
pub struct World {
    pub api: FakeApiServer,
    world: crate::common::World,
    pub store_url: String,
    /// The reconciler of the last controller started.
    pub rec: std::sync::Mutex<Option<Arc<Reconciler<BigCommerceClient>>>>,
}

impl Deref for World {
    type Target = crate::common::World;

    fn deref(&self) -> &crate::common::World {
        &self.world
    }
}

impl World {
    pub async fn new() -> World {
        let world = crate::common::World::builder(&fixture())
            .owner("k8s")
            .retry(RetryPolicy {
                max_retries: 1,
                base_delay: Duration::from_millis(10),
                ..RetryPolicy::default()
            })
            .build()
            .await;
        World {
            api: FakeApiServer::start().await,
            store_url: world.sqlite_url(),
            world,
            rec: std::sync::Mutex::new(None),
        }
    }

    /// Starts a controller; the returned sender stops it.
    pub async fn controller(
        &self,
        identity: &str,
        lease: bool,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), String>>,
    ) {
        self.controller_with(
            identity,
            Options {
                lease,
                ..Options::default()
            },
        )
        .await
    }

    /// Starts a controller with `options`; the returned sender stops it.
    pub async fn controller_with(
        &self,
        identity: &str,
        options: Options,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), String>>,
    ) {
        // Each replica has its own client and connection pool, as separate processes would.
        let bigcommerce = Arc::new(self.new_client());
        let store = Arc::new(sqlite_store(&self.store_url).await);
        let rec = Arc::new(self.reconciler(store, bigcommerce.clone()));
        *self.rec.lock().expect("lock") = Some(rec.clone());
        let controller = Controller {
            kube: kube::Config::new(self.api.url().parse().expect("a valid URL")),
            rec,
            bigcommerce,
            config: ControllerConfig {
                namespaces: Vec::new(),
                allowed_hosts: vec!["api.bigcommerce.com".into()],
                reverify_interval: Duration::from_secs(3600),
                instance: identity.into(),
                max_backoff: options.max_backoff,
                secret_access: options.secret_access,
                secret_recheck_interval: options.secret_recheck_interval,
            },
            lease: options.lease.then(|| LeaseConfig {
                name: "bccreds-leader".into(),
                namespace: "default".into(),
                identity: identity.into(),
                duration: Duration::from_secs(3),
                retry: Duration::from_millis(300),
            }),
            listen: options.listen,
            status_token: None,
            status_hosts: Vec::new(),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(controller.serve(async move {
            let _ = rx.await;
        }));
        (tx, task)
    }

    pub fn creds(&self) -> Api<BigCommerceCredential> {
        Api::namespaced(self.api.client(), "shop")
    }

    pub async fn put_secret(&self, name: &str, token: &str) {
        let api: Api<Secret> = Api::namespaced(self.api.client(), "shop");
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "shop"},
            "stringData": {"token": token}
        }))
        .expect("secret");
        match api.get_opt(name).await.expect("get") {
            Some(existing) => {
                let mut s = secret;
                s.metadata.resource_version = existing.metadata.resource_version;
                api.replace(name, &PostParams::default(), &s)
                    .await
                    .expect("replace");
            }
            None => {
                api.create(&PostParams::default(), &secret)
                    .await
                    .expect("create");
            }
        }
    }

    pub async fn put_credential(
        &self,
        name: &str,
        label: &str,
        hash: &str,
        secret: &str,
        annotations: Value,
    ) {
        let obj: BigCommerceCredential = serde_json::from_value(json!({
            "apiVersion": "bigcommerce.unopim.io/v1alpha1", "kind": "BigCommerceCredential",
            "metadata": {"name": name, "namespace": "shop", "annotations": annotations},
            "spec": {
                "label": label,
                "apiUrl": format!("https://api.bigcommerce.com/stores/{hash}/"),
                "accessToken": {"secretKeyRef": {"name": secret, "key": "token"}}
            }
        }))
        .expect("credential");
        self.creds()
            .create(&PostParams::default(), &obj)
            .await
            .expect("create credential");
    }

    pub async fn condition(&self, name: &str, type_: &str) -> Option<(String, String)> {
        let obj = self.api.get("bigcommercecredentials", "shop", name)?;
        obj["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == type_)
            .map(|c| {
                (
                    c["status"].as_str().unwrap_or("").to_string(),
                    c["reason"].as_str().unwrap_or("").to_string(),
                )
            })
    }
}

/// Polls `check` every 50 ms for up to `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {secs} s waiting for {what}");
}

/// Whether Ready has this status and reason now.
pub async fn ready_now(w: &World, name: &str, status: &str, reason: &str) -> bool {
    w.condition(name, "Ready").await == Some((status.into(), reason.into()))
}

impl World {
    /// The status of a credential as stored by the API server.
    pub fn status(&self, name: &str) -> Value {
        self.api
            .get("bigcommercecredentials", "shop", name)
            .map(|o| o["status"].clone())
            .unwrap_or(Value::Null)
    }

    /// The Events (both API groups share storage) about the credential `name`.
    pub fn events_about(&self, name: &str) -> Vec<Value> {
        self.api
            .list("events", Some("shop"))
            .into_iter()
            .filter(|e| e["regarding"]["name"] == name || e["involvedObject"]["name"] == name)
            .collect()
    }

    /// How many verifications reached the simulator for store `hash` (each starts with v2/store).
    pub fn verifications_of(&self, hash: &str) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|r| r.store == hash && r.path == "v2/store")
            .count()
    }
}
