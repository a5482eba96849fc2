//! Interoperability of `bccreds::crypto` with Laravel's AES-256-CBC payload format, checked
//! against an independent implementation: the `openssl` command-line tool.
//!
//! Payloads built by openssl must decrypt with `Encrypter`, and payloads from `Encrypter` must
//! verify and decrypt with openssl. Where openssl is missing, these tests say so and skip, so
//! that a machine with only a Rust toolchain passes `cargo test`; `.ci/run` sets
//! `BCCREDS_REQUIRE_OPENSSL=1` (and installs openssl), and then a missing openssl fails them.

use std::io::Write;
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bccreds::crypto::{AppKey, DecryptError, Encrypter, KeyError};
use bccreds::secret::{SecretValue, MASK};

const MAC_MISMATCH: &str = "the payload's MAC does not match the current key or any previous key (was it encrypted with another APP_KEY?)";

/// Whether openssl can run; without it, a loud note (or a failure when CI requires it).
fn have_openssl() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("BCCREDS_REQUIRE_OPENSSL").is_none(),
            "BCCREDS_REQUIRE_OPENSSL is set but the `openssl` command-line tool cannot run; install openssl"
        );
        static NOTE: std::sync::Once = std::sync::Once::new();
        // Written past the test harness's capture so that a plain `cargo test` shows it.
        NOTE.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "note: Laravel interop tests skipped: the `openssl` command-line tool is not installed"
            );
        });
    }
    found
}

/// Runs `openssl ARGS…` with `stdin` and returns its stdout; panics with a clear message if
/// openssl is missing or fails.
fn openssl(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "these tests need the `openssl` command-line tool as an independent \
                 implementation of AES-256-CBC and HMAC-SHA256, but it could not be run ({err}); \
                 install openssl (e.g. `apt-get install openssl`) and rerun"
            )
        });
    // Write from a thread: openssl may fill its stdout pipe before reading all of stdin.
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || pipe.write_all(&input));
    let out = child.wait_with_output().expect("openssl runs");
    writer.join().unwrap().expect("openssl reads its stdin");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// AES-256-CBC with PKCS#7 padding by openssl, as base64 on one line.
fn openssl_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> String {
    let out = openssl(
        &[
            "enc",
            "-aes-256-cbc",
            "-K",
            &hex(key),
            "-iv",
            &hex(iv),
            "-base64",
            "-A",
        ],
        plaintext,
    );
    String::from_utf8(out).unwrap().trim().to_owned()
}

/// Decrypts base64 `value` with openssl.
fn openssl_decrypt(key: &[u8; 32], iv: &[u8; 16], value: &str) -> Vec<u8> {
    openssl(
        &[
            "enc",
            "-d",
            "-aes-256-cbc",
            "-K",
            &hex(key),
            "-iv",
            &hex(iv),
            "-base64",
            "-A",
        ],
        value.as_bytes(),
    )
}

/// Lowercase hex HMAC-SHA256 of `data` by openssl; the key goes in as hex because raw key bytes
/// may not survive a command line.
fn openssl_hmac(key: &[u8; 32], data: &str) -> String {
    let macopt = format!("hexkey:{}", hex(key));
    let out = openssl(
        &["dgst", "-sha256", "-mac", "HMAC", "-macopt", &macopt],
        data.as_bytes(),
    );
    // Output looks like "HMAC-SHA2-256(stdin)= 5f1c…" (the label differs between versions).
    let text = String::from_utf8(out).unwrap();
    let mac = text
        .trim()
        .rsplit(' ')
        .next()
        .expect("openssl dgst prints a digest")
        .to_owned();
    assert_eq!(mac.len(), 64, "unexpected openssl dgst output: {text}");
    mac
}

/// A Laravel `Crypt::encryptString` payload built with openssl for the cipher and the MAC.
fn openssl_payload(key: &[u8; 32], iv: &[u8; 16], plaintext: &str) -> String {
    let iv_b64 = STANDARD.encode(iv);
    let value = openssl_encrypt(key, iv, plaintext.as_bytes());
    let mac = openssl_hmac(key, &format!("{iv_b64}{value}"));
    let json = serde_json::json!({ "iv": iv_b64, "value": value, "mac": mac, "tag": "" });
    STANDARD.encode(serde_json::to_string(&json).unwrap())
}

fn app_key(bytes: &[u8; 32]) -> AppKey {
    AppKey::parse(&format!("base64:{}", STANDARD.encode(bytes))).unwrap()
}

const KEY_A: [u8; 32] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];
const KEY_B: [u8; 32] = [0xa5; 32];
const IV: [u8; 16] = [
    0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f,
];

fn plaintexts() -> Vec<String> {
    vec![
        "tok-abc123".to_owned(),
        String::new(),
        "exactly 16 bytes".to_owned(),
        "pässwörd 🔑 日本語 \"quoted\" \\ back/slash".to_owned(),
        (0..4096)
            .map(|i| char::from(b'A' + (i % 26) as u8))
            .collect(),
    ]
}

#[test]
fn openssl_payloads_decrypt() {
    if !have_openssl() {
        return;
    }
    let encrypter = Encrypter::new(app_key(&KEY_A), Vec::new());
    for plaintext in plaintexts() {
        let payload = openssl_payload(&KEY_A, &IV, &plaintext);
        let decrypted = encrypter
            .decrypt(&payload)
            .unwrap_or_else(|err| panic!("openssl payload refused: {err}"));
        assert_eq!(decrypted.expose(), plaintext);
    }
}

#[test]
fn openssl_payload_with_raw_32_character_key_decrypts() {
    if !have_openssl() {
        return;
    }
    // APP_KEY without the base64: prefix: the 32 characters are the key bytes.
    let raw = "0123456789abcdef0123456789ABCDEF";
    let key: [u8; 32] = raw.as_bytes().try_into().unwrap();
    let encrypter = Encrypter::new(AppKey::parse(raw).unwrap(), Vec::new());
    let payload = openssl_payload(&key, &IV, "raw-key-secret");
    assert_eq!(
        encrypter.decrypt(&payload).unwrap().expose(),
        "raw-key-secret"
    );
}

#[test]
fn our_payloads_verify_and_decrypt_with_openssl() {
    if !have_openssl() {
        return;
    }
    let encrypter = Encrypter::new(app_key(&KEY_A), Vec::new());
    for plaintext in plaintexts() {
        let payload = encrypter.encrypt(&SecretValue::new(plaintext.as_str()));
        let json = STANDARD
            .decode(&payload)
            .expect("payload is standard base64");
        let object: serde_json::Value = serde_json::from_slice(&json).expect("payload is JSON");
        let iv_b64 = object["iv"].as_str().expect("iv is a string");
        let value = object["value"].as_str().expect("value is a string");
        let mac = object["mac"].as_str().expect("mac is a string");
        assert_eq!(object["tag"], "", "CBC payloads carry an empty tag");
        assert_eq!(object.as_object().unwrap().len(), 4);

        let iv: [u8; 16] = STANDARD
            .decode(iv_b64)
            .unwrap()
            .try_into()
            .expect("iv is 16 bytes");
        assert_eq!(
            mac,
            openssl_hmac(&KEY_A, &format!("{iv_b64}{value}")),
            "MAC is HMAC-SHA256 over the base64 iv and value strings"
        );
        let decrypted = openssl_decrypt(&KEY_A, &iv, value);
        assert_eq!(decrypted, plaintext.as_bytes());
        // And openssl, given the same IV, produces the very same ciphertext.
        assert_eq!(value, openssl_encrypt(&KEY_A, &iv, plaintext.as_bytes()));
    }
}

#[test]
fn tampered_mac_is_refused() {
    if !have_openssl() {
        return;
    }
    let encrypter = Encrypter::new(app_key(&KEY_A), Vec::new());
    let payload = openssl_payload(&KEY_A, &IV, "tok-abc123");
    let json = STANDARD.decode(&payload).unwrap();
    let mut object: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let mac = object["mac"].as_str().unwrap().to_owned();
    let last = if mac.ends_with('0') { "1" } else { "0" };
    object["mac"] = format!("{}{last}", &mac[..63]).into();
    let tampered = STANDARD.encode(serde_json::to_string(&object).unwrap());

    let err = encrypter.decrypt(&tampered).unwrap_err();
    assert!(matches!(err, DecryptError::MacMismatch), "{err:?}");
    assert_eq!(err.to_string(), MAC_MISMATCH);
}

#[test]
fn payload_from_another_key_is_refused_and_previous_key_decrypts() {
    if !have_openssl() {
        return;
    }
    let payload = openssl_payload(&KEY_A, &IV, "tok-from-old-key");

    let current_only = Encrypter::new(app_key(&KEY_B), Vec::new());
    let err = current_only.decrypt(&payload).unwrap_err();
    assert!(matches!(err, DecryptError::MacMismatch), "{err:?}");
    assert_eq!(err.to_string(), MAC_MISMATCH);

    let previous = Encrypter::parse_previous_keys(&format!(
        "base64:{}, base64:{}",
        STANDARD.encode([0x33; 32]),
        STANDARD.encode(KEY_A)
    ))
    .unwrap();
    let rotated = Encrypter::new(app_key(&KEY_B), previous);
    assert_eq!(
        rotated.decrypt(&payload).unwrap().expose(),
        "tok-from-old-key"
    );

    // After rotation, new payloads are made with the current key, as openssl confirms.
    let fresh = rotated.encrypt(&SecretValue::new("tok-new"));
    let object: serde_json::Value =
        serde_json::from_slice(&STANDARD.decode(&fresh).unwrap()).unwrap();
    let (iv_b64, value) = (
        object["iv"].as_str().unwrap(),
        object["value"].as_str().unwrap(),
    );
    assert_eq!(
        object["mac"],
        openssl_hmac(&KEY_B, &format!("{iv_b64}{value}"))
    );
}

#[test]
fn non_empty_tag_is_refused() {
    if !have_openssl() {
        return;
    }
    let encrypter = Encrypter::new(app_key(&KEY_A), Vec::new());
    let payload = openssl_payload(&KEY_A, &IV, "tok");
    let mut object: serde_json::Value =
        serde_json::from_slice(&STANDARD.decode(&payload).unwrap()).unwrap();
    object["tag"] = STANDARD.encode([7u8; 16]).into();
    let tagged = STANDARD.encode(serde_json::to_string(&object).unwrap());
    let err = encrypter.decrypt(&tagged).unwrap_err();
    assert!(matches!(err, DecryptError::UnexpectedTag), "{err:?}");
}

#[test]
fn debug_output_and_errors_never_contain_secrets() {
    let plaintext = "super-secret-token-0xC0FFEE";
    let key = app_key(&KEY_A);
    let key_string = key.to_app_key_string().expose().to_owned();
    let key_forms = [
        key_string.clone(),
        STANDARD.encode(KEY_A),
        hex(&KEY_A),
        String::from_utf8_lossy(&KEY_A).into_owned(),
    ];
    let encrypter = Encrypter::new(key.clone(), vec![app_key(&KEY_B)]);
    let payload = encrypter.encrypt(&SecretValue::new(plaintext));
    let object: serde_json::Value =
        serde_json::from_slice(&STANDARD.decode(&payload).unwrap()).unwrap();

    let mut texts = vec![
        format!("{key:?}"),
        format!("{encrypter:?}"),
        format!("{encrypter:#?}"),
        format!("{:?}", key.to_app_key_string()),
        format!("{}", key.to_app_key_string()),
        format!("{:?}", encrypter.decrypt(&payload)),
    ];
    assert_eq!(texts[0], MASK);
    assert!(texts[1].contains(MASK), "{}", texts[1]);

    // Every decryption failure, in Display and Debug form.
    let wrong_key = Encrypter::new(app_key(&KEY_B), Vec::new());
    let mut decrypt_errors = vec![wrong_key.decrypt(&payload).unwrap_err()];
    let variants = [
        ("mac", serde_json::Value::from("0".repeat(64))),
        ("mac", serde_json::Value::from("XYZ")),
        ("tag", serde_json::Value::from("AAAA")),
        ("tag", serde_json::Value::from(1)),
        ("iv", serde_json::Value::from("AAAA")),
        ("iv", serde_json::Value::from("!!")),
        ("value", serde_json::Value::Null),
    ];
    for (field, replacement) in variants {
        let mut changed = object.clone();
        changed[field] = replacement;
        let text = STANDARD.encode(serde_json::to_string(&changed).unwrap());
        decrypt_errors.push(encrypter.decrypt(&text).unwrap_err());
    }
    for garbage in [String::new(), "%%%".to_owned(), STANDARD.encode("[]")] {
        decrypt_errors.push(encrypter.decrypt(&garbage).unwrap_err());
    }
    for err in &decrypt_errors {
        texts.push(err.to_string());
        texts.push(format!("{err:?}"));
    }

    // Every key error, including ones whose input was key-like material.
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("app.key");
    std::fs::write(&key_file, format!("{key_string}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut key_errors: Vec<KeyError> = vec![
        AppKey::parse(&key_string[..key_string.len() - 4]).unwrap_err(),
        AppKey::parse(&hex(&KEY_A)).unwrap_err(),
        Encrypter::parse_previous_keys(&format!("{key_string},{}", &key_string[1..])).unwrap_err(),
    ];
    #[cfg(unix)]
    key_errors.push(bccreds::crypto::load_or_create_key_file(&key_file).unwrap_err());
    let bad_file = dir.path().join("bad.key");
    std::fs::write(&bad_file, &key_string[..20]).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bad_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    key_errors.push(bccreds::crypto::load_or_create_key_file(&bad_file).unwrap_err());
    for err in &key_errors {
        texts.push(err.to_string());
        texts.push(format!("{err:?}"));
    }

    for text in &texts {
        assert!(!text.contains(plaintext), "plaintext leaked: {text}");
        for form in &key_forms {
            assert!(!text.contains(form.as_str()), "key leaked: {text}");
        }
        // Also no fragment long enough to matter (the base64 key minus its padding).
        assert!(
            !text.contains(&STANDARD.encode(KEY_A)[..40]),
            "key fragment leaked: {text}"
        );
    }
}
