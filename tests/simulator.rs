//! The BigCommerce simulator over real HTTP: response shapes, tokens, scopes, unknown stores,
//! paging, the request log and the admin endpoints.

mod common;
mod simulator_support;

use bccreds::simulator::Fixture;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

use simulator_support::*;

#[tokio::test]
async fn v2_store_has_the_real_shape() {
    let sim = common::simulator(FIXTURE).await;
    let resp = get(&sim, "/stores/abc123/v2/store", "tok-full-secret").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "x-rate-limit-requests-quota"), 150);
    assert_eq!(header(&resp, "x-rate-limit-time-window-ms"), 30_000);
    assert_eq!(header(&resp, "x-rate-limit-requests-left"), 149);
    let body = json_of(resp).await;
    assert_eq!(body["id"], json!("abc123"));
    assert_eq!(body["name"], json!("Production Store"));
    assert_eq!(body["domain"], json!("shop.example.com"));
    assert_eq!(body["secure_url"], json!("https://shop.example.com"));
    assert_eq!(body["status"], json!("live"));
    assert_eq!(body["language"], json!("en"));
    assert_eq!(body["currency"], json!("USD"));
    assert_eq!(body["default_channel_id"], json!(1));
    assert_eq!(body["logo"], json!([]));
    assert_eq!(body["features"]["multi_storefront_enabled"], json!(false));

    let eu = json_of(get(&sim, "/stores/eu4567/v2/store", "tok-eu-secret").await).await;
    assert_eq!(eu["features"]["multi_storefront_enabled"], json!(true));
    assert_eq!(eu["domain"], json!("store-eu4567.mybigcommerce.com"));
}

#[tokio::test]
async fn bad_missing_and_foreign_tokens_get_401() {
    let sim = common::simulator(FIXTURE).await;
    let expected = json!({"status":401,"title":"Unauthorized","type":"/api-docs/getting-started/api-status-codes","errors":{}});
    for token in [None, Some("wrong"), Some(""), Some("tok-eu-secret")] {
        let resp = call(&sim, Method::GET, "/stores/abc123/v2/time", token).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(json_of(resp).await, expected);
    }
    // The right token on its own store works, so the 401s above were about the token.
    let ok = get(&sim, "/stores/eu4567/v2/time", "tok-eu-secret").await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(json_of(ok).await["time"].as_u64().expect("time") > 1_700_000_000);
}

#[tokio::test]
async fn a_missing_scope_gets_the_exact_403() {
    let sim = common::simulator(FIXTURE).await;
    for path in [
        "v2/store",
        "v2/currencies",
        "v3/settings/store/locale",
        "v3/channels",
        "v3/channels/1/currency-assignments",
        "v3/catalog/summary",
    ] {
        let resp = get(
            &sim,
            &format!("/stores/abc123/{path}"),
            "tok-noscope-secret",
        )
        .await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(resp.text().await.expect("body"), SCOPE_BODY);
    }
    // v2/time needs no scope.
    let time = get(&sim, "/stores/abc123/v2/time", "tok-noscope-secret").await;
    assert_eq!(time.status(), StatusCode::OK);
    // The EU token has no products scope.
    let summary = get(&sim, "/stores/eu4567/v3/catalog/summary", "tok-eu-secret").await;
    assert_eq!(summary.status(), StatusCode::FORBIDDEN);
    // Read-only scopes refuse writes, but a GraphQL query is a read.
    let write = call(
        &sim,
        Method::PUT,
        "/stores/abc123/v2/store",
        Some("tok-full-secret"),
    )
    .await;
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    let head = call(
        &sim,
        Method::HEAD,
        "/stores/abc123/v2/store",
        Some("tok-full-secret"),
    )
    .await;
    assert_eq!(head.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_store_is_404_or_the_configured_403() {
    let sim = common::simulator(FIXTURE).await;
    let resp = get(&sim, "/stores/zzz999/v2/store", "tok-full-secret").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        json_of(resp).await,
        json!({"status":404,"title":"Not found","type":"/api-docs/getting-started/api-status-codes","errors":{}})
    );
    assert_eq!(sim.requests()[0].store, "zzz999");
    assert_eq!(sim.requests()[0].status, 404);

    let sim403 = common::simulator(&format!("unknownStoreStatus: 403\n{FIXTURE}")).await;
    let resp = get(&sim403, "/stores/zzz999/v2/store", "tok-full-secret").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(resp.text().await.expect("body"), SCOPE_BODY);
}

#[tokio::test]
async fn currencies_are_paged_and_an_empty_page_is_204() {
    let sim = common::simulator(FIXTURE).await;
    let page = |n: u32| format!("/stores/abc123/v2/currencies?page={n}&limit=2");
    let first = json_of(get(&sim, &page(1), "tok-full-secret").await).await;
    let codes: Vec<&str> = first
        .as_array()
        .expect("bare array")
        .iter()
        .map(|c| c["currency_code"].as_str().expect("code"))
        .collect();
    assert_eq!(codes, ["USD", "EUR"]);
    assert_eq!(first[0]["id"], json!(1));
    assert_eq!(first[0]["is_default"], json!(true));
    assert_eq!(first[1]["is_default"], json!(false));
    assert_eq!(first[1]["currency_exchange_rate"], json!("0.9210000000"));
    assert_eq!(first[0]["currency_exchange_rate"], json!("1.0000000000"));
    assert!(first[0]["last_updated"]
        .as_str()
        .expect("date")
        .ends_with("+0000"));

    let second = json_of(get(&sim, &page(2), "tok-full-secret").await).await;
    assert_eq!(second.as_array().map(Vec::len), Some(1));
    assert_eq!(second[0]["currency_code"], json!("GBP"));
    assert_eq!(second[0]["enabled"], json!(false));

    let third = get(&sim, &page(3), "tok-full-secret").await;
    assert_eq!(third.status(), StatusCode::NO_CONTENT);
    assert!(third.bytes().await.expect("body").is_empty());

    let all = json_of(get(&sim, "/stores/abc123/v2/currencies", "tok-full-secret").await).await;
    assert_eq!(all.as_array().map(Vec::len), Some(3));

    let empty = get(&sim, "/stores/empty1/v2/currencies", "tok-empty-secret").await;
    assert_eq!(empty.status(), StatusCode::NO_CONTENT);
    assert!(empty.bytes().await.expect("body").is_empty());
}

#[tokio::test]
async fn locale_channels_assignments_graphql_and_summary() {
    let sim = common::simulator(FIXTURE).await;
    let locale = json_of(
        get(
            &sim,
            "/stores/eu4567/v3/settings/store/locale",
            "tok-eu-secret",
        )
        .await,
    )
    .await;
    assert_eq!(
        locale,
        json!({"data":{"default_shopper_language":"fr","shopper_language_selection_method":"default_shopper_language","store_country":"United States"},"meta":{}})
    );

    let channels = json_of(get(&sim, "/stores/eu4567/v3/channels", "tok-eu-secret").await).await;
    assert_eq!(channels["data"][1]["id"], json!(2));
    assert_eq!(channels["data"][0]["type"], json!("storefront"));
    assert_eq!(channels["data"][0]["platform"], json!("bigcommerce"));
    assert_eq!(channels["meta"]["pagination"]["total"], json!(2));

    let single = json_of(get(&sim, "/stores/abc123/v3/channels", "tok-full-secret").await).await;
    assert_eq!(single["data"][0]["id"], json!(1));
    assert_eq!(single["data"][0]["name"], json!("Production Store"));

    let assigned = json_of(
        get(
            &sim,
            "/stores/eu4567/v3/channels/2/currency-assignments",
            "tok-eu-secret",
        )
        .await,
    )
    .await;
    assert_eq!(
        assigned,
        json!({"data":{"channel_id":2,"enabled_currencies":["CHF","EUR"],"default_currency":"EUR"},"meta":{}})
    );
    let defaulted = json_of(
        get(
            &sim,
            "/stores/abc123/v3/channels/1/currency-assignments",
            "tok-full-secret",
        )
        .await,
    )
    .await;
    assert_eq!(
        defaulted["data"]["enabled_currencies"],
        json!(["USD", "EUR"])
    );
    assert_eq!(defaulted["data"]["default_currency"], json!("USD"));
    let missing = get(
        &sim,
        "/stores/eu4567/v3/channels/9/currency-assignments",
        "tok-eu-secret",
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let graphql = |body: Value, hash: &'static str, token: &'static str| {
        let url = format!("{}/stores/{hash}/graphql", sim.base_url());
        async move {
            let resp = client()
                .post(url)
                .header("X-Auth-Token", token)
                .json(&body)
                .send()
                .await
                .expect("response");
            assert_eq!(resp.status(), StatusCode::OK);
            let body = json_of(resp).await;
            body["data"]["store"]["locales"]["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| {
                    let n = &e["node"];
                    assert_eq!(n["status"], json!("ACTIVE"));
                    format!(
                        "{}{}",
                        n["code"].as_str().expect("code"),
                        if n["isDefault"] == json!(true) {
                            "*"
                        } else {
                            ""
                        }
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let literal = r#"query { store { locales(input: {channelId: "bc/store/channel/1"}) { edges { node { code status isDefault } } } } }"#;
    assert_eq!(
        graphql(json!({"query": literal}), "eu4567", "tok-eu-secret").await,
        ["de*", "fr", "en-GB", "nl"]
    );
    let with_vars = json!({
        "query": "query($c: ID!) { store { locales(input: {channelId: $c}) { edges { node { code status isDefault } } } } }",
        "variables": {"c": "bc/store/channel/2"}
    });
    assert_eq!(graphql(with_vars, "eu4567", "tok-eu-secret").await, ["fr*"]);
    assert_eq!(
        graphql(json!({"query": literal}), "abc123", "tok-full-secret").await,
        ["en*"]
    );

    let summary =
        json_of(get(&sim, "/stores/abc123/v3/catalog/summary", "tok-full-secret").await).await;
    assert_eq!(summary["data"]["inventory_count"], json!(42));
    assert!(summary["meta"].is_object());
}

#[tokio::test]
async fn the_request_log_and_the_admin_endpoints() {
    let sim = common::simulator(FIXTURE).await;
    get(&sim, "/stores/abc123/v2/store", "tok-full-secret").await;
    get(
        &sim,
        "/stores/abc123/v2/currencies?page=2&limit=2",
        "tok-full-secret",
    )
    .await;
    call(&sim, Method::POST, "/stores/abc123/v2/time", Some("nope")).await;
    // Outside /stores/ is 404 and not a store request.
    let outside = call(&sim, Method::GET, "/v2/store", Some("tok-full-secret")).await;
    assert_eq!(outside.status(), StatusCode::NOT_FOUND);

    let log = sim.requests();
    let summary: Vec<(u64, &str, &str, &str, u16)> = log
        .iter()
        .map(|r| {
            (
                r.seq,
                r.method.as_str(),
                r.store.as_str(),
                r.path.as_str(),
                r.status,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "GET", "abc123", "v2/store", 200),
            (2, "GET", "abc123", "v2/currencies", 200),
            (3, "POST", "abc123", "v2/time", 401),
        ]
    );
    assert!(log.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));

    let admin = client()
        .get(format!("{}/__admin/requests", sim.base_url()))
        .send()
        .await
        .expect("admin");
    assert_eq!(admin.status(), StatusCode::OK);
    let text = admin.text().await.expect("body");
    assert!(!text.contains("secret"), "a token leaked: {text}");
    assert!(!text.contains("nope"), "a token leaked: {text}");
    let listed: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(listed, serde_json::to_value(&log).expect("log as JSON"));
    assert_eq!(listed[0]["atMs"], json!(log[0].at_ms));

    let cleared = client()
        .delete(format!("{}/__admin/requests", sim.base_url()))
        .send()
        .await
        .expect("admin");
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert!(sim.requests().is_empty());
    get(&sim, "/stores/abc123/v2/time", "tok-full-secret").await;
    assert_eq!(sim.requests()[0].seq, 4);
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn the_example_fixture_serves_the_example_manifests() {
    let fixture =
        Fixture::load("examples/simulator/fixture.yaml".as_ref()).expect("example fixture");
    let sim = common::start_fixture(fixture).await;
    for (hash, token) in [
        ("abc123", "demo-production-access-token"),
        ("eu4567", "demo-europe-access-token"),
        ("stg890", "demo-staging-access-token"),
        ("out321", "demo-outlet-access-token"),
    ] {
        for path in [
            "v2/store",
            "v3/settings/store/locale",
            "v3/channels",
            "v3/catalog/summary",
        ] {
            let resp = get(&sim, &format!("/stores/{hash}/{path}"), token).await;
            assert_eq!(resp.status(), StatusCode::OK, "{hash} {path}");
        }
    }
    let abc = json_of(
        get(
            &sim,
            "/stores/abc123/v2/currencies",
            "demo-production-access-token",
        )
        .await,
    )
    .await;
    let codes: Vec<&str> = abc
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["currency_code"].as_str())
        .collect();
    assert!(codes.starts_with(&["USD", "EUR"]), "{codes:?}");
    let eu = json_of(
        get(
            &sim,
            "/stores/eu4567/v3/channels/1/currency-assignments",
            "demo-europe-access-token",
        )
        .await,
    )
    .await;
    assert_eq!(
        eu["data"]["enabled_currencies"],
        json!(["EUR", "GBP", "CHF"])
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = common::simulator(FIXTURE).await;
    let url = format!("{}/stores/abc123/v2/time", sim.base_url());
    sim.shutdown().await;
    let fresh = Client::builder().build().expect("client");
    assert!(fresh.get(url).send().await.is_err());
}
