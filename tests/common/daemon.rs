//! An in-process `bccreds watch` over a world's reconciler, with its HTTP endpoints.

use std::path::Path;
use std::time::Duration;

use bccreds::daemon::{Daemon, DaemonConfig};
use bccreds::validate::ValidateOptions;
use bccreds::watch::WatchOptions;

use super::world::World;

/// A running watch daemon and the world it reconciles; `stop` ends it and fails the test if the
/// daemon failed.
pub struct Watch {
    pub world: World,
    /// `http://ADDR` of the endpoints.
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl Watch {
    /// Watches `dir` with the world's reconciler and secrets: 150 ms debounce, resync off.
    pub async fn start(world: World, dir: &Path) -> Watch {
        let config = DaemonConfig {
            dir: dir.to_path_buf(),
            validate: ValidateOptions::default(),
            secrets_dir: Some(world.secrets()),
            watch: WatchOptions {
                debounce: Duration::from_millis(150),
                resync_interval: Duration::from_secs(3600),
                poll: None,
            },
            listen: "127.0.0.1:0".parse().expect("addr"),
            status_token: None,
            status_hosts: Vec::new(),
        };
        let daemon = Daemon::bind(&config, world.rec.clone(), world.client.clone())
            .await
            .expect("bind");
        let base = format!("http://{}", daemon.addr());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            daemon
                .run(config, async {
                    let _ = rx.await;
                })
                .await
                .map_err(|e| e.to_string())
        });
        Watch {
            world,
            base,
            stop: Some(tx),
            task,
        }
    }

    /// GETs `path` from the endpoints: the status code and the body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        bccreds::tls::install_crypto_provider();
        let r = reqwest::get(format!("{}{path}", self.base))
            .await
            .expect("endpoint");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// The `/status` document.
    pub async fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/status").await.1).expect("json")
    }

    /// The value of the `/metrics` line that starts with `line_prefix`; 0 when absent.
    pub async fn metric(&self, line_prefix: &str) -> f64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(line_prefix)
                    .map(|v| v.trim().parse().unwrap_or(-1.0))
            })
            .unwrap_or(0.0)
    }

    pub async fn passes(&self) -> f64 {
        self.metric("bccreds_passes_total ").await
    }

    /// Stops the daemon and waits (10 s at most) for it to end without an error.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("stops")
            .expect("no panic")
            .expect("the daemon ends without an error");
    }
}
