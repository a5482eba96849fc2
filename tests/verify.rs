//! Verification against the in-process BigCommerce simulator: every outcome and its message,
//! retries, rate limits, pacing, timeouts, and what must never be sent or printed.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bccreds::model::Reason;
use bccreds::secret::SecretValue;
use bccreds::simulator::{Fixture, Simulator};
use bccreds::verify::{
    BigCommerceClient, ClientOptions, Outcome, RetryPolicy, Verifier, VerifyRequest,
};

const TOKEN: &str = "tok-VERIFY-5b1f0c9e77aa";

fn fixture(extra_store: &str, extra_token: &str) -> Fixture {
    let text = format!(
        r#"
stores:
  - hash: abc123
    name: Demo Store
    domain: demo.example
    currencies:
      - code: USD
      - code: EUR
      - code: JPY
        enabled: false
    channels:
      - id: 1
        name: Demo Storefront
        currencies: [USD, EUR]
        locales: [en, fr, en-US]
{extra_store}
tokens:
  - token: {TOKEN}
    store: abc123
    scopes: [store_v2_information_read_only, store_v2_products_read_only, store_channel_settings_read_only]
{extra_token}
"#
    );
    Fixture::from_yaml(&text, "test").expect("fixture")
}

fn client(sim: &Simulator) -> BigCommerceClient {
    client_with(sim, Duration::from_secs(5), 3)
}

fn client_with(sim: &Simulator, timeout: Duration, retries: u32) -> BigCommerceClient {
    BigCommerceClient::new(&ClientOptions {
        base_url: sim.base_url(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: timeout,
        retry: RetryPolicy {
            max_retries: retries,
            base_delay: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
    })
    .expect("client")
}

fn request(hash: &str, token: &str) -> VerifyRequest {
    VerifyRequest {
        store_hash: hash.to_string(),
        token: SecretValue::new(token),
        locale_mapping: BTreeMap::new(),
        currency_mapping: BTreeMap::new(),
    }
}

fn count(sim: &Simulator, path: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path.starts_with(path))
        .count()
}

#[tokio::test]
async fn a_good_token_verifies_and_reports_the_store() {
    let sim = common::start_fixture(fixture("", "")).await;
    let mut req = request("abc123", TOKEN);
    req.currency_mapping.insert("EUR".into(), "EUR".into());
    req.locale_mapping.insert("fr_FR".into(), "fr".into());
    let outcome = client(&sim).verify(&req).await;
    let Outcome::Verified(store) = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(store.info.name.as_deref(), Some("Demo Store"));
    assert_eq!(store.info.hash, "abc123");
    assert_eq!(
        store.currencies,
        ["USD", "EUR"],
        "disabled currencies are not offered"
    );
    assert!(
        store.locales.contains(&"fr".to_string()),
        "{:?}",
        store.locales
    );
    assert_eq!(store.capabilities, ["products:read"]);
    let msg = outcome.message("shop/prod", "abc123");
    assert!(
        msg.contains("verified with BigCommerce store \"Demo Store\" (abc123)"),
        "{msg}"
    );
    for path in [
        "v2/store",
        "v2/currencies",
        "v3/settings/store/locale",
        "graphql",
        "v3/catalog/summary",
    ] {
        assert_eq!(count(&sim, path), 1, "{path}");
    }
}

#[tokio::test]
async fn a_wrong_token_is_invalid() {
    let sim = common::start_fixture(fixture("", "")).await;
    let outcome = client(&sim).verify(&request("abc123", "wrong-token")).await;
    assert_eq!(outcome, Outcome::InvalidToken);
    let msg = outcome.message("shop/prod", "abc123");
    assert!(
        msg.contains("BigCommerce rejected the access token for store abc123 (401)"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_read_only_token_without_products_is_forbidden() {
    let sim = common::start_fixture(fixture(
        "",
        "  - token: info-only\n    store: abc123\n    scopes: [store_v2_information_read_only]\n",
    ))
    .await;
    let outcome = client(&sim).verify(&request("abc123", "info-only")).await;
    assert_eq!(
        outcome,
        Outcome::Forbidden {
            endpoint: "v3/catalog/summary".into()
        }
    );
    let msg = outcome.message("shop/prod", "abc123");
    assert!(msg.contains("lacks the Products scope"), "{msg}");
}

#[tokio::test]
async fn an_unknown_store_is_not_found() {
    let sim = common::start_fixture(fixture("", "")).await;
    let outcome = client(&sim).verify(&request("nosuch1", TOKEN)).await;
    assert_eq!(outcome, Outcome::StoreNotFound);
    let msg = outcome.message("shop/prod", "nosuch1");
    assert!(
        msg.contains("BigCommerce has no store nosuch1 (404)"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_currency_mapping_target_the_store_lacks_lists_its_currencies() {
    let sim = common::start_fixture(fixture("", "")).await;
    let mut req = request("abc123", TOKEN);
    req.currency_mapping.insert("USD".into(), "USD".into());
    req.currency_mapping.insert("JPY".into(), "JPY".into());
    let outcome = client(&sim).verify(&req).await;
    assert_eq!(outcome.reason(), Reason::MappingInvalid);
    assert_eq!(
        outcome.message("shop/prod", "abc123"),
        "shop/prod: store abc123 does not offer currencyMapping JPY -> JPY; the store's currencies: USD, EUR"
    );
}

#[tokio::test]
async fn a_locale_mapping_target_the_store_lacks_lists_its_locales() {
    let sim = common::start_fixture(fixture("", "")).await;
    let mut req = request("abc123", TOKEN);
    req.locale_mapping.insert("de_DE".into(), "de".into());
    let outcome = client(&sim).verify(&req).await;
    assert_eq!(outcome.reason(), Reason::MappingInvalid);
    let msg = outcome.message("shop/prod", "abc123");
    assert!(msg.contains("localeMapping de_DE -> de"), "{msg}");
    assert!(msg.contains("the store's locales: en, fr, en-US"), "{msg}");
}

#[tokio::test]
async fn no_currencies_is_204_and_an_empty_list() {
    let sim = common::start_fixture(fixture(
        "  - hash: empty1\n    name: Empty\n",
        "  - token: empty-token\n    store: empty1\n    scopes: [store_v2_information_read_only, store_v2_products_read_only]\n",
    ))
    .await;
    let outcome = client(&sim).verify(&request("empty1", "empty-token")).await;
    let Outcome::Verified(store) = &outcome else {
        panic!("{outcome:?}");
    };
    assert!(store.currencies.is_empty());
    // Without a currency mapping, the currencies are not asked for at all.
    assert_eq!(count(&sim, "v2/currencies"), 0);
    let mut req = request("empty1", "empty-token");
    req.currency_mapping.insert("USD".into(), "USD".into());
    let msg = client(&sim).verify(&req).await.message("x/y", "empty1");
    assert!(msg.ends_with("the store's currencies: none"), "{msg}");
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.path == "v2/currencies" && r.status == 204));
}

#[tokio::test]
async fn two_500s_then_200_verifies_after_three_requests() {
    let sim = common::start_fixture(fixture(
        "",
        "  - token: flaky\n    store: abc123\n    scopes: [store_v2_information_read_only, store_v2_products_read_only]\n    faults:\n      - {path: v2/store, status: 500, times: 2}\n",
    ))
    .await;
    let outcome = client(&sim).verify(&request("abc123", "flaky")).await;
    assert!(outcome.is_verified(), "{outcome:?}");
    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|r| r.path == "v2/store")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
}

#[tokio::test]
async fn endless_500s_are_unreachable_after_bounded_retries() {
    let sim = common::start_fixture(fixture(
        "",
        "  - token: broken\n    store: abc123\n    scopes: [store_v2_information_read_only]\n    faults:\n      - {status: 500}\n",
    ))
    .await;
    let outcome = client_with(&sim, Duration::from_secs(5), 3)
        .verify(&request("abc123", "broken"))
        .await;
    assert_eq!(outcome.reason(), Reason::Unreachable);
    assert_eq!(count(&sim, "v2/store"), 4, "one attempt and three retries");
    let msg = outcome.message("shop/prod", "abc123");
    assert!(msg.contains("v2/store: HTTP 500 after 4 attempts"), "{msg}");
    assert!(msg.contains("nothing was changed"), "{msg}");
}

#[tokio::test]
async fn a_429_is_retried_after_the_announced_reset() {
    let sim = common::start_fixture(fixture(
        "",
        "  - token: limited\n    store: abc123\n    scopes: [store_v2_information_read_only, store_v2_products_read_only]\n    faults:\n      - {path: v2/store, status: 429, times: 1, resetMs: 300}\n",
    ))
    .await;
    let outcome = client(&sim).verify(&request("abc123", "limited")).await;
    assert!(outcome.is_verified(), "{outcome:?}");
    let log: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "v2/store")
        .collect();
    assert_eq!(log.iter().map(|r| r.status).collect::<Vec<_>>(), [429, 200]);
    let waited = log[1].at_ms - log[0].at_ms;
    assert!(waited >= 300, "retried after {waited} ms");
}

#[tokio::test]
async fn a_hung_response_times_out_as_unreachable() {
    let sim = common::start_fixture(fixture(
        "",
        "  - token: slow\n    store: abc123\n    scopes: [store_v2_information_read_only]\n    faults:\n      - {latencyMs: 10000}\n",
    ))
    .await;
    let outcome = client_with(&sim, Duration::from_millis(200), 1)
        .verify(&request("abc123", "slow"))
        .await;
    assert_eq!(outcome.reason(), Reason::Unreachable);
    let msg = outcome.message("shop/prod", "abc123");
    assert!(
        msg.contains("no answer within 200ms after 2 attempts"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_dropped_connection_is_retried_then_unreachable() {
    let sim = common::start_fixture(fixture(
        "",
        "  - token: dropped\n    store: abc123\n    scopes: [store_v2_information_read_only]\n    faults:\n      - {dropConnection: true}\n",
    ))
    .await;
    let outcome = client_with(&sim, Duration::from_secs(5), 1)
        .verify(&request("abc123", "dropped"))
        .await;
    assert_eq!(outcome.reason(), Reason::Unreachable, "{outcome:?}");
    assert_eq!(count(&sim, "v2/store"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_verifications_of_one_store_never_trip_its_quota() {
    let sim = common::start_fixture(fixture(
        "  - hash: busy1\n    name: Busy\n    quota: 20\n    windowMs: 1000\n    currencies: [{code: USD}]\n",
        "  - token: busy-token\n    store: busy1\n    scopes: [store_v2_information_read_only, store_v2_products_read_only, store_channel_settings_read_only]\n",
    ))
    .await;
    let client = Arc::new(client(&sim));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut req = request("busy1", "busy-token");
            // Both mappings: every call of the sequence is made.
            req.currency_mapping.insert("USD".into(), "USD".into());
            req.locale_mapping.insert("en_US".into(), "en".into());
            client.verify(&req).await
        }));
    }
    for task in tasks {
        let outcome = task.await.expect("task");
        assert!(outcome.is_verified(), "{outcome:?}");
    }
    let log = sim.requests();
    assert_eq!(log.len(), 250, "five calls per verification");
    let limited = log.iter().filter(|r| r.status == 429).count();
    assert_eq!(limited, 0, "429 responses seen by the simulator");
}

#[test]
fn unsafe_base_urls_are_refused() {
    for url in [
        "http://api.bigcommerce.com",
        "http://192.0.2.1:8080",
        "ftp://127.0.0.1",
    ] {
        let opts = ClientOptions {
            base_url: url.into(),
            ..ClientOptions::default()
        };
        assert!(BigCommerceClient::new(&opts).is_err(), "{url}");
    }
}

#[tokio::test]
async fn a_manifest_without_mappings_costs_two_requests() {
    let sim = common::start_fixture(fixture("", "")).await;
    let outcome = client(&sim).verify(&request("abc123", TOKEN)).await;
    assert!(outcome.is_verified(), "{outcome:?}");
    let mut paths: Vec<String> = sim.requests().into_iter().map(|r| r.path).collect();
    paths.sort();
    assert_eq!(paths, ["v2/store", "v3/catalog/summary"]);

    // A locale mapping adds the locale calls, a currency mapping the currencies.
    sim.clear_requests();
    let mut req = request("abc123", TOKEN);
    req.locale_mapping.insert("en_US".into(), "en".into());
    assert!(client(&sim).verify(&req).await.is_verified());
    assert_eq!(count(&sim, "v2/currencies"), 0);
    assert_eq!(count(&sim, "v3/settings/store/locale"), 1);
    assert_eq!(count(&sim, "graphql"), 1);
    sim.clear_requests();
    let mut req = request("abc123", TOKEN);
    req.currency_mapping.insert("USD".into(), "USD".into());
    assert!(client(&sim).verify(&req).await.is_verified());
    assert_eq!(count(&sim, "v2/currencies"), 1);
    assert_eq!(count(&sim, "graphql"), 0);
}
