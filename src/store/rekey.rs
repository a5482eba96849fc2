//! Re-encrypting an owner's secrets with the current APP_KEY after a key rotation, so that
//! readers without previous-keys support (older Laravel versions) can decrypt them, and
//! re-keying their stored secret fingerprints, so that dropping the old key later does not make
//! every credential look changed.

use std::collections::BTreeMap;

// SQL text in this file is built only from validated table names, quoted identifiers and
// placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;

use super::{with_pool, ColumnError, Store, StoreError};
use crate::crypto::{secret_digest, Encrypter, FingerprintMatch, SecretFingerprints};
use crate::secret::SecretValue;

/// What a rekey did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RekeyReport {
    /// Rows whose secrets were re-encrypted with the current key.
    pub changed: usize,
    /// Rows whose secrets already were.
    pub current: usize,
    /// Rows whose stored secret fingerprint was re-keyed with the current key.
    pub fingerprints: usize,
    /// Rows left as they were because a secret decrypts with no known key, by id.
    pub unreadable: BTreeMap<i64, ColumnError>,
}

/// One row as rekey reads it, under its lock.
type RekeyRow = (String, Option<String>, Option<String>, String);

/// What rekey writes back to one row: new payloads and a new fingerprint, each where needed.
#[derive(Default)]
struct Resealed {
    token: Option<String>,
    client_secret: Option<String>,
    fingerprint: Option<String>,
}

/// Re-seals `payload` with the current key: `None` when it already uses it; the plaintext too.
fn reseal(
    encrypter: &Encrypter,
    column: &'static str,
    payload: &str,
) -> Result<(Option<String>, SecretValue), ColumnError> {
    let plain = encrypter.decrypt(payload).map_err(|e| ColumnError {
        column,
        reason: format!("cannot be decrypted with any key ({e})"),
    })?;
    let fresh = (!encrypter.is_current(payload)).then(|| encrypter.encrypt(&plain));
    Ok((fresh, plain))
}

/// The stored fingerprint under the current key, when `stored` is the fingerprint of these
/// secrets under a previous key. The manifest may have kept either secret as stored (its
/// digest then says "keep"), so each combination is tried.
fn rekeyed_fingerprint(
    fingerprints: &SecretFingerprints,
    stored: &str,
    client_id: Option<&str>,
    client_secret: Option<&SecretValue>,
    token: &SecretValue,
) -> Option<String> {
    let secrets = [client_secret.map(SecretValue::expose), None];
    let tokens = [Some(token.expose()), None];
    tokens.iter().find_map(|t| {
        secrets.iter().find_map(|s| {
            let digest = secret_digest(client_id, *s, *t);
            (fingerprints.check(stored, &digest) == FingerprintMatch::Outdated)
                .then(|| fingerprints.current(&digest))
        })
    })
}

impl Store {
    /// What rekey writes back to one locked row.
    fn resealed(&self, encrypter: &Encrypter, row: &RekeyRow) -> Result<Resealed, ColumnError> {
        let (token, secret, client_id, stored_fingerprint) = row;
        let (new_token, plain_token) = reseal(encrypter, "accessToken", token)?;
        let (new_secret, plain_secret) = match secret {
            Some(s) => {
                let (fresh, plain) = reseal(encrypter, "clientSecret", s)?;
                (fresh, Some(plain))
            }
            None => (None, None),
        };
        Ok(Resealed {
            token: new_token,
            client_secret: new_secret,
            fingerprint: rekeyed_fingerprint(
                &self.fingerprints,
                stored_fingerprint,
                client_id.as_deref(),
                plain_secret.as_ref(),
                &plain_token,
            ),
        })
    }

    /// Re-encrypts the secrets of the rows `owner` manages with the current key and re-keys their
    /// fingerprints, one transaction per row with the row locked (so that an `apply` writing it
    /// meanwhile is never undone), then records the current key as the store's. Rows of other
    /// owners and unowned rows are never read or written.
    pub async fn rekey(&self, owner: &str) -> Result<RekeyReport, StoreError> {
        self.writable()?;
        let Some(encrypter) = &self.encrypter else {
            return Err(StoreError::RekeyNeedsKey);
        };
        // The rows must decrypt with the keys given; otherwise nothing is re-encrypted.
        self.check_key().await?;
        let d = self.dialect;
        let sql = self.rekey_sql();
        let ids: Vec<i64> = with_pool!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.ids.as_str())).bind(owner).fetch_all(pool).await?);
        let mut report = RekeyReport::default();
        for id in ids {
            let outcome: Result<Option<(bool, bool)>, StoreError> = with_pool!(self, pool => { async {
                let mut tx = pool.begin_with(d.begin_sql()).await?;
                let row: Option<RekeyRow> = sqlx::query_as(AssertSqlSafe(sql.read.as_str()))
                    .bind(id)
                    .bind(owner)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    // Deleted since the ids were read: nothing to re-encrypt.
                    return Ok(None);
                };
                let new = self
                    .resealed(encrypter, &row)
                    .map_err(|problem| StoreError::Unreadable { id, problem })?;
                let sealed = new.token.is_some() || new.client_secret.is_some();
                if sealed {
                    sqlx::query(AssertSqlSafe(sql.write.as_str()))
                        .bind(&new.token)
                        .bind(&new.client_secret)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(fingerprint) = &new.fingerprint {
                    sqlx::query(AssertSqlSafe(sql.fingerprint.as_str()))
                        .bind(fingerprint)
                        .bind(id)
                        .bind(owner)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(Some((sealed, new.fingerprint.is_some())))
            }.await });
            match outcome {
                Ok(Some((sealed, rekeyed))) => {
                    if sealed {
                        report.changed += 1;
                    } else {
                        report.current += 1;
                    }
                    report.fingerprints += usize::from(rekeyed);
                }
                Ok(None) => {}
                Err(StoreError::Unreadable { id, problem }) => {
                    report.unreadable.insert(id, problem);
                }
                Err(e) => return Err(e),
            }
        }
        self.record_current_key().await?;
        Ok(report)
    }

    /// The statements of a rekey: the owner's rows, one row's secrets (locked until the write
    /// commits), the re-sealed secrets and the fingerprint.
    fn rekey_sql(&self) -> RekeySql {
        let d = self.dialect;
        let q = |c: &str| d.ident(c);
        let ids = format!(
            "SELECT credential_id FROM {} WHERE owner_id = {} ORDER BY credential_id",
            q(&self.tables.ownership),
            d.param(1)
        );
        // The ownership check sits in the same statement as the read, inside the transaction,
        // and the read locks the row until the write commits.
        let read = format!(
            "SELECT c.{tok}, c.{cs}, c.{cid}, o.secret_sha256 FROM {creds} c JOIN {own} o ON o.credential_id = c.{id} WHERE c.{id} = {} AND o.owner_id = {}{lock}",
            d.param(1),
            d.param(2),
            tok = q("accessToken"),
            cs = q("clientSecret"),
            cid = q("clientId"),
            creds = q(&self.tables.credentials),
            own = q(&self.tables.ownership),
            id = q("id"),
            lock = d.for_update(),
        );
        let write = format!(
            "UPDATE {} SET {} = COALESCE({}, {}), {} = COALESCE({}, {}) WHERE {} = {}",
            q(&self.tables.credentials),
            q("accessToken"),
            d.param(1),
            q("accessToken"),
            q("clientSecret"),
            d.param(2),
            q("clientSecret"),
            q("id"),
            d.param(3)
        );
        let fingerprint = format!(
            "UPDATE {} SET secret_sha256 = {} WHERE credential_id = {} AND owner_id = {}",
            q(&self.tables.ownership),
            d.param(1),
            d.param(2),
            d.param(3)
        );
        RekeySql {
            ids,
            read,
            write,
            fingerprint,
        }
    }
}

/// The statements of one rekey.
struct RekeySql {
    ids: String,
    read: String,
    write: String,
    fingerprint: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::AppKey;

    fn key(c: char) -> AppKey {
        AppKey::parse(&c.to_string().repeat(32)).expect("key")
    }

    #[test]
    fn a_fingerprint_under_the_old_key_is_rekeyed_whichever_secrets_the_manifest_kept() {
        let old = SecretFingerprints::keyed(&Encrypter::new(key('a'), Vec::new()));
        let rotated = SecretFingerprints::keyed(&Encrypter::new(key('b'), vec![key('a')]));
        let (token, secret) = (SecretValue::new("tok"), SecretValue::new("sec"));
        for (s, t) in [
            (Some("sec"), Some("tok")),
            (None, Some("tok")),
            (Some("sec"), None),
            (None, None),
        ] {
            let digest = secret_digest(Some("cid"), s, t);
            let stored = old.current(&digest);
            let fresh = rekeyed_fingerprint(&rotated, &stored, Some("cid"), Some(&secret), &token);
            assert_eq!(fresh, Some(rotated.current(&digest)), "{s:?} {t:?}");
        }
        // A fingerprint of other secrets (the manifest changed since) is left for the next pass.
        let other = old.current(&secret_digest(Some("cid"), None, Some("new-token")));
        assert_eq!(
            rekeyed_fingerprint(&rotated, &other, Some("cid"), Some(&secret), &token),
            None
        );
        // One already under the current key needs nothing.
        let current = rotated.current(&secret_digest(Some("cid"), Some("sec"), Some("tok")));
        assert_eq!(
            rekeyed_fingerprint(&rotated, &current, Some("cid"), Some(&secret), &token),
            None
        );
    }
}
