//! The simulator's rate limits and injected faults over real HTTP.

mod common;
mod simulator_support;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use simulator_support::*;

#[tokio::test]
async fn every_store_response_carries_the_rate_limit_headers() {
    let yaml = format!(
        "{FIXTURE}  - token: tok-faulty-secret\n    store: abc123\n    faults: [{{status: 500, path: v2/time}}]\n"
    );
    let sim = common::simulator(&yaml).await;
    let cases = [
        ("/stores/abc123/v2/store", Some("tok-full-secret"), 200),
        ("/stores/abc123/v2/time", None, 401),
        ("/stores/abc123/v2/store", Some("tok-noscope-secret"), 403),
        ("/stores/abc123/v3/nothing", Some("tok-full-secret"), 404),
        ("/stores/nope99/v2/store", Some("tok-full-secret"), 404),
        (
            "/stores/empty1/v2/currencies",
            Some("tok-empty-secret"),
            204,
        ),
        ("/stores/abc123/v2/time", Some("tok-faulty-secret"), 500),
    ];
    for (path, token, status) in cases {
        let resp = call(&sim, Method::GET, path, token).await;
        assert_eq!(resp.status().as_u16(), status, "{path}");
        assert_rate_headers(&resp);
    }
}

#[tokio::test]
async fn the_quota_is_enforced_per_window() {
    let yaml = "stores:\n  - {hash: s1, name: S, quota: 3, windowMs: 60000}\ntokens:\n  - {token: tok-s1-secret, store: s1}\n";
    let sim = common::simulator(yaml).await;
    for left in [2, 1, 0] {
        let resp = get(&sim, "/stores/s1/v2/time", "tok-s1-secret").await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, "x-rate-limit-requests-left"), left);
        assert_eq!(header(&resp, "x-rate-limit-requests-quota"), 3);
    }
    let limited = get(&sim, "/stores/s1/v2/time", "tok-s1-secret").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&limited, "x-rate-limit-requests-left"), 0);
    let reset = header(&limited, "x-rate-limit-time-reset-ms");
    assert!(reset > 0 && reset <= 60_000, "{reset}");
    assert_eq!(header(&limited, "x-retry-after"), reset.div_ceil(1000));
    assert_eq!(json_of(limited).await["status"], json!(429));
    // A bad token is still limited: the gateway counts before it authenticates.
    let anonymous = call(&sim, Method::GET, "/stores/s1/v2/time", None).await;
    assert_eq!(anonymous.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(statuses(&sim.requests()), [200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn a_new_window_refills_the_quota() {
    // A window long enough that three requests fit in it on a loaded machine.
    let yaml = "stores:\n  - {hash: s1, name: S, quota: 2, windowMs: 2000}\ntokens:\n  - {token: tok-s1-secret, store: s1}\n";
    let sim = common::simulator(yaml).await;
    // A 401 counts against the quota too.
    assert_eq!(
        call(&sim, Method::GET, "/stores/s1/v2/time", None)
            .await
            .status(),
        401
    );
    assert_eq!(
        get(&sim, "/stores/s1/v2/time", "tok-s1-secret")
            .await
            .status(),
        200
    );
    let limited = get(&sim, "/stores/s1/v2/time", "tok-s1-secret").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    // Wait as long as the simulator itself says, plus a margin for the clock's granularity.
    let reset = header(&limited, "x-rate-limit-time-reset-ms");
    tokio::time::sleep(Duration::from_millis(reset + 20)).await;
    let again = get(&sim, "/stores/s1/v2/time", "tok-s1-secret").await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(header(&again, "x-rate-limit-requests-left"), 1);
}

#[tokio::test]
async fn a_fault_with_times_fails_then_recovers() {
    let sim = common::simulator(&faulty("[{status: 500, times: 2}]", "[]")).await;
    for expected in [500, 500, 200, 200] {
        let resp = get(&sim, "/stores/f1/v2/time", "tok-f1-secret").await;
        assert_eq!(resp.status().as_u16(), expected);
        if expected == 500 {
            assert_eq!(json_of(resp).await["status"], json!(500));
        }
    }
    assert_eq!(statuses(&sim.requests()), [500, 500, 200, 200]);
}

#[tokio::test]
async fn latency_delays_the_answer_and_then_serves_it() {
    let sim = common::simulator(&faulty("[{latencyMs: 300, path: v2/time, times: 1}]", "[]")).await;
    let started = Instant::now();
    let resp = get(&sim, "/stores/f1/v2/time", "tok-f1-secret").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(json_of(resp).await["time"].is_u64());
    // The log keeps the arrival time: the next request arrived at least 300 ms later.
    get(&sim, "/stores/f1/v2/time", "tok-f1-secret").await;
    let log = sim.requests();
    assert!(log[1].at_ms - log[0].at_ms >= 300, "{log:?}");
}

#[tokio::test]
async fn a_dropped_connection_is_a_client_error() {
    let sim = common::simulator(&faulty("[{dropConnection: true, times: 1}]", "[]")).await;
    let url = format!("{}/stores/f1/v2/store", sim.base_url());
    let outcome = client()
        .get(&url)
        .header("X-Auth-Token", "tok-f1-secret")
        .send()
        .await;
    match outcome {
        Err(_) => {}
        Ok(resp) => assert!(resp.bytes().await.is_err(), "a complete response came back"),
    }
    let ok = get(&sim, "/stores/f1/v2/store", "tok-f1-secret").await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(statuses(&sim.requests()), [0, 200]);
}

#[tokio::test]
async fn faults_can_be_limited_to_a_path_or_a_token() {
    let sim = common::simulator(&faulty(
        "[{path: v2/currencies, status: 503}]",
        "[{status: 502}]",
    ))
    .await;
    let status = |path: &'static str, token: &'static str| {
        let sim = &sim;
        async move {
            get(sim, &format!("/stores/f1/{path}"), token)
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("v2/store", "tok-f1-other-secret").await, 200);
    assert_eq!(status("v2/currencies", "tok-f1-other-secret").await, 503);
    assert_eq!(status("v2/store", "tok-f1-secret").await, 502);
    // The store's faults are tried before the token's.
    assert_eq!(status("v2/currencies", "tok-f1-secret").await, 503);
    assert_eq!(status("v2/time", "tok-f1-other-secret").await, 200);
}

#[tokio::test]
async fn an_injected_429_has_the_rate_limit_headers() {
    let sim = common::simulator(&faulty("[{status: 429, resetMs: 1500, times: 1}]", "[]")).await;
    let resp = get(&sim, "/stores/f1/v2/store", "tok-f1-secret").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&resp, "x-rate-limit-time-reset-ms"), 1500);
    assert_eq!(header(&resp, "x-rate-limit-requests-left"), 0);
    assert_eq!(header(&resp, "x-retry-after"), 2);
    assert_eq!(json_of(resp).await["status"], json!(429));
    // It used no quota.
    let ok = get(&sim, "/stores/f1/v2/store", "tok-f1-secret").await;
    assert_eq!(header(&ok, "x-rate-limit-requests-left"), 149);
}

#[tokio::test]
async fn a_request_abandoned_during_latency_is_logged_with_status_0() {
    let sim = common::simulator(&faulty("[{latencyMs: 5000, times: 1}]", "[]")).await;
    bccreds::tls::install_crypto_provider();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    let sent = impatient
        .get(format!("{}/stores/f1/v2/time", sim.base_url()))
        .header("X-Auth-Token", "tok-f1-secret")
        .send()
        .await;
    assert!(sent.is_err(), "the client should have timed out");
    // hyper drops the handler once it notices the closed connection; the latency would only end
    // after 5 s, so an entry before 4 s comes from the drop.
    let deadline = Instant::now() + Duration::from_secs(4);
    while sim.requests().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the abandoned request was not logged"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(statuses(&sim.requests()), [0]);
}
