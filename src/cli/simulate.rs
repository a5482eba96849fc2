//! `bccreds simulate-bigcommerce --listen ADDR --fixture FILE`.

use crate::cli::out::errln;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::simulator::{Fixture, Simulator};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on; port 0 picks a free port. The bound address is the first stdout line.
    #[arg(long, default_value = "127.0.0.1:0", env = "BCCREDS_SIMULATOR_LISTEN")]
    listen: String,
    /// YAML fixture of stores, tokens, scopes and faults (see examples/simulator/).
    #[arg(long, env = "BCCREDS_SIMULATOR_FIXTURE")]
    fixture: PathBuf,
}

/// The listen address, if it is an IP address and port on loopback.
///
/// The simulator accepts any token in its fixture, so it must not be reachable from other hosts;
/// host names are refused too, since `localhost` may resolve elsewhere.
fn loopback_addr(listen: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = listen.parse().map_err(|_| {
        format!("--listen `{listen}` is not IP:PORT; use a loopback address such as 127.0.0.1:0")
    })?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "--listen `{listen}` is not a loopback address; the simulator only listens on \
             127.0.0.0/8 or [::1]"
        ));
    }
    Ok(addr)
}

/// Serves the fixture until SIGINT or SIGTERM; the base URL is the first line on stdout.
pub fn run(args: &SimulateArgs) -> u8 {
    // A second subscriber (e.g. in tests) is harmless, so the error is ignored.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let addr = match loopback_addr(&args.listen) {
        Ok(addr) => addr,
        Err(message) => {
            errln!("simulate-bigcommerce: {message}");
            return super::EXIT_USAGE;
        }
    };
    let fixture = match Fixture::load(&args.fixture) {
        Ok(f) => f,
        Err(e) => {
            errln!("simulate-bigcommerce: {e}");
            return super::EXIT_FAILED;
        }
    };
    let Some(runtime) = super::process::runtime() else {
        return super::EXIT_FAILED;
    };
    runtime.block_on(serve(fixture, addr, &args.fixture))
}

async fn serve(fixture: Fixture, addr: SocketAddr, path: &std::path::Path) -> u8 {
    let stores = fixture.stores.len();
    let simulator = match Simulator::start(fixture, addr).await {
        Ok(s) => s,
        Err(e) => {
            errln!("simulate-bigcommerce: cannot listen on {addr}: {e}");
            return super::EXIT_FAILED;
        }
    };
    // Handlers are installed before the URL is printed: a script may signal as soon as it reads it.
    let signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            errln!("simulate-bigcommerce: cannot install signal handlers: {e}");
            simulator.shutdown().await;
            return super::EXIT_FAILED;
        }
    };
    let mut stdout = std::io::stdout().lock();
    // Scripts wait for this line, so it goes out before anything else and is flushed at once.
    if writeln!(stdout, "{}", simulator.base_url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        simulator.shutdown().await;
        return super::EXIT_FAILED;
    }
    drop(stdout);
    errln!(
        "simulate-bigcommerce: serving {stores} store(s) from {} at {}; stop with Ctrl-C",
        path.display(),
        simulator.base_url()
    );
    signals.wait().await;
    simulator.shutdown().await;
    errln!("simulate-bigcommerce: stopped");
    super::EXIT_OK
}

/// SIGINT and SIGTERM handlers.
#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Ctrl-C, where there are no Unix signals.
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals)
    }

    async fn wait(self) {
        // If Ctrl-C cannot be awaited there is nothing to wait for; stop at once.
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::loopback_addr;

    #[test]
    fn only_loopback_ip_addresses_are_accepted() {
        assert!(loopback_addr("127.0.0.1:0").is_ok());
        assert!(loopback_addr("127.8.9.10:8080").is_ok());
        assert!(loopback_addr("[::1]:0").is_ok());
        for bad in [
            "0.0.0.0:0",
            "192.168.1.2:80",
            "[::]:0",
            "localhost:0",
            "127.0.0.1",
        ] {
            assert!(loopback_addr(bad).is_err(), "{bad}");
        }
    }
}
