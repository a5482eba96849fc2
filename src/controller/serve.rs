//! The `controller` process: endpoints, leader election, then the controllers until shutdown
//! or until the lease is lost. Shutdown is bounded: whatever the API server does, the process
//! is done within [`STOP_WITHIN`] of the signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kube::Client;

use super::health::{observed_client, ApiHealth};
use super::lease::{self, LeaseConfig};
use super::run::{run_controllers, ControllerConfig};
use crate::probe::{LastPass, Live, Probe, StatusDocument, Wanted};
use crate::reconcile::Reconciler;
use crate::secret::SecretValue;
use crate::server::{reconciler_metrics, MetricsText, Server, ServerOptions};
use crate::verify::BigCommerceClient;

/// How long running reconciles get to finish after the stop signal.
const RECONCILES_GRACE: Duration = Duration::from_millis(2500);
/// How long releasing the lease may take at shutdown.
const RELEASE_GRACE: Duration = Duration::from_secs(1);

struct ControllerProbe {
    rec: Arc<Reconciler<BigCommerceClient>>,
    client: Arc<BigCommerceClient>,
    health: Arc<ApiHealth>,
    leader: AtomicBool,
    electing: bool,
}

impl ControllerProbe {
    fn leading(&self) -> bool {
        !self.electing || self.leader.load(Ordering::SeqCst)
    }
}

impl Probe for ControllerProbe {
    /// Ready when the Kubernetes API answered the last call; a leader (or a single replica) also
    /// needs its initial lists. A follower is ready while it can reach the API: it waits for the
    /// lease by design.
    fn ready(&self) -> Result<(), String> {
        self.health.ready(self.leading())
    }

    fn status(&self) -> serde_json::Value {
        StatusDocument {
            credentials: self.rec.statuses(),
            leader: Some(self.leader.load(Ordering::SeqCst)),
            ..StatusDocument::default()
        }
        .to_json()
    }

    fn live(&self, wanted: Option<&Wanted>) -> Option<Live> {
        // A pass here reconciles one object: the page shows the latest one.
        let last_pass = self.rec.metrics().last_pass.map(|(at, summary)| LastPass {
            at,
            summary: summary.to_string(),
            error: None,
        });
        Some(Live {
            last_pass,
            statuses: wanted
                .map_or_else(Vec::new, |w| self.rec.statuses_matching(|s| w.matches(s))),
        })
    }

    fn passes(&self) -> Option<u64> {
        let m = self.rec.metrics();
        Some(m.passes + m.failed_passes)
    }

    fn metrics(&self) -> String {
        let mut out = MetricsText::new();
        reconciler_metrics(&mut out, &self.rec, &self.client);
        out.family(
            "bccreds_leader",
            "gauge",
            "1 when this replica holds the lease (or runs without leader election).",
        );
        out.sample(
            "bccreds_leader",
            &[],
            if self.leading() { 1.0 } else { 0.0 },
        );
        out.finish()
    }
}

/// Everything `bccreds controller` runs with.
pub struct Controller {
    /// How to reach the Kubernetes API; the client is built with a layer that feeds `/readyz`.
    pub kube: kube::Config,
    /// The shared reconciler.
    pub rec: Arc<Reconciler<BigCommerceClient>>,
    /// The BigCommerce client, for metrics.
    pub bigcommerce: Arc<BigCommerceClient>,
    /// Controller behaviour.
    pub config: ControllerConfig,
    /// Leader election, when several replicas run.
    pub lease: Option<LeaseConfig>,
    /// Address of the endpoints.
    pub listen: SocketAddr,
    /// The bearer token `/status` requires (`--status-token`); without one, `/status` is served
    /// only on a loopback `listen` address.
    pub status_token: Option<SecretValue>,
    /// Names besides localhost that a token-less loopback listener answers (`--status-host`).
    pub status_hosts: Vec<String>,
}

/// A future that resolves once `rx` says stop, as often as it is asked for.
fn stopped(
    rx: &tokio::sync::watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + Sync + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|s| *s).await;
    }
}

impl Controller {
    /// Serves until `shutdown` resolves; returns early (an error to restart on) if the lease is lost.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    ) -> Result<(), String> {
        crate::tls::install_crypto_provider();
        let health = Arc::new(ApiHealth::default());
        let kube = observed_client(self.kube.clone(), health.clone())
            .map_err(|e| format!("cannot make a Kubernetes client: {e}"))?;
        let probe = Arc::new(ControllerProbe {
            rec: self.rec.clone(),
            client: self.bigcommerce.clone(),
            health: health.clone(),
            leader: AtomicBool::new(false),
            electing: self.lease.is_some(),
        });
        let options = ServerOptions {
            status_token: self.status_token.clone(),
            page_store: Some(self.rec.store().clone()),
            status_hosts: self.status_hosts.clone(),
            ..ServerOptions::default()
        };
        let server = Server::start_with(self.listen, probe.clone(), options)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", self.listen))?;
        tracing::info!(addr = %server.addr(), "endpoints listening");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("stopping");
            let _ = stop_tx.send(true);
        });
        let lost = self.lead(&kube, &probe, health, &stop_rx).await;
        probe.leader.store(false, Ordering::SeqCst);
        server.shutdown().await;
        if tokio::time::timeout(RELEASE_GRACE, self.rec.store().close())
            .await
            .is_err()
        {
            tracing::warn!("the store did not close in time");
        }
        if lost {
            Err(
                "lost the leader lease; stopping so that the other replica is the only writer"
                    .into(),
            )
        } else {
            Ok(())
        }
    }

    /// Waits for the lease (when electing), runs the controllers while it is held and releases
    /// it at shutdown. Returns whether the lease was lost.
    async fn lead(
        &self,
        kube: &Client,
        probe: &ControllerProbe,
        health: Arc<ApiHealth>,
        stop: &tokio::sync::watch::Receiver<bool>,
    ) -> bool {
        let Some(cfg) = &self.lease else {
            self.run_until(kube, health, stopped(stop), stop).await;
            return false;
        };
        tokio::select! {
            () = lease::acquire(kube, cfg) => {}
            () = stopped(stop) => return false,
        }
        probe.leader.store(true, Ordering::SeqCst);
        let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
        let holder = {
            let (kube, cfg, stop) = (kube.clone(), cfg.clone(), stopped(stop));
            tokio::spawn(async move {
                tokio::select! {
                    () = lease::hold(&kube, &cfg) => { let _ = lost_tx.send(()); }
                    () = stop => {}
                }
            })
        };
        let until = {
            let stop = stopped(stop);
            async move {
                tokio::select! {
                    _ = lost_rx => {}
                    () = stop => {}
                }
            }
        };
        self.run_until(kube, health, until, stop).await;
        let lost = !*stop.borrow();
        holder.abort();
        if !lost
            && tokio::time::timeout(RELEASE_GRACE, lease::release(kube, cfg))
                .await
                .is_err()
        {
            tracing::warn!("could not release the lease in time; it lapses on its own");
        }
        lost
    }

    /// Runs the controllers until `until`; after the stop signal, running reconciles get
    /// [`RECONCILES_GRACE`] and are then abandoned (nothing is half-written: every store write is
    /// one transaction).
    async fn run_until(
        &self,
        kube: &Client,
        health: Arc<ApiHealth>,
        until: impl Future<Output = ()> + Send + Sync + 'static,
        stop: &tokio::sync::watch::Receiver<bool>,
    ) {
        let controllers = run_controllers(
            kube.clone(),
            self.rec.clone(),
            self.config.clone(),
            health,
            until,
        );
        tokio::pin!(controllers);
        tokio::select! {
            () = &mut controllers => {}
            () = stopped(stop) => {
                if tokio::time::timeout(RECONCILES_GRACE, &mut controllers).await.is_err() {
                    tracing::warn!("reconciles still running after {RECONCILES_GRACE:?}; abandoning them");
                }
            }
        }
    }
}
