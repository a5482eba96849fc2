//! `bccreds serve`: the credentials page over a store alone, for UnoPim admins and support who
//! want to look without a terminal. No reconciler runs and no APP_KEY is read: the page never
//! shows a secret.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;

use super::options::{AccessArgs, StoreReadArgs};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::cli::out::errln;
use crate::probe::{Probe, StatusDocument};
use crate::server::{Server, ServerOptions};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the page (and /healthz, /readyz); loopback unless a token is set.
    #[arg(long, default_value = "127.0.0.1:8080", env = "BCCREDS_SERVE_LISTEN")]
    listen: SocketAddr,
    #[command(flatten)]
    access: AccessArgs,
    #[command(flatten)]
    store: StoreReadArgs,
}

/// The endpoints of a server with no reconciler: always ready, nothing to report.
struct StoreOnly;

impl Probe for StoreOnly {
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }

    fn status(&self) -> serde_json::Value {
        StatusDocument::default().to_json()
    }

    fn metrics(&self) -> String {
        String::new()
    }
}

pub fn run(args: &ServeArgs) -> u8 {
    let status_token = match args.access.token() {
        Ok(token) => token,
        Err(e) => {
            errln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let Some(runtime) = super::process::runtime() else {
        return EXIT_FAILED;
    };
    let result = runtime.block_on(async {
        let store = Arc::new(args.store.open_existing().await?);
        let options = ServerOptions {
            status_token,
            page_store: Some(store.clone()),
            status_hosts: args.access.status_hosts.clone(),
            ..ServerOptions::default()
        };
        let server = Server::start_with(args.listen, Arc::new(StoreOnly), options)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        errln!(
            "bccreds serving the credentials page on http://{}/",
            server.addr()
        );
        super::process::stop_signal().await;
        server.shutdown().await;
        store.close().await;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => super::errors::report(&e),
    }
}
