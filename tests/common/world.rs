//! The world of in-process reconciler tests: the simulator, a manifest tree with its secrets
//! directory, a store and a reconciler that verifies through a client of the simulator.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bccreds::model::{ConditionStatus, ConditionType, Reason};
use bccreds::reconcile::{PassReport, Reconciler, ReconcilerConfig, Scan};
use bccreds::simulator::Simulator;
use bccreds::source::FileSource;
use bccreds::store::{Encryption, ListQuery, Store, StoreOptions};
use bccreds::validate::ValidateOptions;
use bccreds::verify::{BigCommerceClient, ClientOptions, RetryPolicy};

use super::manifest::Manifest;
use super::sim::simulator;

pub struct World {
    pub sim: Simulator,
    /// `manifests/`, `secrets/` and, unless the builder was given a store, the SQLite store.
    pub dir: tempfile::TempDir,
    pub store: Arc<Store>,
    pub client: Arc<BigCommerceClient>,
    pub rec: Arc<Reconciler<BigCommerceClient>>,
    config: ReconcilerConfig,
    retry: RetryPolicy,
}

/// How to build a [`World`]; everything but the fixture has a default.
pub struct WorldBuilder {
    fixture: String,
    store: Option<Store>,
    config: ReconcilerConfig,
    retry: RetryPolicy,
    secrets: Vec<(String, String)>,
}

impl World {
    /// A world whose simulator serves the fixture `yaml`: owner `test` and the command line's other
    /// defaults, an SQLite store with a key file, and retries from 5 ms so that failures stay fast.
    pub fn builder(yaml: &str) -> WorldBuilder {
        WorldBuilder {
            fixture: yaml.into(),
            store: None,
            config: ReconcilerConfig {
                owner: "test".into(),
                ..Default::default()
            },
            retry: RetryPolicy {
                base_delay: Duration::from_millis(5),
                ..RetryPolicy::default()
            },
            secrets: Vec::new(),
        }
    }

    /// The URL of the SQLite store a world opens when the builder is given none.
    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("s.db").display())
    }

    pub fn manifests(&self) -> PathBuf {
        self.dir.path().join("manifests")
    }

    pub fn secrets(&self) -> PathBuf {
        self.dir.path().join("secrets")
    }

    /// Writes the manifest file `file` (a path under `manifests/`).
    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.manifests().join(file), text).expect("write manifest");
    }

    /// Writes `manifest` to `manifests/NAME.yaml`.
    pub fn put(&self, manifest: &Manifest) {
        manifest.write(self.manifests().join(manifest.file_name()));
    }

    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.manifests().join(file)).expect("rm manifest");
    }

    /// Writes the secret file `file` (a path under `secrets/`).
    pub fn secret(&self, file: &str, value: &str) {
        std::fs::write(self.secrets().join(file), value).expect("write secret");
    }

    /// A full scan of the manifests, as `apply` reads them.
    pub fn scan(&self) -> Scan {
        FileSource::new(vec![self.manifests()], ValidateOptions::default())
            .with_secrets_dir(Some(self.secrets()))
            .scan()
    }

    /// One pass of the world's reconciler over a full scan.
    pub async fn pass(&self) -> PassReport {
        self.rec.apply(&self.scan()).await.expect("pass")
    }

    /// A new client of the simulator with the world's retries, as another process would have.
    pub fn new_client(&self) -> BigCommerceClient {
        client(&self.sim, self.retry)
    }

    /// Another reconciler with the world's configuration.
    pub fn reconciler(
        &self,
        store: Arc<Store>,
        client: Arc<BigCommerceClient>,
    ) -> Reconciler<BigCommerceClient> {
        Reconciler::new(store, client, self.config.clone())
    }

    /// The stored labels, in the store's order.
    pub async fn labels(&self) -> Vec<String> {
        let rows = self.store.list(&ListQuery::default()).await.expect("list");
        rows.into_iter().map(|r| r.label).collect()
    }

    /// The stored labels with whether each row is active.
    pub async fn labels_active(&self) -> Vec<(String, bool)> {
        let rows = self.store.list(&ListQuery::default()).await.expect("list");
        rows.into_iter().map(|r| (r.label, r.active)).collect()
    }

    /// The stored token of the row labelled `label`; None also when the store cannot be read.
    pub async fn token_of(&self, label: &str) -> Option<String> {
        let rows = self.store.list(&ListQuery::default()).await.ok()?;
        let id = rows.iter().find(|r| r.label == label)?.id;
        let stored = self.store.get(id).await.ok()??;
        Some(stored.data.access_token.expose().to_string())
    }

    /// The condition `type_` of the credential `name` in the reconciler's status book.
    pub fn condition(&self, name: &str, type_: ConditionType) -> (ConditionStatus, Reason) {
        let status = self
            .rec
            .statuses()
            .into_iter()
            .find(|s| s.name == name)
            .expect("status");
        let c = status
            .conditions
            .into_iter()
            .find(|c| c.type_ == type_)
            .expect("condition");
        (c.status, c.reason)
    }
}

impl WorldBuilder {
    /// The store to use instead of the SQLite default, e.g. a `TestDb`'s on another engine.
    pub fn store(mut self, store: Store) -> WorldBuilder {
        self.store = Some(store);
        self
    }

    pub fn owner(mut self, owner: &str) -> WorldBuilder {
        self.config.owner = owner.into();
        self
    }

    pub fn config(mut self, change: impl FnOnce(&mut ReconcilerConfig)) -> WorldBuilder {
        change(&mut self.config);
        self
    }

    pub fn retry(mut self, retry: RetryPolicy) -> WorldBuilder {
        self.retry = retry;
        self
    }

    /// A file under `secrets/` the world starts with.
    pub fn secret(mut self, file: &str, value: &str) -> WorldBuilder {
        self.secrets.push((file.into(), value.into()));
        self
    }

    pub async fn build(self) -> World {
        let sim = simulator(&self.fixture).await;
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["manifests", "secrets"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        for (file, value) in &self.secrets {
            std::fs::write(dir.path().join("secrets").join(file), value).expect("secret");
        }
        let store = match self.store {
            Some(store) => store,
            None => {
                let url = format!("sqlite://{}", dir.path().join("s.db").display());
                sqlite_store(&url).await
            }
        };
        let store = Arc::new(store);
        let client = Arc::new(client(&sim, self.retry));
        let rec = Arc::new(Reconciler::new(
            store.clone(),
            client.clone(),
            self.config.clone(),
        ));
        World {
            sim,
            dir,
            store,
            client,
            rec,
            config: self.config,
            retry: self.retry,
        }
    }
}

/// A client of the simulator with `retry`.
pub fn client(sim: &Simulator, retry: RetryPolicy) -> BigCommerceClient {
    BigCommerceClient::new(&ClientOptions {
        base_url: sim.base_url(),
        retry,
        ..ClientOptions::default()
    })
    .expect("client")
}

/// The SQLite store at `url` whose secrets are sealed with the key file beside it.
pub async fn sqlite_store(url: &str) -> Store {
    Store::connect(StoreOptions {
        url: url.into(),
        table_prefix: String::new(),
        encryption: Encryption::KeyFile,
    })
    .await
    .expect("store")
}
