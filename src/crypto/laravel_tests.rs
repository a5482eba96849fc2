//! Tests of Laravel's encrypter (kept apart so that laravel.rs stays readable).

use super::*;

fn key(byte: u8) -> AppKey {
    AppKey::parse(&format!("base64:{}", STANDARD.encode([byte; 32]))).unwrap()
}

fn enc(byte: u8) -> Encrypter {
    Encrypter::new(key(byte), Vec::new())
}

/// The decoded JSON object of a payload.
fn fields(payload: &str) -> serde_json::Map<String, Value> {
    let json = STANDARD.decode(payload).unwrap();
    serde_json::from_slice::<Value>(&json)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

/// Re-encodes a (possibly modified) JSON object as a payload.
fn payload_of(object: &serde_json::Map<String, Value>) -> String {
    STANDARD.encode(serde_json::to_vec(object).unwrap())
}

/// Replaces one field and recomputes the MAC, so only that field's check can fail.
fn with_field_and_valid_mac(e: &Encrypter, payload: &str, name: &str, value: Value) -> String {
    let mut object = fields(payload);
    object.insert(name.to_owned(), value);
    let iv = object["iv"].as_str().unwrap_or_default().to_owned();
    let val = object["value"].as_str().unwrap_or_default().to_owned();
    let mac = to_lower_hex(&mac_for(&e.key, &iv, &val));
    object.insert("mac".to_owned(), Value::String(mac));
    payload_of(&object)
}

fn round_trip(e: &Encrypter, plaintext: &str) {
    let payload = e.encrypt(&SecretValue::new(plaintext));
    assert!(!payload.contains(plaintext) || plaintext.is_empty());
    assert_eq!(e.decrypt(&payload).unwrap().expose(), plaintext);
}

#[test]
fn round_trips() {
    let e = enc(7);
    round_trip(&e, "tok-abc123");
    round_trip(&e, "");
    round_trip(&e, "sixteen bytes!!!"); // exactly one block: a full padding block follows
    round_trip(&e, "pässwörd 🔑 日本語");
    let token: String = (0..4096)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    round_trip(&e, &token);
}

#[test]
fn payload_has_laravel_shape() {
    let e = enc(1);
    let payload = e.encrypt(&SecretValue::new("hello"));
    let json = String::from_utf8(STANDARD.decode(&payload).unwrap()).unwrap();
    // Laravel's field order, an empty tag, standard padded base64 and lowercase hex.
    assert!(json.starts_with(r#"{"iv":""#), "{json}");
    let object = fields(&payload);
    let keys: Vec<_> = object.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4);
    assert_eq!(object["tag"], "");
    let iv = STANDARD.decode(object["iv"].as_str().unwrap()).unwrap();
    assert_eq!(iv.len(), 16);
    let value = STANDARD.decode(object["value"].as_str().unwrap()).unwrap();
    assert_eq!(value.len(), 16);
    let mac = object["mac"].as_str().unwrap();
    assert_eq!(mac.len(), 64);
    assert!(mac.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
    assert!(json.find(r#""value""#).unwrap() < json.find(r#""mac""#).unwrap());
}

#[test]
fn fresh_iv_per_encryption() {
    let e = enc(1);
    let a = e.encrypt(&SecretValue::new("same"));
    let b = e.encrypt(&SecretValue::new("same"));
    assert_ne!(fields(&a)["iv"], fields(&b)["iv"]);
}

#[test]
fn known_vector() {
    // Fixed key and IV; the expected ciphertext of "hello" came from
    // `printf hello | openssl enc -aes-256-cbc -K 11…11 -iv 22…22 -base64 -A`.
    let e = Encrypter::new(
        AppKey::parse(&format!("base64:{}", STANDARD.encode([0x11; 32]))).unwrap(),
        vec![],
    );
    let payload = e.encrypt_with_iv(&SecretValue::new("hello"), &[0x22; 16]);
    let object = fields(&payload);
    assert_eq!(object["iv"], STANDARD.encode([0x22; 16]));
    assert_eq!(object["value"], "wc3Kw3JDlpLkpKMpzliQtQ==");
    // `printf '%s%s' "$iv_b64" "$value" | openssl dgst -sha256 -mac HMAC -macopt hexkey:11…11`
    assert_eq!(
        object["mac"],
        "132f43a7a39208d6fbd2c4e973b88d74e91ffb0c5d3c1249dc33716786514286"
    );
    assert_eq!(object["tag"], "");
    assert_eq!(e.decrypt(&payload).unwrap().expose(), "hello");
}

#[test]
fn wrong_key_is_refused() {
    let payload = enc(1).encrypt(&SecretValue::new("secret-token"));
    let err = enc(2).decrypt(&payload).unwrap_err();
    assert!(matches!(err, DecryptError::MacMismatch), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the payload's MAC does not match the current key or any previous key (was it encrypted with another APP_KEY?)"
    );
}

#[test]
fn previous_key_decrypts() {
    let old = enc(1).encrypt(&SecretValue::new("old-token"));
    let rotated = Encrypter::new(key(2), vec![key(3), key(1)]);
    assert_eq!(rotated.decrypt(&old).unwrap().expose(), "old-token");
    // New payloads use the current key only.
    let new = rotated.encrypt(&SecretValue::new("new-token"));
    assert!(matches!(
        enc(1).decrypt(&new),
        Err(DecryptError::MacMismatch)
    ));
    assert_eq!(enc(2).decrypt(&new).unwrap().expose(), "new-token");
}

#[test]
fn tampering_is_refused() {
    let e = enc(4);
    let payload = e.encrypt(&SecretValue::new("secret-token-value"));
    let original = fields(&payload);

    // Flip one hex digit of the MAC.
    let mut object = original.clone();
    let mut mac = object["mac"].as_str().unwrap().to_owned();
    let flipped = if mac.starts_with('0') { "1" } else { "0" };
    mac.replace_range(0..1, flipped);
    object.insert("mac".into(), Value::String(mac));
    assert!(matches!(
        e.decrypt(&payload_of(&object)),
        Err(DecryptError::MacMismatch)
    ));

    // Change the ciphertext (keeping it valid base64 of the same length).
    let mut object = original.clone();
    let mut value = STANDARD.decode(object["value"].as_str().unwrap()).unwrap();
    value[0] ^= 1;
    object.insert("value".into(), Value::String(STANDARD.encode(value)));
    assert!(matches!(
        e.decrypt(&payload_of(&object)),
        Err(DecryptError::MacMismatch)
    ));

    // Change the IV.
    let mut object = original.clone();
    let mut iv = STANDARD.decode(object["iv"].as_str().unwrap()).unwrap();
    iv[15] ^= 0x80;
    object.insert("iv".into(), Value::String(STANDARD.encode(iv)));
    assert!(matches!(
        e.decrypt(&payload_of(&object)),
        Err(DecryptError::MacMismatch)
    ));

    // The untouched payload still decrypts: the failures above come from the tampering.
    assert_eq!(
        e.decrypt(&payload_of(&original)).unwrap().expose(),
        "secret-token-value"
    );
}

#[test]
fn uppercase_or_short_mac_is_refused() {
    let e = enc(4);
    let payload = e.encrypt(&SecretValue::new("x"));
    for mac in [
        fields(&payload)["mac"].as_str().unwrap().to_uppercase(),
        "ab".repeat(31),
        String::new(),
    ] {
        let mut object = fields(&payload);
        object.insert("mac".into(), Value::String(mac));
        let err = e.decrypt(&payload_of(&object)).unwrap_err();
        assert!(
            matches!(
                err,
                DecryptError::NotAPayload("mac is not 64 lowercase hex digits")
            ),
            "{err:?}"
        );
    }
}

#[test]
fn non_empty_tag_is_refused_even_with_valid_mac() {
    let e = enc(5);
    let payload = e.encrypt(&SecretValue::new("x"));
    // The CBC MAC does not cover the tag, so only the tag check can catch this.
    let mut object = fields(&payload);
    object.insert("tag".into(), Value::String(STANDARD.encode([0u8; 16])));
    let err = e.decrypt(&payload_of(&object)).unwrap_err();
    assert!(matches!(err, DecryptError::UnexpectedTag), "{err:?}");

    object.insert("tag".into(), Value::from(5));
    let err = e.decrypt(&payload_of(&object)).unwrap_err();
    assert!(
        matches!(err, DecryptError::NotAPayload("tag is not a string")),
        "{err:?}"
    );

    // Absent and null tags are what older Laravel versions wrote; both are accepted.
    object.remove("tag");
    assert_eq!(e.decrypt(&payload_of(&object)).unwrap().expose(), "x");
    object.insert("tag".into(), Value::Null);
    assert_eq!(e.decrypt(&payload_of(&object)).unwrap().expose(), "x");
}

#[test]
fn iv_must_be_16_bytes() {
    let e = enc(6);
    let payload = e.encrypt(&SecretValue::new("x"));
    for iv in [
        STANDARD.encode([0u8; 15]),
        STANDARD.encode([0u8; 17]),
        String::new(),
    ] {
        let bad = with_field_and_valid_mac(&e, &payload, "iv", Value::String(iv));
        let err = e.decrypt(&bad).unwrap_err();
        assert!(
            matches!(err, DecryptError::NotAPayload("iv is not 16 bytes")),
            "{err:?}"
        );
    }
    let bad = with_field_and_valid_mac(&e, &payload, "iv", Value::String("%%%".into()));
    assert!(matches!(
        e.decrypt(&bad),
        Err(DecryptError::NotAPayload("iv is not base64"))
    ));
}

#[test]
fn fields_must_be_strings() {
    let e = enc(6);
    let payload = e.encrypt(&SecretValue::new("x"));
    for name in ["iv", "value", "mac"] {
        for replacement in [None, Some(Value::from(1)), Some(Value::Null)] {
            let mut object = fields(&payload);
            match replacement {
                None => object.remove(name),
                Some(v) => object.insert(name.to_owned(), v),
            };
            let err = e.decrypt(&payload_of(&object)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("not a Laravel payload: {name} is missing or not a string")
            );
        }
    }
}

#[test]
fn garbage_is_refused() {
    let e = enc(6);
    let cases = [
        (String::new(), "it does not decode to JSON"),
        ("not base64!".to_owned(), "it is not base64"),
        ("eyJpdiI".to_owned(), "it is not base64"), // unpadded: Laravel always pads
        (STANDARD.encode("{not json"), "it does not decode to JSON"),
        (STANDARD.encode("[1,2,3]"), "its JSON is not an object"),
        (STANDARD.encode("\"s\""), "its JSON is not an object"),
    ];
    for (payload, reason) in cases {
        let err = e.decrypt(&payload).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("not a Laravel payload: {reason}"),
            "{payload:?}"
        );
    }
}

#[test]
fn bad_ciphertext_with_valid_mac_is_refused() {
    let e = enc(8);
    let payload = e.encrypt(&SecretValue::new("x"));
    let not_b64 = with_field_and_valid_mac(&e, &payload, "value", Value::String("@@".into()));
    assert!(matches!(
        e.decrypt(&not_b64),
        Err(DecryptError::NotAPayload("value is not base64"))
    ));
    for len in [0, 15, 17] {
        let value = Value::String(STANDARD.encode(vec![0u8; len]));
        let bad = with_field_and_valid_mac(&e, &payload, "value", value);
        assert!(matches!(
            e.decrypt(&bad),
            Err(DecryptError::NotAPayload(
                "value is not a whole number of AES blocks"
            ))
        ));
    }
    // A block that decrypts to garbage padding, correctly MACed: only the unpad check fails.
    let mut found_bad_padding = false;
    for byte in 0..=255u8 {
        let value = Value::String(STANDARD.encode([byte; 16]));
        let bad = with_field_and_valid_mac(&e, &payload, "value", value);
        if matches!(e.decrypt(&bad), Err(DecryptError::BadPadding)) {
            found_bad_padding = true;
            break;
        }
    }
    assert!(found_bad_padding);
}

#[test]
fn non_utf8_plaintext_is_refused() {
    let e = enc(9);
    let iv = [3u8; 16];
    let ciphertext = Aes256CbcEnc::new(e.key.bytes().into(), (&iv).into())
        .encrypt_padded_vec_mut::<Pkcs7>(&[0xff, 0xfe, b'a']);
    let iv_b64 = STANDARD.encode(iv);
    let value = STANDARD.encode(ciphertext);
    let mac = to_lower_hex(&mac_for(&e.key, &iv_b64, &value));
    let payload = STANDARD.encode(
        serde_json::to_string(&Payload {
            iv: &iv_b64,
            value: &value,
            mac: &mac,
            tag: "",
        })
        .unwrap(),
    );
    assert!(matches!(e.decrypt(&payload), Err(DecryptError::NotUtf8)));
}

#[test]
fn php_escaped_slashes_are_read() {
    // PHP's json_encode without JSON_UNESCAPED_SLASHES writes "\/"; older Laravel did.
    let e = enc(10);
    let iv = [0xfbu8; 16]; // base64 "+/v7…" contains '/'
    let payload = e.encrypt_with_iv(&SecretValue::new("slashy"), &iv);
    let json = String::from_utf8(STANDARD.decode(&payload).unwrap()).unwrap();
    assert!(json.contains('/'));
    let escaped = json.replace('/', "\\/");
    assert_eq!(
        e.decrypt(&STANDARD.encode(escaped)).unwrap().expose(),
        "slashy"
    );
}

#[test]
fn parses_previous_keys() {
    let k1 = key(1).to_app_key_string();
    let k2 = "0123456789abcdef0123456789abcdef";
    let keys = Encrypter::parse_previous_keys(&format!(",{}, ,{k2} ,", k1.expose())).unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].bytes(), key(1).bytes());
    assert_eq!(&keys[1].bytes()[..], k2.as_bytes());
    assert!(Encrypter::parse_previous_keys("").unwrap().is_empty());
    assert!(Encrypter::parse_previous_keys(" , ,").unwrap().is_empty());

    let err =
        Encrypter::parse_previous_keys(&format!("{},base64:c2hvcnQ=", k1.expose())).unwrap_err();
    assert!(
        matches!(err, KeyError::InvalidPreviousKey { position: 2 }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("c2hvcnQ"), "{err}");
}

#[test]
fn debug_and_errors_never_show_secrets() {
    let k = key(0x5a);
    let key_text = k.to_app_key_string().expose().to_owned();
    let e = Encrypter::new(k, vec![key(1)]);
    let debug = format!("{e:?}");
    assert_eq!(
        debug,
        format!("Encrypter {{ key: {MASK}, previous_keys: 1 }}")
    );
    let payload = e.encrypt(&SecretValue::new("plain-secret-42"));
    let decrypted = e.decrypt(&payload).unwrap();
    assert_eq!(format!("{decrypted:?}"), MASK);
    let err = enc(2).decrypt(&payload).unwrap_err();
    for text in [format!("{err}"), format!("{err:?}"), debug] {
        assert!(!text.contains("plain-secret-42"), "{text}");
        assert!(!text.contains(&key_text), "{text}");
        assert!(!text.contains(&key_text["base64:".len()..]), "{text}");
    }
}
