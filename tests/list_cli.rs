//! `bccreds list` against a store the test fills: table, search, sort, status filter, JSON/YAML.

mod common;

use std::collections::BTreeMap;

use bccreds::crypto::AppKey;
use bccreds::secret::SecretValue;
use bccreds::store::{CredentialData, Encryption, Ownership, SecretUpdate, Store, StoreOptions};
use chrono::TimeZone;

const KEY: &str = "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

async fn filled_store(path: &std::path::Path) -> String {
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
    let rows = [
        ("Production Store", "abc123", true, Some("Verified")),
        ("Outlet", "out321", false, Some("InvalidToken")),
        ("Staging Store", "stg890", true, None),
    ];
    for (label, hash, active, result) in rows {
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
            source_key: format!("shop/{hash}"),
            spec_sha256: "0".repeat(64),
            secret_sha256: "0".repeat(64),
            last_verified_at: result
                .map(|_| chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()),
            last_result: result.map(str::to_string),
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
    let out = common::bccreds()
        .args(["list", "--store", url, "--app-key", KEY])
        .args(args)
        .env("COLUMNS", "80")
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
    // At 80 columns the API URL keeps its path, where the store hash is.
    assert!(
        squeeze(lines[1]).starts_with("Outlet …/stores/out321/ Inactive False gitops "),
        "{table}"
    );
    assert!(
        squeeze(lines[2]).starts_with("Production Store …/stores/abc123/ Active True gitops "),
        "{table}"
    );
    assert!(
        lines[1].ends_with("d ago") && lines[2].ends_with("d ago"),
        "{table}"
    );
    assert_eq!(
        squeeze(lines[3]),
        "Staging Store …/stores/stg890/ Active - - -"
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
