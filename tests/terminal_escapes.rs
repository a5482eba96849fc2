//! Text from outside (a label in the store, a store name from BigCommerce, a file name) cannot
//! drive the terminal: ESC, BEL, CR, LF, NUL and OSC sequences are printed as visible escapes by
//! `list`, `verify`, `apply` and `validate`.

mod common;

use std::fs;

/// What must never reach a terminal raw.
const RAW: &[char] = &['\u{1b}', '\u{7}', '\r', '\0'];

/// No raw control character, and no line that a forged newline started.
fn assert_clean(what: &str, out: &std::process::Output) {
    let text = common::all_output(out);
    for c in RAW {
        assert!(!text.contains(*c), "{what}: raw {c:?} in:\n{text:?}");
    }
    assert!(
        !text.lines().any(|l| l.starts_with("FAKE LINE")),
        "{what}: a forged line:\n{text}"
    );
    assert!(
        text.contains("\\e"),
        "{what}: the escape is visible:\n{text:?}"
    );
}

const EVIL: &str =
    "Evil \\e[2J\\a\\e]8;;http://evil.example\\aclick\\e]8;;\\a\\nFAKE LINE: 0 failed\\r\\0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_store_names_and_file_names_are_escaped() {
    // A store whose name BigCommerce returns with escape sequences and a forged line.
    let fixture = common::one_store(&format!("\"{EVIL}\""), &["tok-esc"]);
    let sim = common::simulator(&fixture).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let m = tmp.path().join("m");
    fs::create_dir(&m).expect("mkdir");
    fs::write(
        m.join("a.yaml"),
        "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\nmetadata:\n  name: shop\nspec:\n  label: Shop\n  apiUrl: https://api.bigcommerce.com/stores/abc123/\n  accessToken:\n    env: BC_TOKEN\n",
    )
    .expect("w");
    let base = sim.base_url();
    let run = move |args: Vec<String>| {
        let mut cmd = common::bccreds();
        cmd.current_dir(&m)
            .args(&args)
            .env("BC_TOKEN", "tok-esc")
            .args(["--bigcommerce-base-url", &base]);
        cmd
    };
    let dir = tmp.path().join("m").display().to_string();
    let store = format!("sqlite://{}", tmp.path().join("s.db").display());
    let out = tokio::task::spawn_blocking({
        let run = run.clone();
        let dir = dir.clone();
        move || run(vec!["verify".into(), dir]).output().expect("verify")
    })
    .await
    .expect("join");
    assert_clean("verify", &out);
    let out = tokio::task::spawn_blocking({
        let run = run.clone();
        let (dir, store) = (dir.clone(), store.clone());
        move || {
            run(vec!["apply".into(), dir, "--store".into(), store])
                .output()
                .expect("apply")
        }
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
    assert_clean("apply", &out);
    // A row made by hand in UnoPim, whose label bccreds' validation would never let through.
    let db = bccreds::store::Store::connect(bccreds::store::StoreOptions {
        url: store.clone(),
        table_prefix: String::new(),
        encryption: bccreds::store::Encryption::KeyFile,
    })
    .await
    .expect("store");
    let label = "Hand \u{1b}[2J\u{7}\u{1b}]8;;http://evil.example\u{7}x\u{1b}]8;;\u{7}\nFAKE LINE: 0 failed\r\0";
    db.create(
        &bccreds::store::CredentialData {
            label: label.into(),
            api_url: "https://api.bigcommerce.com/stores/abc123/".into(),
            client_id: None,
            client_secret: bccreds::store::SecretUpdate::Keep,
            access_token: bccreds::store::SecretUpdate::Set(bccreds::secret::SecretValue::new(
                "tok-hand".to_string(),
            )),
            active: true,
            default_locale: None,
            default_currency: None,
            locale_mapping: Default::default(),
            currency_mapping: Default::default(),
            store_info: None,
        },
        &bccreds::store::Ownership {
            credential_id: 0,
            owner_id: "someone-else".into(),
            source_key: bccreds::model::SourceKey::stored("shop/hand"),
            spec_sha256: String::new(),
            secret_sha256: String::new(),
            last_verified_at: None,
            last_result: None,
            last_message: None,
            deletion_policy: bccreds::model::DeletionPolicy::Delete,
            source_path: None,
        },
    )
    .await
    .expect("a hand-made row");
    db.close().await;
    let out = common::bccreds()
        .args(["list", "--store", &store])
        .output()
        .expect("list");
    assert_clean("list", &out);

    // The watch daemon logs the same lines.
    let mut child = common::bccreds()
        .args(["watch", &dir, "--listen", "127.0.0.1:0"])
        .args([
            "--store",
            &format!("sqlite://{}", tmp.path().join("w.db").display()),
        ])
        .args(["--bigcommerce-base-url", &sim.base_url()])
        .env("BC_TOKEN", "tok-esc")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("watch");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let _ = child.kill();
    let out = child.wait_with_output().expect("watch output");
    assert!(
        common::all_output(&out).contains("Evil \\e[2J"),
        "the pass was logged: {}",
        common::all_output(&out)
    );
    assert_clean("watch", &out);

    // A file name with an escape sequence, reported by validate.
    let bad = tmp.path().join("v");
    fs::create_dir(&bad).expect("mkdir");
    fs::write(bad.join("x\u{1b}[2J\u{7}.yaml"), "apiVersion: [\n").expect("w");
    let out = common::bccreds()
        .args(["validate", &bad.display().to_string()])
        .output()
        .expect("validate");
    assert_eq!(out.status.code(), Some(1));
    assert_clean("validate", &out);
}

/// What operators type is quoted in errors too: a table prefix, a store URL, a path, an app
/// key file. None of it reaches the terminal with its control characters.
#[test]
fn operator_inputs_in_errors_are_escaped() {
    let dir = tempfile::tempdir().expect("tmp");
    let evil = "\u{1b}[2J\u{7}EVIL\r";
    let path = dir.path().join(format!("m{evil}")).display().to_string();
    let store = format!(
        "sqlite://{}",
        dir.path().join(format!("s{evil}.db")).display()
    );
    for args in [
        vec![
            "apply",
            "--table-prefix",
            evil,
            dir.path().to_str().expect("utf-8"),
        ],
        vec!["plan", "--store", &format!("redis://{evil}"), "."],
        vec!["apply", &path],
        vec!["validate", &path],
        vec!["verify", &path],
        vec!["apply", "--store", &store, "--app-key-file", &path, "."],
        vec![
            "list",
            "--store",
            "sqlite:///nonexistent",
            "--table-prefix",
            evil,
        ],
    ] {
        let out = common::run(&args);
        let what = format!("{args:?}");
        assert_clean(&what, &out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("\\e[2J\\aEVIL\\r"), "{what}: {stderr}");
        assert!(
            out.status.code().is_some_and(|c| c != 0),
            "{what} must fail"
        );
    }
}
