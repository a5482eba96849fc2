//! bccreds and the real Laravel framework on the connector's credential table, on every
//! configured engine (SQLite always; MariaDB and PostgreSQL with `BCCREDS_TEST_MYSQL_URL` /
//! `BCCREDS_TEST_POSTGRES_URL`).
//!
//! UnoPim's side is `tests/laravel/eloquent.php`: Debian's php-laravel-framework (Laravel 8),
//! whose schema builder creates the tables as the connector's migration does and whose Eloquent
//! model, with the connector's `encrypted` and `array` casts, writes, reads and deletes rows as
//! the credentials page does. bccreds' side is the built `bccreds` binary (and, for the daemons'
//! case, an in-process `Reconciler`) against the in-process BigCommerce simulator.
//!
//! Where `php` or the framework is missing these tests say so and pass, so that a machine with
//! only a Rust toolchain passes `cargo test`; `.ci/run` installs them and sets
//! `BCCREDS_REQUIRE_LARAVEL=1`, and then a missing PHP or Laravel fails the tests.

mod common;
mod store_support;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bccreds::reconcile::{OnRevoked, PassReport, Reconciler, ReconcilerConfig};
use bccreds::simulator::{Fixture, Simulator};
use bccreds::source::FileSource;
use bccreds::validate::ValidateOptions;
use bccreds::verify::{BigCommerceClient, ClientOptions, RetryPolicy};
use serde_json::{json, Value};
use store_support::{each_engine, Engine, TestDb, TEST_APP_KEY};

/// Where Debian's php-laravel-framework puts the framework's autoloader.
const LARAVEL_AUTOLOAD: &str = "/usr/share/php/Illuminate/autoload.php";
/// The Debian packages these tests need.
const PACKAGES: &str = "php-cli php-laravel-framework php-sqlite3 php-mysql php-pgsql";

const FIXTURE: &str = r#"
stores:
  - hash: abc123
    name: Production
    currencies: [{code: USD}, {code: EUR}]
    channels:
      - {id: 1, name: Production, currencies: [USD, EUR], locales: [en, fr, de]}
  - hash: def456
    name: Outlet
tokens:
  - token: tok-prod-1
    store: abc123
    scopes: [store_v2_information_read_only, store_v2_products_read_only,
             store_channel_settings_read_only]
  - token: tok-prod-2
    store: abc123
    scopes: [store_v2_information_read_only, store_v2_products_read_only,
             store_channel_settings_read_only]
  - token: tok-hand
    store: abc123
    scopes: [store_v2_information_read_only, store_v2_products_read_only,
             store_channel_settings_read_only]
  - token: tok-outlet
    store: def456
    scopes: [store_v2_information_read_only, store_v2_products_read_only]
"#;

/// The owner id the `bccreds` runs of these tests use.
const OWNER: &str = "gitops";

/// The PHP program playing UnoPim.
fn program() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/laravel/eloquent.php")
}

/// Whether PHP with Laravel and the PDO drivers can run; without them, a loud note (or a
/// failure when `BCCREDS_REQUIRE_LARAVEL` is set, as `.ci/run` does).
fn have_laravel() -> bool {
    let probe = format!(
        "require '{LARAVEL_AUTOLOAD}'; \
         $missing = []; \
         foreach (['pdo_sqlite', 'pdo_mysql', 'pdo_pgsql'] as $e) {{ \
             if (!extension_loaded($e)) {{ $missing[] = $e; }} \
         }} \
         if (!class_exists('Illuminate\\Database\\Capsule\\Manager')) {{ \
             $missing[] = 'Illuminate\\Database\\Capsule\\Manager'; \
         }} \
         echo $missing ? 'missing: ' . implode(', ', $missing) : 'ok';"
    );
    let problem = if !Path::new(LARAVEL_AUTOLOAD).exists() {
        Some(format!(
            "the Laravel autoloader {LARAVEL_AUTOLOAD} does not exist"
        ))
    } else {
        match Command::new("php").args(["-r", &probe]).output() {
            Err(err) => Some(format!("`php` cannot run ({err})")),
            Ok(out) => {
                let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if out.status.success() && said == "ok" {
                    None
                } else {
                    Some(format!(
                        "PHP cannot load Laravel with the PDO drivers: {said} {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ))
                }
            }
        }
    };
    let Some(problem) = problem else { return true };
    assert!(
        std::env::var_os("BCCREDS_REQUIRE_LARAVEL").is_none(),
        "BCCREDS_REQUIRE_LARAVEL is set but {problem}; install it with \
         `apt-get install -y {PACKAGES}`"
    );
    static NOTE: std::sync::Once = std::sync::Once::new();
    // Written past the test harness's capture so that a plain `cargo test` shows it.
    NOTE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "note: Laravel/Eloquent interop tests skipped: {problem} (apt-get install {PACKAGES})"
        );
    });
    false
}

/// Runs one action of the PHP program against `db` with `prefix` and returns its JSON answer;
/// panics with PHP's stderr when Laravel fails.
async fn laravel(db: &TestDb, prefix: &str, action: &str, extra: Value) -> Value {
    let mut request = json!({
        "action": action,
        "url": db.url,
        "prefix": prefix,
        "app_key": TEST_APP_KEY,
    });
    if let Value::Object(more) = extra {
        request.as_object_mut().expect("object").extend(more);
    }
    let engine = db.engine;
    let input = serde_json::to_vec(&request).expect("json");
    let action_name = action.to_string();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("php")
            .arg(program())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run php ({err}); install {PACKAGES}"));
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&input)
            .expect("php reads its request");
        child.wait_with_output().expect("php runs")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "[{engine:?}] Laravel's `{action_name}` failed (exit {:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "[{engine:?}] Laravel's `{action_name}` printed no JSON ({err}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Every row as Eloquent reads it (secrets decrypted by the `encrypted` cast).
async fn laravel_rows(db: &TestDb, prefix: &str) -> Vec<Value> {
    let answer = laravel(db, prefix, "read", json!({})).await;
    answer["rows"].as_array().expect("rows").clone()
}

/// The row with `label` among `rows`, or a panic naming what Laravel saw.
fn row<'a>(engine: Engine, rows: &'a [Value], label: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["label"] == label)
        .unwrap_or_else(|| {
            panic!("[{engine:?}] Laravel does not see a row labelled `{label}`; it sees {rows:#?}")
        })
}

/// The labels of `rows`, sorted (bccreds creates rows concurrently, so ids do not follow files).
fn labels(rows: &[Value]) -> Vec<String> {
    let mut labels: Vec<String> = rows
        .iter()
        .map(|r| r["label"].as_str().unwrap_or_default().to_string())
        .collect();
    labels.sort();
    labels
}

/// A mapping as Laravel's `array` cast returns it: PHP prints an empty array as `[]`, so an
/// empty JSON list and an empty object are the same empty mapping.
fn mapping(value: &Value) -> BTreeMap<String, String> {
    match value {
        Value::Null => BTreeMap::new(),
        Value::Array(items) if items.is_empty() => BTreeMap::new(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect(),
        other => panic!("not a mapping: {other}"),
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A manifest; `meta` and `spec` are extra indented YAML lines for metadata and spec.
fn manifest(
    name: &str,
    label: &str,
    hash: &str,
    token_file: &str,
    meta: &str,
    spec: &str,
) -> String {
    let token = if token_file.is_empty() {
        String::new()
    } else {
        format!("  accessToken:\n    file: {token_file}\n")
    };
    format!(
        "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\n\
         metadata:\n  name: {name}\n  namespace: shop\n{meta}\
         spec:\n  label: {label}\n  apiUrl: https://api.bigcommerce.com/stores/{hash}/\n\
         {token}{spec}"
    )
}

/// The simulator, a manifest directory and a secrets directory.
struct World {
    sim: Simulator,
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        let sim = Simulator::start(
            Fixture::from_yaml(FIXTURE, "t").expect("fixture"),
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .expect("sim");
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("manifests")).expect("mkdir");
        fs::create_dir_all(dir.path().join("secrets")).expect("mkdir");
        let world = World { sim, dir };
        for (file, value) in [
            ("prod", "tok-prod-1"),
            ("prod-2", "tok-prod-2"),
            ("outlet", "tok-outlet"),
            ("prod-secret", "secret-prod"),
        ] {
            world.secret(file, value);
        }
        world
    }

    fn manifests(&self) -> PathBuf {
        self.dir.path().join("manifests")
    }

    fn secrets(&self) -> PathBuf {
        self.dir.path().join("secrets")
    }

    fn secret(&self, file: &str, value: &str) {
        fs::write(self.secrets().join(file), value).expect("secret");
    }

    fn write(&self, file: &str, text: &str) {
        fs::write(self.manifests().join(file), text).expect("write manifest");
    }

    fn remove(&self, file: &str) {
        fs::remove_file(self.manifests().join(file)).expect("rm manifest");
    }

    /// Runs `bccreds COMMAND --store … --table-prefix … --app-key … ARGS…`.
    async fn bccreds(&self, db: &TestDb, prefix: &str, command: &str, args: &[&str]) -> Output {
        let mut cmd = common::bccreds();
        cmd.env_remove("APP_KEY")
            .env_remove("APP_PREVIOUS_KEYS")
            .arg(command)
            .args(["--store", &db.url])
            .args(["--table-prefix", prefix])
            .args(["--app-key", TEST_APP_KEY])
            .args(args);
        tokio::task::spawn_blocking(move || cmd.output().expect("bccreds runs"))
            .await
            .expect("join")
    }

    /// `bccreds apply --output json` over the manifests; panics unless it exits 0 with
    /// `expected` as its summary (created, updated, deleted, unchanged, failed).
    async fn apply(
        &self,
        db: &TestDb,
        prefix: &str,
        extra: &[&str],
        what: &str,
        expected: [u64; 5],
    ) -> Value {
        let manifests = self.manifests().display().to_string();
        let secrets = self.secrets().display().to_string();
        let base = self.sim.base_url();
        let mut args = vec![
            "--output",
            "json",
            "--owner",
            OWNER,
            "--secrets-dir",
            &secrets,
            "--bigcommerce-base-url",
            &base,
            "--retry-base-delay",
            "5ms",
        ];
        args.extend_from_slice(extra);
        args.push(&manifests);
        let out = self.bccreds(db, prefix, "apply", &args).await;
        let engine = db.engine;
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
            panic!(
                "[{engine:?}] bccreds apply ({what}) printed no JSON report ({err}), \
                 exit {:?}:\n{}",
                out.status.code(),
                common::all_output(&out)
            )
        });
        let s = &report["summary"];
        let summary = ["created", "updated", "deleted", "unchanged", "failed"]
            .map(|k| s[k].as_u64().unwrap_or(u64::MAX));
        assert!(
            out.status.success() && summary == expected,
            "[{engine:?}] bccreds apply ({what}): expected exit 0 and [created, updated, deleted, \
             unchanged, failed] = {expected:?}, got exit {:?} and {summary:?}\n\
             report: {report:#}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        report
    }

    /// `bccreds list --output json`; panics unless it exits 0.
    async fn list(&self, db: &TestDb, prefix: &str, what: &str) -> Vec<Value> {
        let out = self
            .bccreds(db, prefix, "list", &["--output", "json"])
            .await;
        let engine = db.engine;
        assert!(
            out.status.success(),
            "[{engine:?}] bccreds list ({what}) failed with exit {:?}:\n{}",
            out.status.code(),
            common::all_output(&out)
        );
        let items: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
            panic!(
                "[{engine:?}] bccreds list ({what}) printed no JSON ({err}): {}",
                common::all_output(&out)
            )
        });
        items.as_array().expect("list is an array").clone()
    }

    /// An in-process reconciler on `db`, as `bccreds watch` and `bccreds controller` keep one.
    async fn reconciler(&self, db: &TestDb, prefix: &str) -> Reconciler<BigCommerceClient> {
        let store = Arc::new(db.store(prefix).await);
        let client = BigCommerceClient::new(&ClientOptions {
            base_url: self.sim.base_url(),
            retry: RetryPolicy {
                base_delay: Duration::from_millis(5),
                ..RetryPolicy::default()
            },
            ..ClientOptions::default()
        })
        .expect("client");
        Reconciler::new(
            store,
            Arc::new(client),
            ReconcilerConfig {
                owner: OWNER.into(),
                concurrency: 4,
                reverify_interval: Duration::from_secs(3600),
                on_revoked: OnRevoked::Keep,
                allow_empty: false,
                prune: true,
            },
        )
    }

    async fn pass(
        &self,
        rec: &Reconciler<BigCommerceClient>,
        db: &TestDb,
        what: &str,
    ) -> PassReport {
        let scan = FileSource::new(vec![self.manifests()], ValidateOptions::default())
            .with_secrets_dir(Some(self.secrets()))
            .scan();
        let engine = db.engine;
        rec.apply(&scan)
            .await
            .unwrap_or_else(|err| panic!("[{engine:?}] reconciler pass ({what}) failed: {err}"))
    }
}

fn summary(r: &PassReport) -> [usize; 5] {
    let s = r.summary;
    [s.created, s.updated, s.deleted, s.unchanged, s.failed]
}

/// Asserts that Eloquent read `expected` in column `key` of `row`.
#[track_caller]
fn expect_column(e: Engine, row: &Value, key: &str, expected: Value, why: &str) {
    assert_eq!(
        row[key], expected,
        "[{e:?}] {why}: Eloquent read `{key}` = {}, expected {expected}; the row: {row:#}",
        row[key]
    );
}

/// Asserts that Eloquent's `array` cast read the mapping `pairs` in column `key` of `row`.
#[track_caller]
fn expect_mapping(e: Engine, row: &Value, key: &str, pairs: &[(&str, &str)], why: &str) {
    assert_eq!(
        mapping(&row[key]),
        map(pairs),
        "[{e:?}] {why}: Eloquent's `array` cast read `{key}` = {}; the row: {row:#}",
        row[key]
    );
}

/// (a) What bccreds creates and updates, Laravel reads: Eloquent decrypts the token and client
/// secret with UnoPim's APP_KEY and its `array` casts give the mappings and store info.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eloquent_reads_and_decrypts_rows_bccreds_created_and_updated() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        let w = World::new().await;
        let spec = "  clientId: client-1\n  clientSecret:\n    file: prod-secret\n\
                    \x20 defaultLocale: en_US\n  defaultCurrency: USD\n\
                    \x20 localeMapping: {en_US: en, fr_FR: fr}\n\
                    \x20 currencyMapping: {USD: USD, EUR: EUR}\n";
        let prod_yaml = manifest("prod", "Production", "abc123", "prod", "", spec);
        w.write("prod.yaml", &prod_yaml);
        let outlet_yaml = manifest("outlet", "Outlet", "def456", "outlet", "", "");
        w.write("outlet.yaml", &outlet_yaml);
        w.apply(&db, "", &[], "creating two credentials", [2, 0, 0, 0, 0])
            .await;

        let rows = laravel_rows(&db, "").await;
        assert_eq!(labels(&rows), ["Outlet", "Production"], "[{e:?}] {rows:#?}");
        let prod = row(e, &rows, "Production");
        let decrypts = "Eloquent's `encrypted` cast must decrypt what bccreds wrote";
        expect_column(e, prod, "accessToken", json!("tok-prod-1"), decrypts);
        expect_column(e, prod, "clientSecret", json!("secret-prod"), decrypts);
        expect_column(e, prod, "clientId", json!("client-1"), "clientId");
        let api = json!("https://api.bigcommerce.com/stores/abc123/");
        expect_column(e, prod, "apiUrl", api, "apiUrl");
        expect_column(e, prod, "status", json!(true), "the `boolean` cast");
        expect_column(e, prod, "defaultLocale", json!("en_US"), "defaultLocale");
        expect_column(e, prod, "defaultCurrency", json!("USD"), "defaultCurrency");
        let locales = [("en_US", "en"), ("fr_FR", "fr")];
        expect_mapping(e, prod, "localeMapping", &locales, "the manifest's mapping");
        let currencies = [("USD", "USD"), ("EUR", "EUR")];
        expect_mapping(
            e,
            prod,
            "currencyMapping",
            &currencies,
            "the manifest's mapping",
        );
        let info = "storeInfo through the `array` cast";
        assert_eq!(
            prod["storeInfo"]["hash"], "abc123",
            "[{e:?}] {info}: {prod:#}"
        );
        assert_eq!(
            prod["storeInfo"]["name"], "Production",
            "[{e:?}] {info}: {prod:#}"
        );
        assert!(
            prod["created_at"].is_string() && prod["updated_at"].is_string(),
            "[{e:?}] Eloquent reads bccreds' timestamps as dates: {prod:#}"
        );
        let outlet = row(e, &rows, "Outlet");
        expect_column(e, outlet, "accessToken", json!("tok-outlet"), decrypts);
        expect_column(e, outlet, "clientSecret", Value::Null, "no client secret");
        expect_mapping(e, outlet, "localeMapping", &[], "no mapping");
        expect_mapping(e, outlet, "currencyMapping", &[], "no mapping");
        let prod_id = prod["id"].clone();

        // An update: new label, token, mappings and status, on the same row.
        let spec = "  active: false\n  clientId: client-1\n  defaultLocale: de_DE\n\
                    \x20 defaultCurrency: EUR\n  localeMapping: {de_DE: de}\n\
                    \x20 currencyMapping: {EUR: EUR}\n";
        let prod_yaml = manifest("prod", "Production EU", "abc123", "prod-2", "", spec);
        w.write("prod.yaml", &prod_yaml);
        w.apply(&db, "", &[], "updating one credential", [0, 1, 0, 1, 0])
            .await;
        let rows = laravel_rows(&db, "").await;
        assert_eq!(
            labels(&rows),
            ["Outlet", "Production EU"],
            "[{e:?}] {rows:#?}"
        );
        let prod = row(e, &rows, "Production EU");
        expect_column(e, prod, "id", prod_id, "the update rewrites the same row");
        expect_column(e, prod, "accessToken", json!("tok-prod-2"), decrypts);
        expect_column(e, prod, "status", json!(false), "`active: false`");
        expect_column(e, prod, "defaultLocale", json!("de_DE"), "defaultLocale");
        expect_column(e, prod, "defaultCurrency", json!("EUR"), "defaultCurrency");
        expect_mapping(e, prod, "localeMapping", &[("de_DE", "de")], "updated");
        expect_mapping(e, prod, "currencyMapping", &[("EUR", "EUR")], "updated");
        db
    })
    .await;
}

/// `(label, managed)` of each item of `bccreds list --output json`.
fn managed(items: &[Value]) -> Vec<(String, bool)> {
    items
        .iter()
        .map(|i| {
            let label = i["label"].as_str().unwrap_or_default().to_string();
            (label, i["managed"] == true)
        })
        .collect()
}

fn owned(pairs: &[(&str, bool)]) -> Vec<(String, bool)> {
    pairs.iter().map(|(l, m)| (l.to_string(), *m)).collect()
}

/// (b) The connector's own Laravel migration makes the table (and a child table with a foreign
/// key to it) and the credentials page makes rows, with `[]` mappings; bccreds lists them, adopts
/// one, updates it and deletes it, and Laravel reads the table after each step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bccreds_lists_adopts_updates_and_deletes_rows_laravel_made() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        // UnoPim's DB_PREFIX, applied by Laravel's connection and by bccreds' --table-prefix.
        let prefix = "uno_";
        let w = World::new().await;
        let made = laravel(&db, prefix, "migrate", json!({})).await;
        assert_eq!(
            made["tables"],
            json!([
                "wk_bigcommerce_credentials",
                "wk_bigcommerce_channel_mappings"
            ]),
            "[{e:?}] Laravel's migration, including the child table's foreignId()->constrained()"
        );
        let hand_row = json!({"row": {
            "label": "Hand Made",
            "apiUrl": "https://api.bigcommerce.com/stores/abc123/",
            "clientId": null,
            "clientSecret": "hand-secret",
            "accessToken": "tok-hand",
            "status": true,
            "defaultLocale": null,
            "defaultCurrency": null,
            "localeMapping": [],
            "currencyMapping": [],
            "storeInfo": null,
        }});
        let hand = laravel(&db, prefix, "insert", hand_row).await["id"].clone();
        let other_row = json!({"row": {
            "label": "Other Shop",
            "apiUrl": "https://api.bigcommerce.com/stores/def456/",
            "accessToken": "tok-outlet",
            "status": false,
            "defaultLocale": "en_US",
            "localeMapping": {"en_US": "en"},
            "currencyMapping": [],
        }});
        laravel(&db, prefix, "insert", other_row).await;

        let listed = w
            .list(&db, prefix, "rows Laravel made, with `[]` mappings")
            .await;
        assert_eq!(
            managed(&listed),
            owned(&[("Hand Made", false), ("Other Shop", false)]),
            "[{e:?}] bccreds list shows Laravel's rows as unmanaged: {listed:#?}"
        );

        // A credential of bccreds' own beside it, so that the manifest tree never becomes empty.
        let keeper = manifest("keeper", "Keeper", "def456", "outlet", "", "");
        w.write("keeper.yaml", &keeper);
        // Adoption: the same label, no token (the hand-made one is kept and verified).
        let adopt = "  annotations:\n    bigcommerce.unopim.io/adopt: \"true\"\n";
        let spec = "  defaultLocale: en_US\n  localeMapping: {en_US: en}\n";
        w.write(
            "hand.yaml",
            &manifest("hand", "Hand Made", "abc123", "", adopt, spec),
        );
        let report = w
            .apply(
                &db,
                prefix,
                &[],
                "adopting the row Laravel made",
                [1, 1, 0, 0, 0],
            )
            .await;
        let items = report["items"].as_array().expect("items");
        let adoption = items.iter().find(|i| i["label"] == "Hand Made");
        assert_eq!(
            adoption.map(|i| &i["action"]),
            Some(&json!("Adopt")),
            "[{e:?}] {report:#}"
        );
        let rows = laravel_rows(&db, prefix).await;
        let adopted = row(e, &rows, "Hand Made");
        expect_column(
            e,
            adopted,
            "id",
            hand.clone(),
            "adoption keeps Laravel's row",
        );
        let kept = "adoption keeps the hand-made secret, and Eloquent still decrypts it";
        expect_column(e, adopted, "accessToken", json!("tok-hand"), kept);
        expect_column(e, adopted, "clientSecret", json!("hand-secret"), kept);
        expect_mapping(e, adopted, "localeMapping", &[("en_US", "en")], "adopted");
        expect_column(e, adopted, "defaultLocale", json!("en_US"), "adopted");
        assert_eq!(
            adopted["storeInfo"]["hash"], "abc123",
            "[{e:?}] bccreds records what BigCommerce said: {adopted:#}"
        );
        let other = row(e, &rows, "Other Shop");
        let untouched = "the other hand-made row is untouched";
        expect_column(e, other, "status", json!(false), untouched);
        expect_mapping(e, other, "localeMapping", &[("en_US", "en")], untouched);
        expect_column(e, other, "currencyMapping", json!([]), untouched);
        let listed = w.list(&db, prefix, "after adoption").await;
        assert_eq!(
            managed(&listed),
            owned(&[("Hand Made", true), ("Keeper", true), ("Other Shop", false)]),
            "[{e:?}] the adopted row is managed, the other hand-made one is not: {listed:#?}"
        );

        // A later change of the manifest updates the adopted row.
        w.secret("hand-2", "tok-prod-2");
        let spec = "  active: false\n  defaultLocale: en_US\n  localeMapping: {en_US: en}\n\
                    \x20 currencyMapping: {USD: USD}\n";
        w.write(
            "hand.yaml",
            &manifest("hand", "Hand Made", "abc123", "hand-2", adopt, spec),
        );
        w.apply(
            &db,
            prefix,
            &[],
            "updating the adopted row",
            [0, 1, 0, 1, 0],
        )
        .await;
        let rows = laravel_rows(&db, prefix).await;
        let updated = row(e, &rows, "Hand Made");
        expect_column(e, updated, "id", hand, "the update keeps Laravel's row");
        let new = "Eloquent decrypts the new token";
        expect_column(e, updated, "accessToken", json!("tok-prod-2"), new);
        expect_column(e, updated, "status", json!(false), "`active: false`");
        expect_mapping(e, updated, "currencyMapping", &[("USD", "USD")], "updated");

        // Removing the manifest deletes the row; the unmanaged one stays.
        w.remove("hand.yaml");
        w.apply(
            &db,
            prefix,
            &[],
            "deleting the adopted row",
            [0, 0, 1, 1, 0],
        )
        .await;
        let rows = laravel_rows(&db, prefix).await;
        assert_eq!(
            labels(&rows),
            ["Keeper", "Other Shop"],
            "[{e:?}] Laravel sees the adopted row gone and the others kept: {rows:#?}"
        );
        let other = row(e, &rows, "Other Shop");
        expect_column(e, other, "accessToken", json!("tok-outlet"), untouched);
        db
    })
    .await;
}

/// (c) A row deleted on the credentials page (Eloquent's delete) is recreated by the next
/// `bccreds apply`, and Laravel reads the new row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_deleted_through_eloquent_is_recreated_by_the_next_apply() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        let w = World::new().await;
        w.write(
            "prod.yaml",
            &manifest(
                "prod",
                "Production",
                "abc123",
                "prod",
                "",
                "  localeMapping: {en_US: en}\n",
            ),
        );
        w.apply(&db, "", &[], "creating the credential", [1, 0, 0, 0, 0])
            .await;
        assert_eq!(
            labels(&laravel_rows(&db, "").await),
            ["Production"],
            "[{e:?}]"
        );

        let deleted = laravel(&db, "", "delete", json!({"label": "Production"})).await;
        assert_eq!(
            deleted["deleted"], 1,
            "[{e:?}] Eloquent deletes the row bccreds made"
        );
        assert!(
            laravel_rows(&db, "").await.is_empty(),
            "[{e:?}] the row is gone"
        );

        let report = w
            .apply(
                &db,
                "",
                &[],
                "after the row was deleted outside bccreds",
                [1, 0, 0, 0, 0],
            )
            .await;
        assert_eq!(report["items"][0]["action"], "Create", "[{e:?}] {report:#}");
        let rows = laravel_rows(&db, "").await;
        let prod = row(e, &rows, "Production");
        assert_eq!(
            prod["accessToken"], "tok-prod-1",
            "[{e:?}] the recreated row's token: {prod:#}"
        );
        assert_eq!(
            mapping(&prod["localeMapping"]),
            map(&[("en_US", "en")]),
            "[{e:?}] {prod:#}"
        );
        assert_eq!(
            w.list(&db, "", "after recreation").await[0]["managedBy"],
            OWNER,
            "[{e:?}] the recreated row is managed"
        );
        w.apply(&db, "", &[], "a resync after recreation", [0, 0, 0, 1, 0])
            .await;
        db
    })
    .await;
}

/// (c, long-running) The same for a reconciler that stays up, as `bccreds watch` and
/// `bccreds controller` do, on a table made by Laravel's migration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_running_reconciler_recreates_a_row_deleted_through_eloquent() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        let w = World::new().await;
        laravel(&db, "", "migrate", json!({})).await;
        let rec = w.reconciler(&db, "").await;
        w.write(
            "prod.yaml",
            &manifest(
                "prod",
                "Production",
                "abc123",
                "prod",
                "",
                "  currencyMapping: {USD: USD}\n",
            ),
        );
        let first = w.pass(&rec, &db, "creating the credential").await;
        assert_eq!(summary(&first), [1, 0, 0, 0, 0], "[{e:?}] {first:?}");
        assert_eq!(
            labels(&laravel_rows(&db, "").await),
            ["Production"],
            "[{e:?}]"
        );

        let deleted = laravel(&db, "", "delete", json!({"label": "Production"})).await;
        assert_eq!(
            deleted["deleted"], 1,
            "[{e:?}] Eloquent deletes the row bccreds made"
        );

        let again = w
            .pass(&rec, &db, "after the row was deleted outside bccreds")
            .await;
        assert_eq!(
            summary(&again),
            [1, 0, 0, 0, 0],
            "[{e:?}] the deleted row must be created again: {again:?}"
        );
        let rows = laravel_rows(&db, "").await;
        let prod = row(e, &rows, "Production");
        assert_eq!(prod["accessToken"], "tok-prod-1", "[{e:?}] {prod:#}");
        assert_eq!(
            mapping(&prod["currencyMapping"]),
            map(&[("USD", "USD")]),
            "[{e:?}] {prod:#}"
        );
        let steady = w.pass(&rec, &db, "a resync after recreation").await;
        assert_eq!(summary(&steady), [0, 0, 0, 1, 0], "[{e:?}] {steady:?}");
        rec.store().close().await;
        db
    })
    .await;
}

/// (d) The credentials page also writes into a table bccreds made (when bccreds ran before the
/// connector's migration): Eloquent's insert with `[]` mappings works there and bccreds lists
/// the row as unmanaged beside its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eloquent_writes_into_a_table_bccreds_made_and_bccreds_lists_it() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        let w = World::new().await;
        w.write(
            "prod.yaml",
            &manifest("prod", "Production", "abc123", "prod", "", ""),
        );
        w.apply(&db, "", &[], "creating the credential", [1, 0, 0, 0, 0])
            .await;
        laravel(
            &db,
            "",
            "insert",
            json!({"row": {
                "label": "Hand Made",
                "apiUrl": "https://api.bigcommerce.com/stores/def456/",
                "accessToken": "tok-outlet",
                "clientSecret": "hand-secret",
                "localeMapping": [],
                "currencyMapping": [],
            }}),
        )
        .await;
        let rows = laravel_rows(&db, "").await;
        assert_eq!(
            labels(&rows),
            ["Hand Made", "Production"],
            "[{e:?}] {rows:#?}"
        );
        let hand = row(e, &rows, "Hand Made");
        assert_eq!(
            hand["status"], true,
            "[{e:?}] the column default of bccreds' table: {hand:#}"
        );
        let listed = w
            .list(&db, "", "a row Eloquent inserted into bccreds' table")
            .await;
        assert_eq!(
            managed(&listed),
            owned(&[("Hand Made", false), ("Production", true)]),
            "[{e:?}] bccreds list shows the row Eloquent inserted as unmanaged: {listed:#?}"
        );
        // The managed row is still in sync: Laravel's insert changed nothing of it.
        w.apply(
            &db,
            "",
            &[],
            "a resync beside the hand-made row",
            [0, 0, 0, 1, 0],
        )
        .await;
        db
    })
    .await;
}

/// (e) A later connector migration adding a table with `foreignId()->constrained()` to the
/// credential table works when bccreds made that table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_laravel_foreign_key_can_reference_the_table_bccreds_made() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        let w = World::new().await;
        w.write(
            "prod.yaml",
            &manifest("prod", "Production", "abc123", "prod", "", ""),
        );
        w.apply(
            &db,
            "",
            &[],
            "creating the credential table",
            [1, 0, 0, 0, 0],
        )
        .await;
        let made = laravel(&db, "", "child", json!({})).await;
        assert_eq!(
            made["tables"],
            json!(["wk_bigcommerce_channel_mappings"]),
            "[{e:?}]"
        );
        db
    })
    .await;
}

/// (f) bccreds' store reads a row of a table Laravel made with its own column types (on MySQL
/// `BIGINT UNSIGNED` ids and `TIMESTAMP` columns): the same id, the decrypted secrets, the
/// mappings and the timestamps Eloquent wrote. The mappings are not empty here, so that this
/// case fails only for ids, types and timestamps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_reads_ids_and_timestamps_of_a_table_laravel_made() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        laravel(&db, "", "migrate", json!({})).await;
        let id = laravel(
            &db,
            "",
            "insert",
            json!({"row": {
                "label": "Hand Made",
                "apiUrl": "https://api.bigcommerce.com/stores/abc123/",
                "clientId": "client-9",
                "clientSecret": "hand-secret",
                "accessToken": "tok-hand",
                "status": true,
                "defaultLocale": "en_US",
                "defaultCurrency": "USD",
                "localeMapping": {"en_US": "en"},
                "currencyMapping": {"USD": "USD"},
            }}),
        )
        .await["id"]
            .as_i64()
            .expect("id");
        let rows = laravel_rows(&db, "").await;
        let hand = row(e, &rows, "Hand Made");

        let store = db.store("").await;
        let found = store.find_by_label("hand made").await.unwrap_or_else(|err| {
            panic!("[{e:?}] bccreds cannot read the row Eloquent wrote into Laravel's table: {err}")
        });
        let (cred, owner) =
            found.unwrap_or_else(|| panic!("[{e:?}] bccreds does not find the row Eloquent wrote"));
        assert!(owner.is_none(), "[{e:?}] a hand-made row has no owner");
        assert_eq!(cred.id, id, "[{e:?}] the id Laravel reported");
        assert_eq!(
            cred.data.access_token.expose(),
            "tok-hand",
            "[{e:?}] bccreds decrypts Eloquent's `encrypted` token"
        );
        assert_eq!(
            cred.data
                .client_secret
                .as_ref()
                .map(|s| s.expose().to_string()),
            Some("hand-secret".to_string()),
            "[{e:?}] bccreds decrypts Eloquent's `encrypted` client secret"
        );
        assert_eq!(cred.data.client_id.as_deref(), Some("client-9"), "[{e:?}]");
        assert!(cred.data.active, "[{e:?}] status");
        assert_eq!(cred.data.locale_mapping, map(&[("en_US", "en")]), "[{e:?}]");
        assert_eq!(
            cred.data.currency_mapping,
            map(&[("USD", "USD")]),
            "[{e:?}]"
        );
        let stamp = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        };
        assert_eq!(
            stamp(cred.created_at).as_deref(),
            hand["created_at"].as_str(),
            "[{e:?}] created_at as bccreds reads it vs as Eloquent wrote it (UTC)"
        );
        assert_eq!(
            stamp(cred.updated_at).as_deref(),
            hand["updated_at"].as_str(),
            "[{e:?}] updated_at as bccreds reads it vs as Eloquent wrote it (UTC)"
        );
        let listed = store
            .list(&bccreds::store::ListQuery::default())
            .await
            .unwrap_or_else(|err| panic!("[{e:?}] Store::list on Laravel's table: {err}"));
        assert_eq!(listed.len(), 1, "[{e:?}] {listed:?}");
        assert_eq!(listed[0].id, id, "[{e:?}] {listed:?}");
        assert_eq!(
            stamp(listed[0].updated_at).as_deref(),
            hand["updated_at"].as_str(),
            "[{e:?}] {listed:?}"
        );
        store.close().await;
        db
    })
    .await;
}
