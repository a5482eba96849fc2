//! The credentials page as `bccreds serve` renders it, over HTTP: every page of a store whose
//! credentials hold distinctive secrets contains none of them, a `<script>` label is text,
//! query parameters search, sort and filter, a failing credential shows its reason, unknown ids
//! are 404, every page has a strict CSP, and off loopback the page needs the token.

mod common;
mod store_support;

use std::path::Path;

use common::{serve, Manifest, Source};

const FIXTURE: &str = r#"
stores:
  - hash: abc123
    name: Production Store
    currencies: [{code: USD}]
    channels: [{id: 1, name: Main, currencies: [USD], locales: [en, fr]}]
tokens:
  - token: tok-WEBPAGE-LEAK-good
    store: abc123
    scopes: [store_v2_information_read_only, store_v2_products_read_only, store_channel_settings_read_only]
"#;

/// Every secret the manifests hold.
const SECRETS: [&str; 3] = [
    "tok-WEBPAGE-LEAK-good",
    "cs-WEBPAGE-LEAK-secret",
    "tok-WEBPAGE-LEAK-revoked",
];

/// A store with three credentials applied: one with mappings and a client secret, one whose
/// label is markup, and one whose token was revoked after it was stored.
async fn store(dir: &Path) -> String {
    let sim = common::simulator(FIXTURE).await;
    let m = dir.join("m");
    std::fs::create_dir(&m).expect("mkdir");
    Manifest::new("mapped")
        .label("Mapped Shop")
        .token(Source::env("BC_GOOD"))
        .client_id("client-1")
        .client_secret(Source::env("BC_CS"))
        .default_locale("en_US")
        .default_currency("USD")
        .locale_mapping(&[("en_US", "en"), ("fr_FR", "fr")])
        .currency_mapping(&[("USD", "USD")])
        .write(m.join("a.yaml"));
    Manifest::new("markup")
        .label("<script>alert(1)</script> Shop")
        .token(Source::env("BC_GOOD"))
        .write(m.join("b.yaml"));
    Manifest::new("revoked")
        .label("Revoked Shop")
        .token(Source::env("BC_LATER"))
        .write(m.join("c.yaml"));
    let store = format!("sqlite://{}", dir.join("s.db").display());
    let apply = |later: &str| {
        let out = common::bccreds()
            .args(["apply", "--reverify-interval", "0s", "--store", &store])
            .args(["--bigcommerce-base-url", &sim.base_url()])
            .arg(&m)
            .env("BC_GOOD", SECRETS[0])
            .env("BC_CS", SECRETS[1])
            .env("BC_LATER", later)
            .output()
            .expect("runs");
        common::all_output(&out)
    };
    let first = apply(SECRETS[0]);
    assert!(first.contains("3 created"), "{first}");
    // The third credential's token is replaced by one BigCommerce does not know: its row stays,
    // and the pass records why it failed.
    let second = apply(SECRETS[2]);
    assert!(second.contains("1 failed"), "{second}");
    store
}

fn client() -> reqwest::Client {
    bccreds::tls::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn get(base: &str, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = client()
        .get(format!("{base}{path}"))
        .send()
        .await
        .expect("response");
    let code = response.status().as_u16();
    let headers = response.headers().clone();
    (code, headers, response.text().await.expect("body"))
}

/// The row ids the list links to.
fn ids(html: &str) -> Vec<String> {
    html.split("href=\"/credentials/")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_string))
        .collect()
}

/// The labels of the list, in order.
fn labels(html: &str) -> Vec<String> {
    html.split("<td class=\"col-label\"><a href=\"/credentials/")
        .skip(1)
        .filter_map(|s| {
            s.split_once("\">")
                .and_then(|(_, rest)| rest.split("</a>").next())
        })
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_shows_what_is_stored_and_no_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let server = serve(&store, &["--listen", "127.0.0.1:0"]);
    let base = &server.base;

    let (code, headers, list) = get(base, "/").await;
    assert_eq!(code, 200);
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(
        list.contains("<p id=\"count\">3 of 3 credentials</p>"),
        "{list}"
    );
    // The markup label is text, escaped by the template engine.
    assert!(
        list.contains("&lt;script&gt;alert(1)&lt;/script&gt; Shop"),
        "{list}"
    );
    assert!(!list.contains("<script>alert"), "{list}");
    assert_eq!(
        labels(&list),
        [
            "&lt;script&gt;alert(1)&lt;/script&gt; Shop",
            "Mapped Shop",
            "Revoked Shop"
        ]
    );

    // Every page, fragment and asset, free of secrets.
    let mut pages = vec![
        "/".to_string(),
        "/?partial=results".into(),
        "/?sort=reason&dir=desc".into(),
        "/assets/app.js".into(),
        "/assets/style.css".into(),
    ];
    pages.extend(ids(&list).iter().map(|id| format!("/credentials/{id}")));
    assert_eq!(pages.len(), 8);
    for path in &pages {
        let (code, _, body) = get(base, path).await;
        assert_eq!(code, 200, "{path}");
        for secret in SECRETS {
            assert!(!body.contains(secret), "{path} shows a secret");
        }
        assert!(!body.contains("<script>alert"), "{path}: {body}");
    }

    // Search, filters and sort are query parameters.
    let (_, _, found) = get(base, "/?q=mapped").await;
    assert_eq!(labels(&found), ["Mapped Shop"]);
    assert!(found.contains("1 of 3 credentials"), "{found}");
    let (_, _, failing) = get(base, "/?ready=false").await;
    assert_eq!(labels(&failing), ["Revoked Shop"]);
    assert!(
        failing.contains("<td class=\"col-reason\">InvalidToken</td>"),
        "{failing}"
    );
    let (_, _, desc) = get(base, "/?sort=label&dir=desc").await;
    assert_eq!(labels(&desc)[0], "Revoked Shop");
    assert!(desc.contains("aria-sort=\"descending\""), "{desc}");
    let (_, _, none) = get(base, "/?q=nothing-like-this").await;
    assert!(
        none.contains("No credentials match these filters (3 stored)"),
        "{none}"
    );
    let (_, _, fragment) = get(base, "/?partial=results&q=revoked").await;
    assert!(fragment.starts_with("<div id=\"results\""), "{fragment}");

    // The detail page: fields, mappings, whether secrets are set, and why it failed.
    let mapped = &ids(&found)[0];
    let (_, _, detail) = get(base, &format!("/credentials/{mapped}")).await;
    for part in [
        "<h1 id=\"title\">Mapped Shop</h1>",
        "<tr><td>en_US</td><td>en</td></tr>",
        "<tr><td>fr_FR</td><td>fr</td></tr>",
        "<tr><td>USD</td><td>USD</td></tr>",
        "<dt>Client secret</dt><dd><span class=\"badge set\">set</span></dd>",
        "<dt>Client ID</dt><dd>client-1</dd>",
        "<tr data-type=\"Ready\">",
        "Production Store",
    ] {
        assert!(detail.contains(part), "{part} missing: {detail}");
    }
    let revoked = &ids(&failing)[0];
    let (_, _, detail) = get(base, &format!("/credentials/{revoked}")).await;
    assert!(
        detail.contains("<td class=\"cond-reason\">InvalidToken</td>"),
        "{detail}"
    );

    for path in ["/credentials/99999", "/credentials/x%3Cb%3E", "/nothing"] {
        let (code, _, body) = get(base, path).await;
        assert_eq!(code, 404, "{path}");
        assert!(!body.contains("<b>"), "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_the_page_needs_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("s.db").display());
    // An empty store still serves (nothing stored yet), and creates nothing.
    let open = serve(&store, &["--listen", "0.0.0.0:0"]);
    let (code, _, body) = get(&open.base, "/").await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("--status-token"), "{body}");
    drop(open);
    assert!(!dir.path().join("s.db").exists());

    // A base64 token holds `+`, `/` and `=`, and `;` ends a cookie's value: none may break the
    // `?token=` flow, given raw or percent-encoded.
    let token = "page+TOK/EN;77=";
    let guarded = serve(&store, &["--listen", "0.0.0.0:0", "--status-token", token]);
    let base = &guarded.base;
    let (code, _, _) = get(base, "/?q=a").await;
    assert_eq!(code, 401);
    for given in [token.to_string(), "page%2BTOK%2FEN%3B77%3D".to_string()] {
        let (code, headers, _) = get(base, &format!("/?q=a&token={given}")).await;
        assert_eq!(code, 303, "?token={given}");
        assert_eq!(headers["location"], "/?q=a");
        let cookie = headers["set-cookie"].to_str().expect("cookie").to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        assert!(cookie.contains("; Path=/;"), "{cookie}");
        assert!(
            !cookie.contains("TOK"),
            "the cookie carries the token: {cookie}"
        );
        let response = client()
            .get(format!("{base}/?q=a"))
            .header("cookie", cookie.split(';').next().expect("pair"))
            .send()
            .await
            .expect("response");
        assert_eq!(response.status().as_u16(), 200);
        let body = response.text().await.expect("body");
        assert!(body.contains("No credentials stored yet"), "{body}");
    }
    for wrong in ["wrong", "page%20TOK/EN;77=", "page+TOK/EN"] {
        let (code, _, _) = get(base, &format!("/?token={wrong}")).await;
        assert_eq!(code, 401, "?token={wrong}");
    }
}

/// DNS rebinding: a page elsewhere that points its own name at 127.0.0.1 reaches the listener
/// with its name in `Host`. Without a token, only loopback names (and `--status-host` ones) are
/// answered, on `/status` and every page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_less_loopback_listener_refuses_other_host_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let server = serve(
        &store,
        &["--listen", "127.0.0.1:0", "--status-host", "pim.internal"],
    );
    let port = server.base.rsplit(':').next().expect("port").to_string();
    let with_host = |path: &'static str, host: String| {
        let base = server.base.clone();
        async move {
            let response = client()
                .get(format!("{base}{path}"))
                .header("host", host)
                .send()
                .await
                .expect("response");
            let code = response.status().as_u16();
            (code, response.text().await.expect("body"))
        }
    };
    for path in ["/status", "/", "/credentials/1", "/events"] {
        for host in [
            "rebind.attacker.example",
            "localhost.attacker.example",
            "10.1.2.3",
        ] {
            let (code, body) = with_host(path, format!("{host}:{port}")).await;
            assert_eq!(code, 421, "{path} for {host}: {body}");
            assert!(body.contains("--status-host"), "{body}");
            assert!(
                !body.contains("Mapped Shop") && !body.contains("abc123"),
                "{body}"
            );
        }
        if path == "/events" {
            continue;
        }
        for host in ["localhost", "127.0.0.1", "pim.internal"] {
            let (code, body) = with_host(path, format!("{host}:{port}")).await;
            assert_eq!(code, 200, "{path} for {host}: {body}");
        }
    }
    // /healthz carries nothing to steal and stays open to any name.
    let (code, _) = with_host("/healthz", "rebind.attacker.example".into()).await;
    assert_eq!(code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_pages_cannot_take_every_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("s.db").display());
    let server = serve(&store, &["--listen", "127.0.0.1:0"]);
    let base = &server.base;
    let client = client();
    let mut open = Vec::new();
    for _ in 0..bccreds::web::MAX_EVENT_STREAMS {
        let response = client
            .get(format!("{base}/events"))
            .send()
            .await
            .expect("stream");
        assert_eq!(response.status().as_u16(), 200);
        open.push(response);
    }
    let (code, _, body) = get(base, "/events").await;
    assert_eq!(code, 503, "{body}");
    // The probes and the page itself still answer.
    assert_eq!(get(base, "/healthz").await.0, 200);
    assert_eq!(get(base, "/").await.0, 200);
    // A page that goes away gives its place back.
    drop(open.pop());
    let mut again = 0;
    for _ in 0..50 {
        again = get_status(&client, &format!("{base}/events")).await;
        if again == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(again, 200);
}

/// The status of a request whose body is never read (an event stream does not end).
async fn get_status(client: &reqwest::Client, url: &str) -> u16 {
    client
        .get(url)
        .send()
        .await
        .expect("response")
        .status()
        .as_u16()
}

/// The list is paged: 50 rows unless `per_page` asks otherwise (at most 500), the count says
/// how many match and are stored, and the pager links keep the query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_is_read_one_page_at_a_time() {
    let db = store_support::sqlite().await;
    let store = db.store("").await;
    for i in 0..120 {
        let label = format!("Shop {i:03}");
        let key = format!("shop/s{i}");
        store
            .create(
                &store_support::credential(&label, "tok"),
                &store_support::ownership("gitops", &key),
            )
            .await
            .expect("create");
    }
    store.close().await;
    let server = serve(&db.url, &["--listen", "127.0.0.1:0"]);
    let base = &server.base;

    let (code, _, body) = get(base, "/").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(labels(&body).len(), 50);
    assert_eq!(labels(&body)[0], "Shop 000");
    assert!(
        body.contains("<p id=\"count\">120 of 120 credentials</p>"),
        "{body}"
    );
    assert!(body.contains("Rows 1–50 · page 1 of 3"), "{body}");
    assert!(
        body.contains("href=\"?sort=label&amp;dir=asc&amp;page=2\""),
        "{body}"
    );

    let (_, _, last) = get(base, "/?sort=label&dir=asc&page=3").await;
    assert_eq!(labels(&last).first().map(String::as_str), Some("Shop 100"));
    assert_eq!(labels(&last).len(), 20);
    assert!(last.contains("Rows 101–120 · page 3 of 3") && last.contains("rel=\"prev\""));
    assert!(!last.contains("rel=\"next\""), "{last}");

    // A page size past the cap is the cap; a search counts what matches, on its own pages.
    let (_, _, all) = get(base, "/?per_page=100000").await;
    assert_eq!(
        labels(&all).len(),
        120,
        "500 at most, and only 120 are stored"
    );
    let (_, _, found) = get(base, "/?q=shop+1&per_page=7&page=2").await;
    assert_eq!(
        labels(&found),
        ["Shop 107", "Shop 108", "Shop 109", "Shop 110", "Shop 111", "Shop 112", "Shop 113"]
    );
    assert!(
        found.contains("<p id=\"count\">20 of 120 credentials</p>"),
        "{found}"
    );
    assert!(
        found.contains("href=\"?q=shop+1&amp;sort=label&amp;dir=asc&amp;per_page=7&amp;page=3\""),
        "{found}"
    );
    // Past the last page: nothing, and the way back.
    let (code, _, past) = get(base, "/?page=99").await;
    assert_eq!(code, 200);
    assert!(
        labels(&past).is_empty() && past.contains("Go to the first page"),
        "{past}"
    );
    // The fragment the live filter fetches carries the pager too.
    let (_, _, part) = get(base, "/?partial=results&page=2").await;
    assert!(part.contains("Rows 51–100 · page 2 of 3"), "{part}");
}
