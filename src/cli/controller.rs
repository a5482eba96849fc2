//! `bccreds controller`: Kubernetes mode.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::options::{BigCommerceArgs, ReconcileArgs, StoreArgs};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::controller::lease::LeaseConfig;
use crate::controller::{Controller, ControllerConfig};
use crate::reconcile::Reconciler;

#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Namespace to watch (repeatable, or comma-separated); all namespaces when none is given.
    #[arg(long = "namespace", value_delimiter = ',', env = "BCCREDS_NAMESPACES")]
    namespaces: Vec<String>,
    /// Run only while holding a coordination.k8s.io Lease (for several replicas).
    #[arg(long, env = "BCCREDS_LEADER_ELECTION")]
    leader_election: bool,
    /// Name of the Lease.
    #[arg(long, default_value = "bccreds-leader", env = "BCCREDS_LEASE_NAME")]
    lease_name: String,
    /// Namespace of the Lease (the controller's own).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// This replica's identity in the Lease.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// How long the Lease lasts without renewal.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration, env = "BCCREDS_LEASE_DURATION")]
    lease_duration: Duration,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, default_value = "127.0.0.1:9464", env = "BCCREDS_LISTEN")]
    listen: SocketAddr,
    /// Hosts an apiUrl may name.
    #[arg(long = "allowed-host", default_value = crate::api_url::DEFAULT_ALLOWED_HOST, value_delimiter = ',', env = "BCCREDS_ALLOWED_HOSTS")]
    allowed_hosts: Vec<String>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    bigcommerce: BigCommerceArgs,
    #[command(flatten)]
    reconcile: ReconcileArgs,
}

pub fn run(args: &ControllerArgs) -> u8 {
    let Some(bigcommerce) = args.bigcommerce.client() else {
        return EXIT_USAGE;
    };
    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("bccreds-{}", std::process::id()));
    let Some(runtime) = super::process::runtime() else {
        return EXIT_FAILED;
    };
    let result = runtime.block_on(async {
        crate::tls::install_crypto_provider();
        let kube = kube::Client::try_default().await?;
        let lease = if args.leader_election {
            let namespace = args
                .lease_namespace
                .clone()
                .unwrap_or_else(|| kube.default_namespace().to_string());
            Some(LeaseConfig {
                name: args.lease_name.clone(),
                namespace,
                identity: identity.clone(),
                duration: args.lease_duration,
                retry: (args.lease_duration / 3).max(Duration::from_millis(200)),
            })
        } else {
            None
        };
        let store = Arc::new(args.store.connect().await?);
        let rec = Arc::new(Reconciler::new(
            store,
            bigcommerce.clone(),
            args.reconcile.config(),
        ));
        let controller = Controller {
            kube,
            rec,
            bigcommerce,
            config: ControllerConfig {
                namespaces: args.namespaces.clone(),
                allowed_hosts: args.allowed_hosts.clone(),
                reverify_interval: args.reconcile.reverify_interval,
                instance: identity,
                max_backoff: Duration::from_secs(300),
            },
            lease,
            listen: args.listen,
        };
        controller
            .serve(super::process::stop_signal())
            .await
            .map_err(anyhow::Error::msg)
    });
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_FAILED
        }
    }
}
