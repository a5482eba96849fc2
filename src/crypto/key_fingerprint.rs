//! Which key a store's secrets are sealed with: a fingerprint of an APP_KEY (an HMAC of a fixed
//! label under the key, never the key itself), recorded in the store, so that a pass run with a
//! key that UnoPim does not have refuses to write instead of re-encrypting every row with it.

use super::{AppKey, Encrypter};

/// The label whose HMAC under a key is that key's fingerprint.
const LABEL: &[u8] = b"bccreds store key fingerprint v1";

/// What a store records when its secrets are kept in plaintext (`--secret-encryption none`).
pub const PLAINTEXT: &str = "plaintext";

/// The fingerprint of `key`: 64 lowercase hex digits, which reveal nothing of the key.
pub fn key_fingerprint(key: &AppKey) -> String {
    super::hmac_hex(key.bytes(), LABEL)
}

/// The first characters of a fingerprint, enough for an operator to tell two keys apart.
pub fn short(fingerprint: &str) -> &str {
    fingerprint.get(..8).unwrap_or(fingerprint)
}

/// Which of its keys sealed a payload, as far as its MAC tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedWith {
    /// The current APP_KEY.
    Current,
    /// The previous key at this index of APP_PREVIOUS_KEYS.
    Previous(usize),
    /// A Laravel payload, but no key given produces its MAC.
    UnknownKey,
    /// Not a Laravel payload at all (plaintext, or damaged).
    NotAPayload,
}

/// The keys a process was given, as fingerprints: what it writes with, and what it reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRing {
    /// The fingerprint of the key new payloads are made with, or [`PLAINTEXT`].
    pub current: String,
    /// The fingerprints of APP_PREVIOUS_KEYS.
    pub previous: Vec<String>,
}

impl KeyRing {
    /// The keys of `encrypter`, or plaintext without one.
    pub fn of(encrypter: Option<&Encrypter>) -> KeyRing {
        match encrypter {
            None => KeyRing {
                current: PLAINTEXT.to_string(),
                previous: Vec::new(),
            },
            Some(e) => KeyRing {
                current: key_fingerprint(e.key()),
                previous: e.previous_keys().iter().map(key_fingerprint).collect(),
            },
        }
    }

    /// Whether secrets sealed under `recorded` can be read with these keys.
    pub fn accepts(&self, recorded: &str) -> bool {
        self.current == recorded || self.previous.iter().any(|p| p == recorded)
    }

    /// Whether this process keeps secrets in plaintext.
    pub fn plaintext(&self) -> bool {
        self.current == PLAINTEXT
    }

    /// The fingerprint a store with no record yet is sealed with, judged from payloads of its
    /// rows: the current key when any row uses it (or there is none to judge by), else the
    /// previous key that one does; `None` when every row was sealed with a key not given, which
    /// is what a wrong APP_KEY looks like.
    pub fn infer(&self, sealed: &[SealedWith]) -> Option<String> {
        if self.plaintext() {
            // Plaintext rows are not payloads; a store whose every row is one is encrypted.
            let encrypted =
                !sealed.is_empty() && sealed.iter().all(|s| *s != SealedWith::NotAPayload);
            return (!encrypted).then(|| self.current.clone());
        }
        if sealed.is_empty() || sealed.contains(&SealedWith::Current) {
            return Some(self.current.clone());
        }
        sealed.iter().find_map(|s| match s {
            SealedWith::Previous(i) => self.previous.get(*i).cloned(),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: char) -> AppKey {
        AppKey::parse(&byte.to_string().repeat(32)).expect("32-byte key")
    }

    #[test]
    fn a_fingerprint_is_stable_distinct_and_not_the_key() {
        let a = key_fingerprint(&key('a'));
        assert_eq!(a.len(), 64);
        assert_eq!(a, key_fingerprint(&key('a')));
        assert_ne!(a, key_fingerprint(&key('b')));
        // The key's bytes ('a' is 0x61) do not show through.
        assert!(!a.contains("61616161"), "{a}");
        assert_eq!(short(&a).len(), 8);
    }

    #[test]
    fn a_ring_accepts_its_current_and_previous_keys_only() {
        let ring = KeyRing::of(Some(&Encrypter::new(key('b'), vec![key('a')])));
        assert!(ring.accepts(&key_fingerprint(&key('b'))));
        assert!(ring.accepts(&key_fingerprint(&key('a'))));
        assert!(!ring.accepts(&key_fingerprint(&key('c'))));
        assert!(!ring.accepts(PLAINTEXT));
        let plain = KeyRing::of(None);
        assert!(plain.plaintext() && plain.accepts(PLAINTEXT));
        assert!(!plain.accepts(&key_fingerprint(&key('a'))));
    }

    #[test]
    fn a_store_without_a_record_is_judged_by_its_rows() {
        use SealedWith::*;
        let ring = KeyRing::of(Some(&Encrypter::new(key('b'), vec![key('a')])));
        let (b, a) = (key_fingerprint(&key('b')), key_fingerprint(&key('a')));
        assert_eq!(ring.infer(&[]), Some(b.clone()), "an empty store");
        assert_eq!(ring.infer(&[UnknownKey, Current]), Some(b.clone()));
        assert_eq!(ring.infer(&[UnknownKey, Previous(0)]), Some(a));
        assert_eq!(ring.infer(&[UnknownKey, NotAPayload]), None, "a wrong key");
        let plain = KeyRing::of(None);
        assert_eq!(plain.infer(&[]), Some(PLAINTEXT.into()));
        assert_eq!(
            plain.infer(&[NotAPayload, UnknownKey]),
            Some(PLAINTEXT.into())
        );
        assert_eq!(
            plain.infer(&[UnknownKey, UnknownKey]),
            None,
            "encrypted rows"
        );
    }
}
