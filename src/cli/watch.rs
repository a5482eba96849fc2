//! `bccreds watch DIR`: the file-mode daemon.

use crate::cli::out::errln;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::options::{AccessArgs, BigCommerceArgs, ManifestArgs, ReconcileArgs, StoreArgs};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::daemon::{Daemon, DaemonConfig};
use crate::reconcile::Reconciler;
use crate::watch::WatchOptions;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The manifest directory (a git checkout, a mounted ConfigMap or Secret).
    pub dir: PathBuf,
    /// Address of /healthz, /readyz, /metrics and /status.
    #[arg(
        long,
        help_heading = "Daemon",
        default_value = "127.0.0.1:9464",
        env = "BCCREDS_LISTEN"
    )]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub access: AccessArgs,
    /// Quiet time after the last file event before a pass.
    #[arg(long, help_heading = "Daemon", default_value = "300ms", value_parser = humantime::parse_duration, env = "BCCREDS_DEBOUNCE")]
    pub debounce: Duration,
    /// A full pass this often even without events (0s: never).
    #[arg(long, help_heading = "Daemon", default_value = "5m", value_parser = humantime::parse_duration, env = "BCCREDS_RESYNC_INTERVAL")]
    pub resync_interval: Duration,
    /// Poll the tree at this interval instead of inotify (NFS and similar filesystems).
    #[arg(long, help_heading = "Daemon", value_parser = humantime::parse_duration, env = "BCCREDS_POLL")]
    pub poll: Option<Duration>,
    #[command(flatten)]
    pub manifests: ManifestArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub bigcommerce: BigCommerceArgs,
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
}

pub fn run(args: &WatchArgs) -> u8 {
    let status_token = match args.access.token() {
        Ok(token) => token,
        Err(e) => {
            errln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let Some(client) = args.bigcommerce.client() else {
        return EXIT_USAGE;
    };
    let Some(runtime) = super::process::runtime() else {
        return EXIT_FAILED;
    };
    // Relative paths are resolved once, now: `cd DIR; bccreds watch .` must keep watching DIR
    // after it is deleted and recreated, which the process's working directory does not.
    let absolute = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let config = DaemonConfig {
        dir: absolute(&args.dir),
        validate: args.manifests.validate_options(false),
        secrets_dir: args.manifests.secrets_dir.as_deref().map(absolute),
        watch: WatchOptions {
            debounce: args.debounce,
            resync_interval: args.resync_interval,
            poll: args.poll,
        },
        listen: args.listen,
        status_token,
        status_hosts: args.access.status_hosts.clone(),
    };
    let result = runtime.block_on(async {
        let store = Arc::new(args.store.connect().await?);
        let rec = Arc::new(Reconciler::new(
            store,
            client.clone(),
            args.reconcile.config(),
        ));
        let daemon = Daemon::bind(&config, rec, client).await?;
        errln!(
            "bccreds watching {} (endpoints on http://{})",
            config.dir.display(),
            daemon.addr()
        );
        daemon.run(config, super::process::stop_signal()).await?;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => super::errors::report(&e),
    }
}
