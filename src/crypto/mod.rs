//! Secret encryption compatible with Laravel's encrypter, so UnoPim can read what we store.
//!
//! UnoPim's `encrypted` cast decrypts with `Crypt::decryptString` under `APP_KEY` (or one of
//! `APP_PREVIOUS_KEYS`), so stored secrets must be byte-for-byte Laravel AES-256-CBC payloads.

mod fingerprint;
mod key;
mod key_fingerprint;
mod laravel;

pub use fingerprint::{hmac_hex, secret_digest, FingerprintMatch, SecretFingerprints};
pub use key_fingerprint::{key_fingerprint, short, KeyRing, SealedWith, PLAINTEXT};

pub use key::{load_key_file, load_or_create_key_file, AppKey, KeyError, KEY_LEN};
pub use laravel::{DecryptError, Encrypter};
