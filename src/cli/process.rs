//! What every long-running or async command needs from the process: a runtime and the stop
//! signal.

use crate::cli::out::errln;
/// A multi-threaded tokio runtime, or `None` after printing why it could not start.
pub fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            None
        }
    }
}

/// Resolves on SIGTERM (Kubernetes, systemd) or Ctrl-C.
pub async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
