//! One row whose label or API URL is not text (an SQLite BLOB, a `bytea` or `VARBINARY` column
//! altered by hand, bytes that are not UTF-8) fails alone: `list` and `export` name it and show
//! the others, the page lists the others and says which rows it left out, the row's own page
//! says why, and a pass reads the owner's other rows. On every engine.

mod common;
mod store_support;

use serde_json::Value;
use store_support::{credential, each_engine, ownership, Engine, TestDb};

/// Puts bytes that are not UTF-8 into `Bad label`'s label and `Bad url`'s API URL, changing
/// the columns' types where the engine needs it to hold them.
async fn break_rows(db: &TestDb) {
    let t = db.ident("wk_bigcommerce_credentials");
    let (label, api) = (db.ident("label"), db.ident("apiUrl"));
    let bytes = match db.engine {
        Engine::Sqlite => "X'FF00'",
        Engine::MySql => {
            db.exec(&format!(
                "ALTER TABLE {t} MODIFY {label} VARBINARY(255) NOT NULL, MODIFY {api} VARBINARY(500) NOT NULL"
            ))
            .await;
            "X'FF00'"
        }
        Engine::Postgres => {
            // The case-blind unique index reads labels as text.
            db.exec("DROP INDEX wk_bigcommerce_credentials_label_ci")
                .await;
            db.exec(&format!(
                "ALTER TABLE {t} ALTER COLUMN {label} TYPE bytea USING convert_to({label}, 'UTF8'), ALTER COLUMN {api} TYPE bytea USING convert_to({api}, 'UTF8')"
            ))
            .await;
            "'\\xff00'::bytea"
        }
    };
    let by_id = |id: i64| format!("{} = {id}", db.ident("id"));
    db.exec(&format!(
        "UPDATE {t} SET {label} = {bytes} WHERE {}",
        by_id(2)
    ))
    .await;
    db.exec(&format!(
        "UPDATE {t} SET {api} = {bytes} WHERE {}",
        by_id(3)
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_label_or_api_url_is_not_text_fails_alone() {
    each_engine(|db| async move {
        let e = db.engine;
        let store = db.store("").await;
        for (label, key) in [
            ("Good", "shop/good"),
            ("Bad label", "shop/bad-label"),
            ("Bad url", "shop/bad-url"),
        ] {
            store
                .create(
                    &credential(label, "tok-TEXT-LEAK"),
                    &ownership("bccreds", key),
                )
                .await
                .expect("create");
        }
        store.close().await;
        break_rows(&db).await;

        // A pass reads the owner's other rows; the two fail alone, naming their column.
        let store = db.store("").await;
        let owned = store
            .owned_rows("bccreds")
            .await
            .expect("a pass reads the store");
        let readable: Vec<&str> = owned
            .rows
            .iter()
            .filter_map(|(_, c)| c.as_ref().map(|c| c.data.label.as_str()))
            .collect();
        assert_eq!(readable, ["Good"], "[{e:?}]");
        let columns: Vec<&str> = owned.unreadable.values().map(|p| p.column).collect();
        assert_eq!(
            columns,
            ["label", "apiUrl"],
            "[{e:?}] {:?}",
            owned.unreadable
        );
        store.close().await;

        let url = db.url.clone();
        let run = move |args: &[&str]| {
            let out = common::bccreds()
                .args(args)
                .args(["--store", &url])
                .output()
                .expect("runs");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, stdout, stderr) = run(&["list", "--output", "json"]);
        assert_eq!(code, Some(1), "[{e:?}] {stderr}");
        let listed: Value = serde_json::from_str(&stdout).expect("JSON");
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "[{e:?}] {listed}");
        assert_eq!(listed[0]["label"], "Good", "[{e:?}]");
        for (id, column) in [(2, "label"), (3, "apiUrl")] {
            let says = format!("error: stored credential {id} cannot be read: column `{column}`");
            assert!(stderr.contains(&says), "[{e:?}] {stderr}");
        }

        let (code, stdout, stderr) = run(&["export"]);
        assert_eq!(code, Some(1), "[{e:?}] {stderr}");
        assert!(stdout.contains("label: Good\n"), "[{e:?}] {stdout}");
        assert!(
            stderr.contains("skipped (row 2): the row cannot be read: column `label`"),
            "[{e:?}] {stderr}"
        );

        let server = common::serve(&db.url, &["--listen", "127.0.0.1:0"]);
        let get = |path: &str| {
            let url = format!("{}{path}", server.base);
            async move {
                let response = reqwest::get(url).await.expect("response");
                (
                    response.status().as_u16(),
                    response.text().await.expect("body"),
                )
            }
        };
        bccreds::tls::install_crypto_provider();
        let (code, body) = get("/").await;
        assert_eq!(code, 200, "[{e:?}] {body}");
        assert!(body.contains(">Good</a>"), "[{e:?}] {body}");
        assert!(body.contains("row 2 (column `label`"), "[{e:?}] {body}");
        assert!(body.contains("row 3 (column `apiUrl`"), "[{e:?}] {body}");
        let (code, body) = get("/credentials/2").await;
        assert_eq!(code, 500, "[{e:?}] {body}");
        assert!(
            body.contains("Credential 2 cannot be read"),
            "[{e:?}] {body}"
        );
        assert_eq!(get("/credentials/1").await.0, 200, "[{e:?}]");
        assert!(!body.contains("TEXT-LEAK"));
        drop(server);
        db
    })
    .await;
}
