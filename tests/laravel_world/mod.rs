//! The world of the Laravel/Eloquent interoperability tests: UnoPim's side is
//! `tests/laravel/eloquent.php` (Debian's php-laravel-framework with the connector's casts),
//! bccreds' side the built binary or an in-process `Reconciler`, both against the in-process
//! BigCommerce simulator and one test database per engine.
//!
//! Where `php` or the framework is missing, `have_laravel` says so and the tests pass, so that a
//! machine with only a Rust toolchain passes `cargo test`; `.ci/run` installs them and sets
//! `BCCREDS_REQUIRE_LARAVEL=1`, and then a missing PHP or Laravel fails the tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use bccreds::reconcile::{PassReport, Reconciler};
use bccreds::verify::BigCommerceClient;
use serde_json::{json, Value};

use crate::store_support::{Engine, TestDb, TEST_APP_KEY};

/// Where Debian's php-laravel-framework puts the framework's autoloader.
pub const LARAVEL_AUTOLOAD: &str = "/usr/share/php/Illuminate/autoload.php";
/// The Debian packages these tests need.
pub const PACKAGES: &str = "php-cli php-laravel-framework php-sqlite3 php-mysql php-pgsql";

pub const FIXTURE: &str = r#"
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
pub const OWNER: &str = "gitops";

/// The PHP program playing UnoPim.
pub fn program() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/laravel/eloquent.php")
}

/// Whether PHP with Laravel and the PDO drivers can run; without them, a loud note (or a
/// failure when `BCCREDS_REQUIRE_LARAVEL` is set, as `.ci/run` does).
pub fn have_laravel() -> bool {
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
pub async fn laravel(db: &TestDb, prefix: &str, action: &str, extra: Value) -> Value {
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
pub async fn laravel_rows(db: &TestDb, prefix: &str) -> Vec<Value> {
    let answer = laravel(db, prefix, "read", json!({})).await;
    answer["rows"].as_array().expect("rows").clone()
}

/// The row with `label` among `rows`, or a panic naming what Laravel saw.
pub fn row<'a>(engine: Engine, rows: &'a [Value], label: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["label"] == label)
        .unwrap_or_else(|| {
            panic!("[{engine:?}] Laravel does not see a row labelled `{label}`; it sees {rows:#?}")
        })
}

/// The labels of `rows`, sorted (bccreds creates rows concurrently, so ids do not follow files).
pub fn labels(rows: &[Value]) -> Vec<String> {
    let mut labels: Vec<String> = rows
        .iter()
        .map(|r| r["label"].as_str().unwrap_or_default().to_string())
        .collect();
    labels.sort();
    labels
}

/// A mapping as Laravel's `array` cast returns it: PHP prints an empty array as `[]`, so an
/// empty JSON list and an empty object are the same empty mapping.
pub fn mapping(value: &Value) -> BTreeMap<String, String> {
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

pub fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The common world with the Laravel fixture and its secret files. Its own SQLite store is not
/// the test's: bccreds reaches the test database through `db` and the `--store` flag.
pub struct World(crate::common::World);

impl Deref for World {
    type Target = crate::common::World;

    fn deref(&self) -> &crate::common::World {
        &self.0
    }
}

impl World {
    pub async fn new() -> World {
        let world = crate::common::World::builder(FIXTURE)
            .owner(OWNER)
            .secret("prod", "tok-prod-1")
            .secret("prod-2", "tok-prod-2")
            .secret("outlet", "tok-outlet")
            .secret("prod-secret", "secret-prod")
            .build()
            .await;
        World(world)
    }

    /// Runs `bccreds COMMAND --store … --table-prefix … --app-key … ARGS…`.
    pub async fn bccreds(&self, db: &TestDb, prefix: &str, command: &str, args: &[&str]) -> Output {
        self.bccreds_keyed(db, prefix, &["--app-key", TEST_APP_KEY], command, args)
            .await
    }

    /// Runs `bccreds COMMAND --store … --table-prefix … KEYS… ARGS…`, with the key flags given.
    pub async fn bccreds_keyed(
        &self,
        db: &TestDb,
        prefix: &str,
        keys: &[&str],
        command: &str,
        args: &[&str],
    ) -> Output {
        let mut cmd = crate::common::bccreds();
        cmd.env_remove("APP_KEY")
            .env_remove("APP_PREVIOUS_KEYS")
            .arg(command)
            .args(["--store", &db.url])
            .args(["--table-prefix", prefix])
            .args(keys)
            .args(args);
        tokio::task::spawn_blocking(move || cmd.output().expect("bccreds runs"))
            .await
            .expect("join")
    }

    /// `bccreds apply --output json` over the manifests; panics unless it exits 0 with
    /// `expected` as its summary (created, updated, deleted, unchanged, failed).
    pub async fn apply(
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
                crate::common::all_output(&out)
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
    pub async fn list(&self, db: &TestDb, prefix: &str, what: &str) -> Vec<Value> {
        let out = self
            .bccreds(db, prefix, "list", &["--output", "json"])
            .await;
        let engine = db.engine;
        assert!(
            out.status.success(),
            "[{engine:?}] bccreds list ({what}) failed with exit {:?}:\n{}",
            out.status.code(),
            crate::common::all_output(&out)
        );
        let items: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
            panic!(
                "[{engine:?}] bccreds list ({what}) printed no JSON ({err}): {}",
                crate::common::all_output(&out)
            )
        });
        items.as_array().expect("list is an array").clone()
    }

    /// An in-process reconciler on `db`, as `bccreds watch` and `bccreds controller` keep one.
    pub async fn reconciler_on(&self, db: &TestDb, prefix: &str) -> Reconciler<BigCommerceClient> {
        let store = Arc::new(db.store(prefix).await);
        self.reconciler(store, self.client.clone())
    }

    /// One pass of `rec` over the manifests; panics naming `what` and the engine when it fails.
    pub async fn pass_with(
        &self,
        rec: &Reconciler<BigCommerceClient>,
        db: &TestDb,
        what: &str,
    ) -> PassReport {
        let engine = db.engine;
        rec.apply(&self.scan())
            .await
            .unwrap_or_else(|err| panic!("[{engine:?}] reconciler pass ({what}) failed: {err}"))
    }
}

pub fn summary(r: &PassReport) -> [usize; 5] {
    let s = r.summary;
    [s.created, s.updated, s.deleted, s.unchanged, s.failed]
}

/// Asserts that Eloquent read `expected` in column `key` of `row`.
#[track_caller]
pub fn expect_column(e: Engine, row: &Value, key: &str, expected: Value, why: &str) {
    assert_eq!(
        row[key], expected,
        "[{e:?}] {why}: Eloquent read `{key}` = {}, expected {expected}; the row: {row:#}",
        row[key]
    );
}

/// Asserts that Eloquent's `array` cast read the mapping `pairs` in column `key` of `row`.
#[track_caller]
pub fn expect_mapping(e: Engine, row: &Value, key: &str, pairs: &[(&str, &str)], why: &str) {
    assert_eq!(
        mapping(&row[key]),
        map(pairs),
        "[{e:?}] {why}: Eloquent's `array` cast read `{key}` = {}; the row: {row:#}",
        row[key]
    );
}
