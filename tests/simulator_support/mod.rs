//! Helpers shared by the simulator's integration tests: a fixture and a reqwest client (the
//! simulator itself starts through `common::simulator`).
#![allow(dead_code)]

use std::time::Duration;

use bccreds::simulator::{LoggedRequest, Simulator};
use reqwest::{Client, Method, Response};
use serde_json::Value;

pub const FIXTURE: &str = r#"
stores:
  - hash: abc123
    name: Production Store
    domain: shop.example.com
    currencies:
      - {code: USD, name: US Dollar}
      - {code: EUR, name: Euro, exchangeRate: "0.9210000000"}
      - {code: GBP, enabled: false}
    productCount: 42
  - hash: eu4567
    name: Europe Store
    language: de
    currency: EUR
    shopperLanguage: fr
    currencies: [{code: EUR}, {code: CHF}]
    channels:
      - {id: 1, name: Europe, currencies: [EUR, GBP, CHF], locales: [de, fr, en-GB, nl]}
      - {id: 2, name: Swiss, currencies: [CHF, EUR], defaultCurrency: EUR, locales: [fr]}
  - hash: empty1
    name: Empty Store
tokens:
  - token: tok-full-secret
    store: abc123
    scopes: [store_v2_information_read_only, store_v2_products_read_only, store_channel_settings_read_only]
  - token: tok-noscope-secret
    store: abc123
  - token: tok-eu-secret
    store: eu4567
    scopes: [store_v2_information_read_only, store_channel_settings_read_only]
  - token: tok-empty-secret
    store: empty1
    scopes: [store_v2_information_read_only]
"#;

pub const SCOPE_BODY: &str = r#"{"status":403,"title":"You don't have a required scope to access the endpoint","type":"/api-docs/getting-started/api-status-codes","errors":{}}"#;

pub const RATE_HEADERS: [&str; 4] = [
    "x-rate-limit-time-window-ms",
    "x-rate-limit-time-reset-ms",
    "x-rate-limit-requests-quota",
    "x-rate-limit-requests-left",
];

pub fn client() -> Client {
    bccreds::tls::install_crypto_provider();
    Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

pub async fn call(sim: &Simulator, method: Method, path: &str, token: Option<&str>) -> Response {
    let mut req = client().request(method, format!("{}{path}", sim.base_url()));
    if let Some(token) = token {
        req = req.header("X-Auth-Token", token);
    }
    req.send().await.expect("response")
}

pub async fn get(sim: &Simulator, path: &str, token: &str) -> Response {
    call(sim, Method::GET, path, Some(token)).await
}

pub fn header(resp: &Response, name: &str) -> u64 {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing on {}", resp.status()))
        .to_str()
        .expect("ascii")
        .parse()
        .expect("number")
}

pub fn assert_rate_headers(resp: &Response) {
    for name in RATE_HEADERS {
        header(resp, name);
    }
}

pub async fn json_of(resp: Response) -> Value {
    resp.json().await.expect("JSON body")
}

pub fn statuses(log: &[LoggedRequest]) -> Vec<u16> {
    log.iter().map(|r| r.status).collect()
}

/// A store `f1` with `store_faults`, a token `tok-f1-secret` with `token_faults` and a second
/// token without faults.
pub fn faulty(store_faults: &str, token_faults: &str) -> String {
    format!(
        "stores:\n  - hash: f1\n    name: Faulty\n    faults: {store_faults}\ntokens:\n  - token: tok-f1-secret\n    store: f1\n    scopes: [store_v2_information_read_only]\n    faults: {token_faults}\n  - token: tok-f1-other-secret\n    store: f1\n    scopes: [store_v2_information_read_only]\n"
    )
}
