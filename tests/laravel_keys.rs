//! One wrong setting must not break the connector. A bccreds run given an APP_KEY that UnoPim
//! does not have (a swapped Secret, a typo in Helm values) refuses to write, and UnoPim's rows
//! stay byte for byte as they were; one corrupted row, with the right key, is still repaired on
//! its own. Both are checked with the real Laravel (`tests/laravel_world/`) on every engine.

mod common;
mod laravel_world;
mod store_support;

use bccreds::crypto::AppKey;
use bccreds::store::{Encryption, Store, StoreError, StoreOptions};
use common::Manifest;
use laravel_world::*;
use serde_json::{json, Value};
use store_support::each_engine;

/// A valid key that is not UnoPim's.
const WRONG_KEY: &str = "base64:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// The flags of an `apply` over the world's manifests, as `World::apply` passes them.
fn apply_args(w: &World) -> Vec<String> {
    vec![
        "--output".into(),
        "json".into(),
        "--owner".into(),
        OWNER.into(),
        "--secrets-dir".into(),
        w.secrets().display().to_string(),
        "--bigcommerce-base-url".into(),
        w.sim.base_url(),
        "--retry-base-delay".into(),
        "5ms".into(),
        w.manifests().display().to_string(),
    ]
}

/// The row labelled `label` among Laravel's raw rows.
fn raw_row<'a>(rows: &'a Value, label: &str) -> &'a Value {
    rows["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["label"] == label))
        .unwrap_or_else(|| panic!("no raw row labelled {label}: {rows:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_app_key_changes_no_byte_and_a_corrupted_row_is_repaired_alone() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        let w = World::new().await;
        w.put(&Manifest::prod());
        w.put(&Manifest::outlet());
        w.apply(&db, "", &[], "creating two credentials", [2, 0, 0, 0, 0])
            .await;
        let before = laravel(&db, "", "raw", json!({})).await;
        let args = apply_args(&w);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();

        // Once with the record of the key, once as a store from before the record (judged by
        // its rows): apply and rekey refuse, exit 2, name the fix and write nothing.
        for judged_by_rows in [false, true] {
            if judged_by_rows {
                db.exec("DELETE FROM bccreds_settings").await;
            }
            for (command, extra) in [("apply", &args[..]), ("rekey", &["--owner", OWNER][..])] {
                let out = w
                    .bccreds_keyed(&db, "", &["--app-key", WRONG_KEY], command, extra)
                    .await;
                let text = common::all_output(&out);
                assert_eq!(out.status.code(), Some(2), "[{e:?}] {command}: {text}");
                for needed in ["nothing was written", "check APP_KEY", "APP_PREVIOUS_KEYS"] {
                    assert!(
                        text.contains(needed),
                        "[{e:?}] {command}: `{needed}` in {text}"
                    );
                }
                assert!(
                    !text.contains("tok-") && !text.contains("ICEiIy"),
                    "[{e:?}] {command} printed a secret: {text}"
                );
            }
            let after = laravel(&db, "", "raw", json!({})).await;
            assert_eq!(before, after, "[{e:?}] a wrong key changed stored bytes");
        }
        // What `watch` and `controller` open at start refuses the same way.
        let refused = Store::connect(StoreOptions {
            url: db.url.clone(),
            table_prefix: String::new(),
            encryption: Encryption::Key {
                key: AppKey::parse(WRONG_KEY).expect("key"),
                previous: Vec::new(),
            },
        })
        .await
        .expect_err("a wrong key is refused at start");
        assert!(
            matches!(refused, StoreError::KeyMismatch { .. }),
            "[{e:?}] {refused}"
        );
        let rows = laravel_rows(&db, "").await;
        let decrypts = "UnoPim still decrypts every row";
        expect_column(
            e,
            row(e, &rows, "Production"),
            "accessToken",
            json!("tok-prod-1"),
            decrypts,
        );
        expect_column(
            e,
            row(e, &rows, "Outlet"),
            "accessToken",
            json!("tok-outlet"),
            decrypts,
        );

        // One corrupted token, with UnoPim's key: that row alone is repaired from its manifest.
        let table = db.ident("wk_bigcommerce_credentials");
        db.exec(&format!(
            "UPDATE {table} SET {} = 'corrupted' WHERE {} = 'Outlet'",
            db.ident("accessToken"),
            db.ident("label")
        ))
        .await;
        let report = w
            .apply(&db, "", &[], "repairing the corrupted row", [0, 1, 0, 1, 0])
            .await;
        let outlet = report["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["label"] == "Outlet"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(outlet["action"], "Update", "[{e:?}] {report:#}");
        let rows = laravel_rows(&db, "").await;
        expect_column(
            e,
            row(e, &rows, "Outlet"),
            "accessToken",
            json!("tok-outlet"),
            "repaired",
        );
        let now = laravel(&db, "", "raw", json!({})).await;
        assert_eq!(
            raw_row(&before, "Production"),
            raw_row(&now, "Production"),
            "[{e:?}] the sound row is untouched"
        );
        db
    })
    .await;
}
