//! Laravel's `Crypt::encryptString` / `decryptString` payload format with AES-256-CBC.
//!
//! The stored text is base64 of `{"iv":…,"value":…,"mac":…,"tag":""}`, where `value` is the
//! base64 AES-256-CBC ciphertext of the PKCS#7-padded plaintext and `mac` is the lowercase hex
//! HMAC-SHA256 of the two base64 strings `iv` and `value` concatenated.

use std::fmt;

use aes::Aes256;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::key::{fill_random, AppKey, KeyError};
use super::key_fingerprint::SealedWith;
use crate::secret::{SecretValue, MASK};

type Aes256CbcEnc = cbc::Encryptor<Aes256>;
type Aes256CbcDec = cbc::Decryptor<Aes256>;
type HmacSha256 = Hmac<Sha256>;

/// AES block and IV length; Laravel checks the decoded iv against it.
const IV_LEN: usize = 16;
/// HMAC-SHA256 output length.
const MAC_LEN: usize = 32;

/// Why a stored payload could not be decrypted. Messages never contain key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    /// The text is not a well-formed Laravel payload; the reason says which part is wrong.
    #[error("not a Laravel payload: {0}")]
    NotAPayload(&'static str),
    /// No key (current or previous) produces the payload's MAC.
    #[error(
        "the payload's MAC does not match the current key or any previous key (was it encrypted with another APP_KEY?)"
    )]
    MacMismatch,
    /// The payload carries an AEAD tag, which AES-256-CBC payloads never have.
    #[error(
        "the payload has a non-empty tag, which AES-256-CBC does not use (was it encrypted with an AEAD cipher such as AES-256-GCM?)"
    )]
    UnexpectedTag,
    /// The MAC matched but the ciphertext did not decrypt to valid PKCS#7 padding.
    #[error("the payload's MAC matches but its value does not decrypt to valid padding")]
    BadPadding,
    /// The decrypted bytes are not UTF-8 text.
    #[error("the decrypted value is not UTF-8 text")]
    NotUtf8,
}

/// The JSON object inside a payload, in the field order Laravel writes.
#[derive(Serialize)]
struct Payload<'a> {
    iv: &'a str,
    value: &'a str,
    mac: &'a str,
    tag: &'a str,
}

/// Encrypts and decrypts secrets exactly as Laravel's encrypter does with AES-256-CBC.
#[derive(Clone)]
pub struct Encrypter {
    key: AppKey,
    previous: Vec<AppKey>,
}

impl fmt::Debug for Encrypter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encrypter")
            .field("key", &format_args!("{MASK}"))
            .field("previous_keys", &self.previous.len())
            .finish()
    }
}

impl Encrypter {
    /// An encrypter that encrypts with `key` and also decrypts payloads made with `previous` keys.
    pub fn new(key: AppKey, previous: Vec<AppKey>) -> Encrypter {
        Encrypter { key, previous }
    }

    /// The key new payloads are made with.
    pub(crate) fn key(&self) -> &AppKey {
        &self.key
    }

    /// The keys older payloads may have been made with.
    pub(crate) fn previous_keys(&self) -> &[AppKey] {
        &self.previous
    }

    /// Parses APP_PREVIOUS_KEYS: comma-separated keys, blanks ignored.
    ///
    /// Whitespace around each entry is trimmed, so `a, b` works as an operator would expect.
    pub fn parse_previous_keys(text: &str) -> Result<Vec<AppKey>, KeyError> {
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
            .map(|(index, entry)| {
                AppKey::parse(entry).map_err(|_| KeyError::InvalidPreviousKey {
                    position: index + 1,
                })
            })
            .collect()
    }

    /// Encrypts `plaintext` with the current key and a fresh random IV into the stored payload.
    ///
    /// # Panics
    /// If the operating system cannot provide random bytes for the IV.
    pub fn encrypt(&self, plaintext: &SecretValue) -> String {
        let mut iv = [0u8; IV_LEN];
        fill_random(&mut iv);
        self.encrypt_with_iv(plaintext, &iv)
    }

    /// Encrypts with a given IV; separate so tests can check fixed vectors.
    fn encrypt_with_iv(&self, plaintext: &SecretValue, iv: &[u8; IV_LEN]) -> String {
        let key = self.key.bytes();
        let ciphertext = Aes256CbcEnc::new(key.into(), iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext.expose().as_bytes());
        let iv_b64 = STANDARD.encode(iv);
        let value = STANDARD.encode(ciphertext);
        let mac = to_lower_hex(&mac_for(&self.key, &iv_b64, &value));
        let json = serde_json::to_string(&Payload {
            iv: &iv_b64,
            value: &value,
            mac: &mac,
            tag: "",
        })
        .expect("a struct of strings serialises");
        STANDARD.encode(json)
    }

    /// Whether `payload` is sealed with the current key, rather than a previous one (or none).
    pub fn is_current(&self, payload: &str) -> bool {
        self.sealed_with(payload) == SealedWith::Current
    }

    /// Whether `text` has the shape of a Laravel payload, whatever key made it.
    pub fn is_payload(text: &str) -> bool {
        Parts::parse(text).is_ok()
    }

    /// Which of this encrypter's keys made `payload`'s MAC; only the MAC is checked.
    pub fn sealed_with(&self, payload: &str) -> SealedWith {
        let Ok(parts) = Parts::parse(payload) else {
            return SealedWith::NotAPayload;
        };
        if parts.sealed_by(&self.key) {
            return SealedWith::Current;
        }
        self.previous
            .iter()
            .position(|key| parts.sealed_by(key))
            .map_or(SealedWith::UnknownKey, SealedWith::Previous)
    }

    /// Verifies and decrypts a stored payload with the current key or, failing that, a previous one.
    pub fn decrypt(&self, payload: &str) -> Result<SecretValue, DecryptError> {
        let Parts {
            iv_b64,
            value,
            mac,
            tag,
        } = Parts::parse(payload)?;
        let (iv_b64, value, tag) = (iv_b64.as_str(), value.as_str(), tag.as_str());
        let iv: [u8; IV_LEN] = STANDARD
            .decode(iv_b64)
            .map_err(|_| DecryptError::NotAPayload("iv is not base64"))?
            .try_into()
            .map_err(|_| DecryptError::NotAPayload("iv is not 16 bytes"))?;

        // The MAC is checked before anything touches the ciphertext, as Laravel does, so a
        // forged payload learns nothing from padding or UTF-8 errors.
        let key = std::iter::once(&self.key)
            .chain(&self.previous)
            .find(|key| mac_matches(key, iv_b64, value, &mac))
            .ok_or(DecryptError::MacMismatch)?;
        if !tag.is_empty() {
            return Err(DecryptError::UnexpectedTag);
        }

        let ciphertext = STANDARD
            .decode(value)
            .map_err(|_| DecryptError::NotAPayload("value is not base64"))?;
        if ciphertext.is_empty() || ciphertext.len() % IV_LEN != 0 {
            return Err(DecryptError::NotAPayload(
                "value is not a whole number of AES blocks",
            ));
        }
        // Decrypt into a buffer that is zeroed on drop: it holds the plaintext, even on errors.
        let mut out = Zeroizing::new(vec![0u8; ciphertext.len()]);
        let plaintext = Aes256CbcDec::new(key.bytes().into(), (&iv).into())
            .decrypt_padded_b2b_mut::<Pkcs7>(&ciphertext, &mut out)
            .map_err(|_| DecryptError::BadPadding)?;
        let text = std::str::from_utf8(plaintext).map_err(|_| DecryptError::NotUtf8)?;
        Ok(SecretValue::new(text))
    }
}

/// The fields of a payload, before any key is tried.
struct Parts {
    iv_b64: String,
    value: String,
    mac: [u8; MAC_LEN],
    tag: String,
}

impl Parts {
    fn parse(payload: &str) -> Result<Parts, DecryptError> {
        let json = STANDARD
            .decode(payload.trim_ascii())
            .map_err(|_| DecryptError::NotAPayload("it is not base64"))?;
        let object: Value = serde_json::from_slice(&json)
            .map_err(|_| DecryptError::NotAPayload("it does not decode to JSON"))?;
        let object = object
            .as_object()
            .ok_or(DecryptError::NotAPayload("its JSON is not an object"))?;
        let field = |name: &'static str, missing: &'static str| {
            object
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or(DecryptError::NotAPayload(missing))
        };
        let iv_b64 = field("iv", "iv is missing or not a string")?;
        let value = field("value", "value is missing or not a string")?;
        let mac_hex = field("mac", "mac is missing or not a string")?;
        // Laravel accepts an absent or null tag, and rejects any other non-string.
        let tag = match object.get("tag") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(tag)) => tag.clone(),
            Some(_) => return Err(DecryptError::NotAPayload("tag is not a string")),
        };
        let mac = from_lower_hex(&mac_hex).ok_or(DecryptError::NotAPayload(
            "mac is not 64 lowercase hex digits",
        ))?;
        Ok(Parts {
            iv_b64,
            value,
            mac,
            tag,
        })
    }

    fn sealed_by(&self, key: &AppKey) -> bool {
        mac_matches(key, &self.iv_b64, &self.value, &self.mac)
    }
}

/// HMAC-SHA256 under `key` of the base64 strings `iv_b64` and `value`, concatenated.
fn mac_for(key: &AppKey, iv_b64: &str, value: &str) -> [u8; MAC_LEN] {
    let mut hmac = new_hmac(key);
    hmac.update(iv_b64.as_bytes());
    hmac.update(value.as_bytes());
    hmac.finalize().into_bytes().into()
}

/// Compares the expected MAC with `mac` in constant time (`verify_slice`), so timing leaks nothing.
fn mac_matches(key: &AppKey, iv_b64: &str, value: &str, mac: &[u8; MAC_LEN]) -> bool {
    let mut hmac = new_hmac(key);
    hmac.update(iv_b64.as_bytes());
    hmac.update(value.as_bytes());
    hmac.verify_slice(mac).is_ok()
}

fn new_hmac(key: &AppKey) -> HmacSha256 {
    HmacSha256::new_from_slice(key.bytes()).expect("HMAC accepts keys of any length")
}

fn to_lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Decodes exactly 64 lowercase hex digits; Laravel compares the hex strings, so uppercase
/// would never match there either.
fn from_lower_hex(text: &str) -> Option<[u8; MAC_LEN]> {
    let digits = text.as_bytes();
    if digits.len() != MAC_LEN * 2 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; MAC_LEN];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
#[path = "laravel_tests.rs"]
mod tests;
