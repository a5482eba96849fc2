//! `bccreds controller`: Kubernetes mode.

use crate::cli::out::errln;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::options::{AccessArgs, BigCommerceArgs, ReconcileArgs, StoreArgs};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::controller::lease::LeaseConfig;
use crate::controller::{Controller, ControllerConfig, SecretAccess};
use crate::reconcile::Reconciler;

#[derive(Debug, Args)]
#[command(next_help_heading = "Kubernetes")]
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
    /// Address of /healthz, /readyz, /metrics and /status.
    #[arg(long, default_value = "127.0.0.1:9464", env = "BCCREDS_LISTEN")]
    listen: SocketAddr,
    #[command(flatten)]
    access: AccessArgs,
    /// Read Secrets by list/watch (rotations seen at once) or by get only (no list RBAC).
    #[arg(long, value_enum, default_value_t = SecretAccess::Watch, env = "BCCREDS_SECRET_ACCESS")]
    secret_access: SecretAccess,
    /// With `--secret-access get`: how often each credential's Secrets are read again.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, env = "BCCREDS_SECRET_RECHECK_INTERVAL")]
    secret_recheck_interval: Duration,
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
    let status_token = match args.access.token() {
        Ok(token) => token,
        Err(e) => {
            errln!("error: {e}");
            return EXIT_USAGE;
        }
    };
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
        let kube = kube::Config::infer().await?;
        let lease = if args.leader_election {
            let namespace = args
                .lease_namespace
                .clone()
                .unwrap_or_else(|| kube.default_namespace.clone());
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
                secret_access: args.secret_access,
                secret_recheck_interval: args.secret_recheck_interval,
            },
            lease,
            listen: args.listen,
            status_token,
            status_hosts: args.access.status_hosts.clone(),
        };
        controller
            .serve(super::process::stop_signal())
            .await
            .map_err(anyhow::Error::msg)
    });
    // Reconciles abandoned at shutdown must not hold the process past its grace period.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => super::errors::report(&e),
    }
}
