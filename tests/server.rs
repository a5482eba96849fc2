//! The daemon's HTTP endpoints over real sockets, with a fake probe.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use bccreds::server::{MetricsText, Probe, Server, METRICS_CONTENT_TYPE};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Fake {
    ready: AtomicBool,
    /// When set, `metrics` says it has started and then waits to be released.
    gate: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl Probe for Fake {
    fn ready(&self) -> Result<(), String> {
        if self.ready.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("the first pass has not completed yet".to_string())
        }
    }

    fn status(&self) -> serde_json::Value {
        serde_json::json!({"items": [{"name": "shop-eu", "ready": true}]})
    }

    fn metrics(&self) -> String {
        if let Some((started, release)) = self.gate.lock().unwrap().take() {
            started.send(()).unwrap();
            release.recv_timeout(WAIT).unwrap();
        }
        let mut m = MetricsText::new();
        m.family("bccreds_passes_total", "counter", "Reconcile passes.");
        m.sample("bccreds_passes_total", &[("trigger", "changed")], 2.0);
        m.finish()
    }
}

fn client() -> reqwest::Client {
    bccreds::tls::install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap()
}

async fn start(probe: Arc<Fake>) -> Server {
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Server::start(listen, probe).await.unwrap()
}

async fn get(client: &reqwest::Client, server: &Server, path: &str) -> (u16, String, String) {
    let response = client
        .get(format!("http://{}{path}", server.addr()))
        .send()
        .await
        .unwrap();
    let code = response.status().as_u16();
    let kind = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (code, kind, response.text().await.unwrap())
}

#[tokio::test]
async fn every_route_answers_as_documented() {
    let probe = Arc::new(Fake::default());
    let server = start(Arc::clone(&probe)).await;
    assert_ne!(server.addr().port(), 0, "the real port is reported");
    let c = client();

    let text = "text/plain; charset=utf-8".to_string();
    assert_eq!(
        get(&c, &server, "/healthz").await,
        (200, text.clone(), "ok".into())
    );
    assert_eq!(
        get(&c, &server, "/readyz").await,
        (
            503,
            text.clone(),
            "the first pass has not completed yet".into()
        )
    );
    probe.ready.store(true, Ordering::SeqCst);
    assert_eq!(
        get(&c, &server, "/readyz").await,
        (200, text.clone(), "ok".into())
    );

    let (code, kind, body) = get(&c, &server, "/metrics").await;
    assert_eq!((code, kind.as_str()), (200, METRICS_CONTENT_TYPE));
    assert_eq!(
        METRICS_CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(
        body.contains(
            "# TYPE bccreds_passes_total counter\nbccreds_passes_total{trigger=\"changed\"} 2\n"
        ),
        "{body}"
    );

    let (code, kind, body) = get(&c, &server, "/status").await;
    assert_eq!((code, kind.as_str()), (200, "application/json"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"items": [{"name": "shop-eu", "ready": true}]})
    );

    for path in ["/", "/metricsx", "/status/extra", "/healthz/"] {
        assert_eq!(get(&c, &server, path).await.0, 404, "{path}");
    }
    let post = c
        .post(format!("http://{}/healthz", server.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 405);

    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_and_then_refuses_connections() {
    let probe = Arc::new(Fake::default());
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    *probe.gate.lock().unwrap() = Some((started_tx, release_rx));
    let server = start(Arc::clone(&probe)).await;
    let addr = server.addr();
    let c = client();

    let in_flight = tokio::spawn({
        let c = c.clone();
        async move {
            let response = c
                .get(format!("http://{addr}/metrics"))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    });
    tokio::task::spawn_blocking(move || started.recv_timeout(WAIT).unwrap())
        .await
        .unwrap();

    let stopping = tokio::spawn(server.shutdown());
    // Shutdown waits for the request...
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!stopping.is_finished(), "shutdown did not wait");
    release.send(()).unwrap();
    // ...which completes normally.
    let (code, body) = timeout(WAIT, in_flight).await.unwrap().unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("bccreds_passes_total"));
    timeout(WAIT, stopping).await.unwrap().unwrap();

    let refused = c.get(format!("http://{addr}/healthz")).send().await;
    assert!(refused.is_err(), "still serving after shutdown");
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = start(Arc::new(Fake::default())).await;
    let addr = server.addr();
    drop(server);
    let c = client();
    let stopped = async {
        loop {
            if c.get(format!("http://{addr}/healthz"))
                .send()
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    timeout(WAIT, stopped)
        .await
        .expect("still serving after drop");
}

#[tokio::test]
async fn a_taken_port_is_an_error() {
    let first = start(Arc::new(Fake::default())).await;
    let again = Server::start(first.addr(), Arc::new(Fake::default())).await;
    assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
    first.shutdown().await;
}
