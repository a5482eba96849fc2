//! The key a store's secrets are sealed with. The store records its fingerprint
//! (`crypto::key_fingerprint`, never the key); a process whose APP_KEY and APP_PREVIOUS_KEYS
//! match neither refuses to write, since every row it touched would then be sealed with a key
//! UnoPim does not have. A store from before the record is judged by its rows' payloads.

use std::path::PathBuf;

// SQL text in this file is built only from validated table names, quoted identifiers and
// placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;

use super::{with_pool, Store, StoreError};
use crate::crypto::{short, Encrypter, KeyRing, SealedWith, PLAINTEXT};
use crate::redact::escape_controls;

/// The settings row that holds the key fingerprint.
const KEY_SETTING: &str = "key_fingerprint";

/// Rows read to judge a store that has no record yet: enough to find one readable row among
/// damaged ones, few enough to stay quick on a large table.
const SAMPLE_ROWS: usize = 1000;

/// Where a process's current key came from, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `--app-key`, `--app-key-file` or `APP_KEY`.
    AppKey,
    /// The key file beside an SQLite store.
    KeyFile(PathBuf),
    /// `--secret-encryption none`.
    Plaintext,
}

impl KeySource {
    fn describe(&self) -> String {
        match self {
            KeySource::AppKey => "APP_KEY".to_string(),
            KeySource::KeyFile(path) => format!(
                "the key file {}",
                escape_controls(&path.display().to_string())
            ),
            KeySource::Plaintext => "--secret-encryption none".to_string(),
        }
    }
}

/// Why a process may not write a store sealed with `recorded` (None: no record, and no row
/// decrypts with its keys), and what to do about it.
pub(super) fn mismatch_message(
    recorded: Option<&str>,
    given: &KeyRing,
    source: &KeySource,
) -> String {
    let nothing = "nothing was written";
    if given.plaintext() {
        let how = recorded.map_or(String::new(), |r| {
            format!(" (key fingerprint {}…)", short(r))
        });
        return format!(
            "the store's secrets are encrypted with an APP_KEY{how}, but --secret-encryption none was given; {nothing}: give UnoPim's APP_KEY instead"
        );
    }
    if recorded == Some(PLAINTEXT) {
        return format!(
            "the store keeps its secrets in plaintext (it was written with --secret-encryption none), but {} was given; {nothing}: pass --secret-encryption none",
            source.describe()
        );
    }
    let source_text = source.describe();
    let ours = format!("{source_text} ({}…)", short(&given.current));
    let previous = if given.previous.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = given
            .previous
            .iter()
            .map(|p| format!("{}…", short(p)))
            .collect();
        format!(" or APP_PREVIOUS_KEYS ({})", list.join(", "))
    };
    let what = match recorded {
        Some(r) => format!(
            "the store's secrets were encrypted with another key (fingerprint {}…) than {ours}{previous}",
            short(r)
        ),
        None => format!(
            "no secret in the store decrypts with {ours}{previous}: they were encrypted with another key"
        ),
    };
    let check = match source {
        KeySource::KeyFile(_) => {
            format!("check {source_text} (was it replaced?) or give UnoPim's APP_KEY")
        }
        _ => "check APP_KEY (it must be UnoPim's)".to_string(),
    };
    format!(
        "{what}; {nothing}: {check}, or, after a key rotation, set APP_PREVIOUS_KEYS to the old key (and run `bccreds rekey` to move the secrets to the new one)"
    )
}

impl Store {
    /// The key fingerprint the store records, if it records one.
    async fn recorded_key(&self) -> Result<Option<String>, StoreError> {
        if !self.has_settings() {
            return Ok(None);
        }
        let d = self.dialect;
        let sql = format!(
            "SELECT value FROM {} WHERE name = {}",
            d.ident(&self.tables.settings),
            d.param(1)
        );
        let value: Option<String> = with_pool!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.as_str())).bind(KEY_SETTING).fetch_optional(pool).await?);
        Ok(value)
    }

    /// How the tokens of the first rows are sealed, judged with this store's keys.
    async fn sealing_of_rows(&self) -> Result<Vec<SealedWith>, StoreError> {
        if !self.has_credentials() {
            return Ok(Vec::new());
        }
        let d = self.dialect;
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {} LIMIT {SAMPLE_ROWS}",
            d.as_text(&d.ident("accessToken")),
            d.ident(&self.tables.credentials),
            d.ident("id")
        );
        let tokens: Vec<Option<String>> = with_pool!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.as_str())).fetch_all(pool).await?);
        Ok(tokens
            .iter()
            .flatten()
            .map(|token| match &self.encrypter {
                Some(e) => e.sealed_with(token),
                None if Encrypter::is_payload(token) => SealedWith::UnknownKey,
                None => SealedWith::NotAPayload,
            })
            .collect())
    }

    fn mismatch(&self, recorded: Option<String>) -> StoreError {
        StoreError::KeyMismatch {
            recorded,
            given: self.keys.clone(),
            key_source: self.key_source.clone(),
        }
    }

    /// The fingerprint the store is sealed with: the record, or else what its rows show.
    async fn sealed_key(&self) -> Result<Option<String>, StoreError> {
        if let Some(recorded) = self.recorded_key().await? {
            return Ok(Some(recorded));
        }
        Ok(self.keys.infer(&self.sealing_of_rows().await?))
    }

    /// Whether this process may read and write secrets sealed under `sealed` (None: no record,
    /// and no row this process can decrypt).
    fn accept(&self, sealed: Option<String>) -> Result<(), StoreError> {
        match sealed {
            Some(sealed) if self.keys.accepts(&sealed) => Ok(()),
            other => Err(self.mismatch(other)),
        }
    }

    /// Refuses a store whose secrets this process could not read, before anything is written
    /// or planned; called by every pass and by commands that read secrets.
    pub async fn check_key(&self) -> Result<(), StoreError> {
        self.accept(self.sealed_key().await?)
    }

    /// At connect: records the key of a store that has no record yet (judged by its rows), then
    /// checks it. Two processes recording at once keep the first record.
    pub(super) async fn settle_key(&self) -> Result<(), StoreError> {
        let recorded = match self.recorded_key().await? {
            Some(recorded) => recorded,
            None => {
                let Some(judged) = self.keys.infer(&self.sealing_of_rows().await?) else {
                    return Err(self.mismatch(None));
                };
                self.put_key(&judged, false).await?;
                // Read back: another process may have recorded first, and its record stands.
                self.recorded_key().await?.unwrap_or(judged)
            }
        };
        self.accept(Some(recorded))
    }

    /// Records that the store's secrets are sealed with the current key (after `rekey`).
    pub(super) async fn record_current_key(&self) -> Result<(), StoreError> {
        let current = self.keys.current.clone();
        self.put_key(&current, true).await
    }

    async fn put_key(&self, fingerprint: &str, replace: bool) -> Result<(), StoreError> {
        self.writable()?;
        let sql = self.dialect.put_setting_sql(&self.tables.settings, replace);
        with_pool!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str())).bind(KEY_SETTING).bind(fingerprint).execute(pool).await.map(drop)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{key_fingerprint, AppKey};

    fn ring(current: char, previous: &[char]) -> KeyRing {
        let key = |c: char| AppKey::parse(&c.to_string().repeat(32)).expect("key");
        KeyRing::of(Some(&Encrypter::new(
            key(current),
            previous.iter().map(|c| key(*c)).collect(),
        )))
    }

    #[test]
    fn a_wrong_key_is_named_with_the_fix_and_no_key_material() {
        let recorded = key_fingerprint(&AppKey::parse(&"a".repeat(32)).expect("key"));
        let text = mismatch_message(Some(&recorded), &ring('b', &[]), &KeySource::AppKey);
        assert!(
            text.contains(&format!("fingerprint {}…", &recorded[..8])),
            "{text}"
        );
        assert!(text.contains("nothing was written"), "{text}");
        assert!(text.contains("check APP_KEY"), "{text}");
        assert!(text.contains("set APP_PREVIOUS_KEYS"), "{text}");
        assert!(!text.contains("aaaa") && !text.contains("bbbb"), "{text}");
        let with_previous = mismatch_message(None, &ring('b', &['c']), &KeySource::AppKey);
        assert!(
            with_previous.contains("or APP_PREVIOUS_KEYS ("),
            "{with_previous}"
        );
        assert!(
            with_previous.contains("no secret in the store decrypts"),
            "{with_previous}"
        );
    }

    #[test]
    fn plaintext_and_key_files_are_told_apart() {
        let plain = KeyRing::of(None);
        let text = mismatch_message(
            Some("ab".repeat(32).as_str()),
            &plain,
            &KeySource::Plaintext,
        );
        assert!(text.contains("give UnoPim's APP_KEY"), "{text}");
        let text = mismatch_message(Some(PLAINTEXT), &ring('b', &[]), &KeySource::AppKey);
        assert!(text.contains("pass --secret-encryption none"), "{text}");
        let file = KeySource::KeyFile(PathBuf::from("/x/store.db.key"));
        let text = mismatch_message(Some(&"cd".repeat(32)), &ring('b', &[]), &file);
        assert!(
            text.contains("check the key file /x/store.db.key"),
            "{text}"
        );
    }
}
