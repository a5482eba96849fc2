//! The stored secret fingerprint: HMAC-SHA256 of a credential's secret digest under a key derived
//! from the APP_KEY, so that a reader of the database cannot test token guesses offline.
//!
//! The digest itself (a plain SHA-256 of client id, client secret and token) only lives in
//! memory. A stored value made under an earlier key, or by a version that stored the plain digest,
//! is recognised as the same secret and rewritten under the current key without re-verifying.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{AppKey, Encrypter, KEY_LEN};
use crate::secret::Tally;

/// Domain separation: this key is never the encryption key itself.
const CONTEXT: &[u8] = b"bccreds secret fingerprint v1";

/// A fingerprint key, derived from one APP_KEY; zeroed on drop and never printed.
#[derive(Clone)]
struct FingerprintKey(Zeroizing<[u8; KEY_LEN]>, Tally);

impl FingerprintKey {
    fn derive(app_key: &AppKey) -> FingerprintKey {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&hmac(app_key.bytes(), CONTEXT));
        FingerprintKey(key, Tally::new())
    }

    fn fingerprint(&self, digest: &str) -> String {
        hmac_hex(&self.0[..], digest.as_bytes())
    }
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    // Invariant: HMAC accepts keys of any length, so new_from_slice cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 of `message` under `key`, as 64 lowercase hex digits: how bccreds derives a
/// value that stands for a secret without revealing it.
pub fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    hex(&hmac(key, message))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The plain digest of a credential's secrets (client id, client secret, access token; `None`
/// for a secret kept as stored), which the stored fingerprint is keyed from.
pub fn secret_digest(
    client_id: Option<&str>,
    client_secret: Option<&str>,
    access_token: Option<&str>,
) -> String {
    use sha2::Digest;
    let mut hasher = Sha256::new();
    let mut part = |name: &str, value: Option<&str>| {
        hasher.update(name.as_bytes());
        match value {
            // Length-prefixed, so that no two different triples hash alike.
            Some(v) => {
                hasher.update(b"=");
                hasher.update((v.len() as u64).to_be_bytes());
                hasher.update(v.as_bytes());
            }
            None => hasher.update(b"~keep"),
        }
    };
    part("clientId", client_id);
    part("clientSecret", client_secret);
    part("accessToken", access_token);
    hex(&hasher.finalize())
}

/// How a stored fingerprint relates to a credential's current secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FingerprintMatch {
    /// Same secrets, fingerprinted under the current key.
    Current,
    /// Same secrets, stored under a previous key or as a plain digest: rewrite it, nothing more.
    Outdated,
    /// Different secrets.
    Changed,
}

/// The keys fingerprints are made and recognised with.
#[derive(Clone)]
pub struct SecretFingerprints {
    /// None when secrets are stored in plaintext: then the plain digest protects nothing less.
    current: Option<FingerprintKey>,
    previous: Vec<FingerprintKey>,
}

impl fmt::Debug for SecretFingerprints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretFingerprints")
            .field("keyed", &self.current.is_some())
            .field("previous_keys", &self.previous.len())
            .finish()
    }
}

impl SecretFingerprints {
    /// Fingerprints keyed by the encrypter's APP_KEY, recognising its previous keys' too.
    pub fn keyed(encrypter: &Encrypter) -> SecretFingerprints {
        SecretFingerprints {
            current: Some(FingerprintKey::derive(encrypter.key())),
            previous: encrypter
                .previous_keys()
                .iter()
                .map(FingerprintKey::derive)
                .collect(),
        }
    }

    /// For stores that keep secrets in plaintext: the fingerprint is the digest itself.
    pub fn unkeyed() -> SecretFingerprints {
        SecretFingerprints {
            current: None,
            previous: Vec::new(),
        }
    }

    /// The fingerprint to store for `digest`.
    pub fn current(&self, digest: &str) -> String {
        match &self.current {
            Some(key) => key.fingerprint(digest),
            None => digest.to_string(),
        }
    }

    /// How `stored` relates to `digest`.
    pub fn check(&self, stored: &str, digest: &str) -> FingerprintMatch {
        if stored == self.current(digest) {
            FingerprintMatch::Current
        } else if stored == digest
            || self
                .previous
                .iter()
                .any(|k| stored == k.fingerprint(digest))
        {
            FingerprintMatch::Outdated
        } else {
            FingerprintMatch::Changed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

    fn key(byte: u8) -> AppKey {
        AppKey::parse(
            &"k".repeat(31)
                .chars()
                .chain([byte as char])
                .collect::<String>(),
        )
        .expect("32-byte key")
    }

    #[test]
    fn a_keyed_fingerprint_is_neither_the_digest_nor_another_keys() {
        let a = SecretFingerprints::keyed(&Encrypter::new(key(b'a'), Vec::new()));
        let b = SecretFingerprints::keyed(&Encrypter::new(key(b'b'), Vec::new()));
        let fa = a.current(DIGEST);
        assert_eq!(fa.len(), 64);
        assert_ne!(fa, DIGEST);
        assert_ne!(fa, b.current(DIGEST));
        assert_eq!(fa, a.current(DIGEST), "deterministic");
        assert_ne!(fa, a.current(&DIGEST.replace('5', "6")));
    }

    #[test]
    fn stored_values_are_classified() {
        let old = Encrypter::new(key(b'a'), Vec::new());
        let rotated = Encrypter::new(key(b'b'), vec![key(b'a')]);
        let fp = SecretFingerprints::keyed(&rotated);
        let under_old = SecretFingerprints::keyed(&old).current(DIGEST);
        assert_eq!(
            fp.check(&fp.current(DIGEST), DIGEST),
            FingerprintMatch::Current
        );
        assert_eq!(fp.check(&under_old, DIGEST), FingerprintMatch::Outdated);
        assert_eq!(fp.check(DIGEST, DIGEST), FingerprintMatch::Outdated);
        assert_eq!(fp.check(&"0".repeat(64), DIGEST), FingerprintMatch::Changed);
        let without_previous = SecretFingerprints::keyed(&Encrypter::new(key(b'b'), Vec::new()));
        assert_eq!(
            without_previous.check(&under_old, DIGEST),
            FingerprintMatch::Changed
        );
    }

    #[test]
    fn unkeyed_stores_keep_the_digest_and_debug_shows_no_key() {
        let fp = SecretFingerprints::unkeyed();
        assert_eq!(fp.current(DIGEST), DIGEST);
        assert_eq!(fp.check(DIGEST, DIGEST), FingerprintMatch::Current);
        let keyed = SecretFingerprints::keyed(&Encrypter::new(key(b'a'), Vec::new()));
        let shown = format!("{keyed:?}");
        assert!(
            !shown.contains("kkkk") && shown.contains("keyed: true"),
            "{shown}"
        );
    }
}
