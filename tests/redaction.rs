//! No command prints a password from a URL it was given, whatever shape the URL has: the
//! corpus in `bccreds::redact::TEST_CORPUS` goes through every command that takes a store URL, a
//! BigCommerce base URL or a `status` URL, and their stdout and stderr are searched for it.

mod common;

use std::fs;

use bccreds::redact::TEST_CORPUS;

const MANIFEST: &str = "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\nmetadata:\n  name: shop\nspec:\n  label: Shop\n  apiUrl: https://api.bigcommerce.com/stores/abc123/\n  accessToken:\n    env: BC_TOKEN\n";

#[test]
fn no_command_prints_a_password_from_a_url() {
    let tmp = tempfile::tempdir().expect("tmp");
    let m = tmp.path().join("m.yaml");
    fs::write(&m, MANIFEST).expect("w");
    let m = m.display().to_string();
    assert!(TEST_CORPUS.len() >= 15);
    for (url, password) in TEST_CORPUS {
        let runs: Vec<Vec<&str>> = vec![
            vec!["list", "--store", url],
            vec!["plan", "--store", url, &m],
            vec!["apply", "--store", url, &m],
            vec!["rekey", "--store", url],
            vec!["verify", "--bigcommerce-base-url", url, &m],
            vec!["apply", "--bigcommerce-base-url", url, &m],
            vec!["status", "--url", url],
        ];
        for args in runs {
            for app_key in [
                None,
                Some("base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
            ] {
                let mut cmd = common::bccreds();
                cmd.current_dir(tmp.path())
                    .args(&args)
                    .env("BC_TOKEN", "tok-redaction")
                    .env_remove("APP_KEY");
                if let Some(key) = app_key {
                    cmd.env("APP_KEY", key);
                }
                let out = cmd.output().expect("runs");
                let text = common::all_output(&out);
                assert!(
                    !text.contains(password),
                    "`bccreds {}` printed the password of {url}:\n{text}",
                    args.join(" ")
                );
            }
        }
    }
}
