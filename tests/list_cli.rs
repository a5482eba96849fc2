//! `bccreds list` against a store the test fills: table, search, sort, status filter, JSON/YAML.

mod common;

use std::collections::BTreeMap;

use bccreds::crypto::AppKey;
use bccreds::secret::SecretValue;
use bccreds::store::{CredentialData, Encryption, Ownership, SecretUpdate, Store, StoreOptions};
use chrono::TimeZone;

const KEY: &str = "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A credential for [`store_with`]: label, store hash, active, last result, day of the last
/// verification in January 2026.
type Row<'a> = (&'a str, &'a str, bool, Option<&'a str>, u32);

/// Production (Verified, 2 January), Outlet (inactive, InvalidToken, 3 January), both managed
/// by `gitops`, and Staging, which bccreds does not manage.
async fn filled_store(path: &std::path::Path) -> String {
    store_with(
        path,
        &[
            ("Production Store", "abc123", true, Some("Verified"), 2),
            ("Outlet", "out321", false, Some("InvalidToken"), 3),
            ("Staging Store", "stg890", true, None, 1),
        ],
    )
    .await
}

async fn store_with(path: &std::path::Path, rows: &[Row<'_>]) -> String {
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(StoreOptions {
        url: url.clone(),
        table_prefix: String::new(),
        encryption: Encryption::Key {
            key: AppKey::parse(KEY).expect("key"),
            previous: vec![],
        },
    })
    .await
    .expect("store");
    for &(label, hash, active, result, day) in rows {
        let data = CredentialData {
            label: label.into(),
            api_url: format!("https://api.bigcommerce.com/stores/{hash}/"),
            client_id: None,
            client_secret: SecretUpdate::Keep,
            access_token: SecretUpdate::Set(SecretValue::new("tok-LIST-LEAK-31337")),
            active,
            default_locale: None,
            default_currency: None,
            locale_mapping: BTreeMap::new(),
            currency_mapping: BTreeMap::new(),
            store_info: None,
        };
        let own = Ownership {
            credential_id: 0,
            owner_id: "gitops".into(),
            source_key: bccreds::model::SourceKey::stored(&format!("shop/{hash}")),
            spec_sha256: "0".repeat(64),
            secret_sha256: "0".repeat(64),
            last_verified_at: result
                .map(|_| chrono::Utc.with_ymd_and_hms(2026, 1, day, 3, 4, 5).unwrap()),
            last_result: result.and_then(bccreds::model::Reason::parse),
            last_message: None,
            deletion_policy: bccreds::model::DeletionPolicy::Delete,
            source_path: None,
        };
        let id = store.create(&data, &own).await.expect("create");
        if label == "Staging Store" {
            // A row bccreds does not manage, as if made on the credentials page.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM bccreds_ownership WHERE credential_id = {id}"
            )))
            .execute(&sqlx::SqlitePool::connect(&url).await.expect("raw"))
            .await
            .expect("unown");
        }
    }
    store.close().await;
    url
}

fn list(url: &str, args: &[&str]) -> (i32, String, String) {
    list_at(80, url, args)
}

/// `bccreds list` with COLUMNS set: exit code, stdout, stderr.
fn list_at(columns: usize, url: &str, args: &[&str]) -> (i32, String, String) {
    let out = common::bccreds()
        .args(["list", "--store", url, "--app-key", KEY])
        .args(args)
        .env("COLUMNS", columns.to_string())
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn list_shows_the_credentials_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = filled_store(&dir.path().join("s.db")).await;
    let (code, table, err) = list(&url, &[]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    let squeeze = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        squeeze(lines[0]),
        "LABEL API URL STATUS READY MANAGED BY LAST VERIFIED"
    );
    // At 80 columns the labels are whole, and the API URL keeps the start of its host and its
    // path, where the store hash is.
    assert!(
        squeeze(lines[1]).starts_with("Outlet api…/stores/out321 Inactive False gitops "),
        "{table}"
    );
    assert!(
        squeeze(lines[2]).starts_with("Production Store api…/stores/abc123 Active True gitops "),
        "{table}"
    );
    assert!(
        lines[1].ends_with("d ago") && lines[2].ends_with("d ago"),
        "{table}"
    );
    assert_eq!(
        squeeze(lines[3]),
        "Staging Store api…/stores/stg890 Active - - -"
    );
    for line in &lines {
        assert!(line.chars().count() <= 80, "wider than 80: {line:?}");
    }
    assert!(!table.contains("LIST-LEAK") && !err.contains("LIST-LEAK"));
}

#[tokio::test]
async fn list_searches_sorts_filters_and_prints_json_and_yaml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = filled_store(&dir.path().join("s.db")).await;
    let labels = |args: &[&str]| -> Vec<String> {
        let (code, out, err) = list(&url, &[args, &["--output", "json"]].concat());
        assert_eq!(code, 0, "{err}");
        let items: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json");
        items
            .iter()
            .map(|i| i["label"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        labels(&["--search", "store"]),
        ["Production Store", "Staging Store"]
    );
    assert_eq!(
        labels(&["--sort", "label", "--desc"]),
        ["Staging Store", "Production Store", "Outlet"]
    );
    assert_eq!(
        labels(&["--sort", "apiUrl"]),
        ["Production Store", "Outlet", "Staging Store"]
    );
    assert_eq!(labels(&["--status", "inactive"]), ["Outlet"]);
    assert_eq!(
        labels(&["--status", "active", "--search", "PROD"]),
        ["Production Store"]
    );

    let (_, out, _) = list(&url, &["--output", "json", "--search", "Production"]);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        json,
        serde_json::json!([{
            "label": "Production Store",
            "apiUrl": "https://api.bigcommerce.com/stores/abc123/",
            "status": "Active",
            "managed": true,
            "managedBy": "gitops",
            "ready": "True",
            "lastVerified": "2026-01-02T03:04:05Z"
        }])
    );
    let (code, yaml, _) = list(&url, &["--output", "yaml", "--search", "Staging"]);
    assert_eq!(code, 0);
    assert!(
        yaml.contains("label: Staging Store\n") && yaml.contains("managed: false\n"),
        "{yaml}"
    );
    assert!(!out.contains("LIST-LEAK") && !yaml.contains("LIST-LEAK"));
    let (code, _, err) = list(&url, &["--sort", "colour"]);
    assert_eq!(code, 2, "{err}");
}

#[tokio::test]
async fn the_columns_follow_the_terminal_width_and_labels_are_cut_last() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = filled_store(&dir.path().join("s.db")).await;
    // Wide: every URL whole, with its scheme, and no line longer than it needs.
    let (code, table, err) = list_at(200, &url, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        table.contains("Production Store  https://api.bigcommerce.com/stores/abc123/  Active"),
        "{table}"
    );
    assert!(table.lines().all(|l| l.chars().count() < 120), "{table}");
    // In between: the host whole, without the scheme.
    let (_, table, _) = list_at(100, &url, &[]);
    assert!(
        table.contains("Production Store  api.bigcommerce.com/stores/abc123"),
        "{table}"
    );

    let long = "Production Store of the European Union and the Channel Islands";
    let url = store_with(
        &dir.path().join("long.db"),
        &[(long, "abc123", true, Some("Verified"), 2)],
    )
    .await;
    for columns in [80, 100, 120] {
        let (code, table, err) = list_at(columns, &url, &[]);
        assert_eq!(code, 0, "{err}");
        let row = table.lines().nth(1).expect("a row");
        assert!(row.chars().count() <= columns, "{columns}: {table}");
        assert!(row.contains("/stores/abc123"), "{columns}: {table}");
        if !row.contains(long) {
            // The label is cut only when nothing else can give: the line is full, so no
            // column kept padding the label could have used.
            let header = table.lines().next().expect("a header");
            assert_eq!(header.chars().count(), columns, "{columns}: {table}");
        }
    }
    let (_, table, _) = list_at(140, &url, &[]);
    assert!(table.contains(long), "{table}");
}

#[tokio::test]
async fn an_empty_listing_says_whether_the_store_is_empty_or_nothing_matched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = filled_store(&dir.path().join("s.db")).await;
    let (code, out, err) = list(&url, &["--search", "zzz"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "No credentials match --search \"zzz\" (3 stored).\n");
    let (code, out, _) = list(&url, &["--search", "outlet", "--status", "Active"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "No credentials match --search \"outlet\" --status active (3 stored).\n"
    );
    // JSON stays an empty array.
    let (_, out, _) = list(&url, &["--search", "zzz", "--output", "json"]);
    assert_eq!(out.trim(), "[]");
    // A store that does not exist is empty, whatever the filter.
    let missing = format!("sqlite://{}", dir.path().join("none.db").display());
    for args in [&[][..], &["--search", "zzz"]] {
        let (code, out, err) = list(&missing, args);
        assert_eq!(
            (code, out.as_str()),
            (0, "No credentials stored.\n"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn sort_offers_the_shown_columns_and_status_takes_the_printed_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = filled_store(&dir.path().join("s.db")).await;
    let labels = |args: &[&str]| -> Vec<String> {
        let (code, out, err) = list(&url, &[args, &["--output", "json"]].concat());
        assert_eq!(code, 0, "{args:?}: {err}");
        let items: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json");
        items
            .iter()
            .map(|i| i["label"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    // Ready: False, True, then the unmanaged row.
    assert_eq!(
        labels(&["--sort", "ready"]),
        ["Outlet", "Production Store", "Staging Store"]
    );
    assert_eq!(
        labels(&["--sort", "ready", "--desc"]),
        ["Staging Store", "Production Store", "Outlet"]
    );
    // Oldest verification first, never verified last.
    assert_eq!(
        labels(&["--sort", "lastVerified"]),
        ["Production Store", "Outlet", "Staging Store"]
    );
    assert_eq!(
        labels(&["--sort", "last-verified", "--desc"]),
        ["Staging Store", "Outlet", "Production Store"]
    );
    // The same owner: ties in label order; the unmanaged row last.
    assert_eq!(
        labels(&["--sort", "managedBy"]),
        ["Outlet", "Production Store", "Staging Store"]
    );
    assert_eq!(
        labels(&["--sort", "owner", "--desc"]),
        ["Staging Store", "Production Store", "Outlet"]
    );
    assert_eq!(
        labels(&["--sort", "STATUS"]),
        ["Outlet", "Production Store", "Staging Store"]
    );
    // `updated` is no column: still accepted, no longer offered.
    assert_eq!(labels(&["--sort", "updated"]).len(), 3);
    // --status as the table prints it, or in any case.
    for value in ["Active", "active", "ACTIVE"] {
        assert_eq!(
            labels(&["--status", value]),
            ["Production Store", "Staging Store"],
            "{value}"
        );
    }
    for value in ["Inactive", "inactive"] {
        assert_eq!(labels(&["--status", value]), ["Outlet"], "{value}");
    }
    let (code, _, err) = list(&url, &["--status", "enabled"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn list_help_is_grouped_and_offers_only_what_list_uses() {
    let out = common::run(&["list", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.lines().count() < 80, "{help}");
    for heading in ["\nFilter/Sort:\n", "\nOutput:\n", "\nStore:\n"] {
        assert!(help.contains(heading), "no {heading:?} in:\n{help}");
    }
    for option in [
        "--search",
        "--sort",
        "--desc",
        "--status",
        "--output",
        "--store",
        "--table-prefix",
    ] {
        assert!(help.contains(option), "no {option} in:\n{help}");
    }
    for unused in [
        "--secret-encryption",
        "--app-key",
        "--app-previous-keys",
        "updated",
    ] {
        assert!(!help.contains(unused), "{unused} offered:\n{help}");
    }
    for column in [
        "label",
        "apiUrl",
        "status",
        "ready",
        "managedBy",
        "lastVerified",
    ] {
        assert!(
            help.contains(&format!("- {column}:")),
            "no {column} in:\n{help}"
        );
    }
}

#[test]
fn an_unreachable_store_is_a_clear_error() {
    let out = common::bccreds()
        .args(["list", "--store", "mysql://root:hunter2@127.0.0.1:1/unopim"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect to the store at mysql://root:****@127.0.0.1:1/unopim"),
        "{err}"
    );
    assert!(!err.contains("hunter2"));
}

#[test]
fn help_never_shows_the_store_password_or_the_app_key_from_the_environment() {
    for command in ["list", "apply", "watch", "controller"] {
        let out = common::bccreds()
            .args([command, "--help"])
            .env("BCCREDS_STORE", "mysql://unopim:hunter2-LEAK@db/unopim")
            .env("APP_KEY", "base64:bGVha2VkLWtleS1MRUFLLW1hcmtlcg==")
            .env("APP_PREVIOUS_KEYS", "base64:cHJldmlvdXMtTEVBSw==")
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(0));
        let text = common::all_output(&out);
        assert!(text.contains("--store"), "{text}");
        assert!(
            !text.contains("LEAK") && !text.contains("bGVha2Vk") && !text.contains("cHJldmlvdXM"),
            "{command} --help leaks:\n{text}"
        );
    }
}
