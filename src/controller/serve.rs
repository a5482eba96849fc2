//! The `controller` process: endpoints, leader election, then the controllers until shutdown
//! or until the lease is lost.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kube::Client;

use super::lease::{self, LeaseConfig};
use super::run::{run_controllers, ControllerConfig};
use crate::reconcile::Reconciler;
use crate::server::{reconciler_metrics, MetricsText, Probe, Server};
use crate::verify::BigCommerceClient;

struct ControllerProbe {
    rec: Arc<Reconciler<BigCommerceClient>>,
    client: Arc<BigCommerceClient>,
    leader: AtomicBool,
    electing: bool,
}

impl Probe for ControllerProbe {
    // A follower is ready too: it is healthy, and waits for the lease by design.
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }

    fn status(&self) -> serde_json::Value {
        serde_json::json!({
            "leader": self.leader.load(Ordering::SeqCst),
            "credentials": self.rec.statuses(),
        })
    }

    fn metrics(&self) -> String {
        let mut out = MetricsText::new();
        reconciler_metrics(&mut out, &self.rec, &self.client);
        out.family(
            "bccreds_leader",
            "gauge",
            "1 when this replica holds the lease (or runs without leader election).",
        );
        let leader = !self.electing || self.leader.load(Ordering::SeqCst);
        out.sample("bccreds_leader", &[], if leader { 1.0 } else { 0.0 });
        out.finish()
    }
}

/// Everything `bccreds controller` runs with.
pub struct Controller {
    /// The Kubernetes client.
    pub kube: Client,
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
}

impl Controller {
    /// Serves until `shutdown` resolves; returns early (an error to restart on) if the lease is lost.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    ) -> Result<(), String> {
        let probe = Arc::new(ControllerProbe {
            rec: self.rec.clone(),
            client: self.bigcommerce.clone(),
            leader: AtomicBool::new(false),
            electing: self.lease.is_some(),
        });
        let server = Server::start(self.listen, probe.clone())
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", self.listen))?;
        tracing::info!(addr = %server.addr(), "endpoints listening");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let stopped = {
            let rx = stop_rx.clone();
            move || {
                let mut rx = rx.clone();
                async move {
                    let _ = rx.wait_for(|s| *s).await;
                }
            }
        };
        let mut lost = false;
        if let Some(cfg) = &self.lease {
            tokio::select! {
                () = lease::acquire(&self.kube, cfg) => {}
                () = stopped() => {
                    server.shutdown().await;
                    return Ok(());
                }
            }
            probe.leader.store(true, Ordering::SeqCst);
            let kube = self.kube.clone();
            let hold_cfg = cfg.clone();
            let stop = stopped();
            let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
            let holder = tokio::spawn(async move {
                tokio::select! {
                    () = lease::hold(&kube, &hold_cfg) => { let _ = lost_tx.send(()); }
                    () = stop => {}
                }
            });
            let stop = stopped();
            let until = async move {
                tokio::select! {
                    _ = lost_rx => {}
                    () = stop => {}
                }
            };
            run_controllers(
                self.kube.clone(),
                self.rec.clone(),
                self.config.clone(),
                until,
            )
            .await;
            lost = !*stop_rx.borrow();
            holder.abort();
            if !lost {
                lease::release(&self.kube, cfg).await;
            }
        } else {
            run_controllers(
                self.kube.clone(),
                self.rec.clone(),
                self.config.clone(),
                stopped(),
            )
            .await;
        }
        probe.leader.store(false, Ordering::SeqCst);
        server.shutdown().await;
        self.rec.store().close().await;
        if lost {
            Err(
                "lost the leader lease; stopping so that the other replica is the only writer"
                    .into(),
            )
        } else {
            Ok(())
        }
    }
}
