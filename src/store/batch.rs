//! Group commit of creates on SQLite, where one writer at a time holds the database: creates
//! that arrive while one transaction commits are written together in the next. One refused
//! row fails alone and leaves nothing behind; the others are written all the same.

use std::sync::Mutex;

use sqlx::sqlite::SqlitePool;
use sqlx::types::Json;
// SQL text in this file is built only from validated table names, quoted identifiers and
// placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;
use tokio::sync::oneshot;

use super::ops::{create_row, insert_ownership};
use super::types::{CredentialData, Ownership};
use super::{Store, StoreError};

/// Rows written in one transaction at most.
const MAX_BATCH: usize = 512;

/// Each create's answer; or Err((Some(i), e)) when create i failed after it began writing,
/// and Err((None, e)) when the batch itself did.
type Attempt = Result<Vec<Result<i64, StoreError>>, (Option<usize>, StoreError)>;

/// A create waiting for its turn.
struct Pending {
    data: CredentialData,
    own: Ownership,
    reply: oneshot::Sender<Result<i64, StoreError>>,
}

/// The creates waiting, and the turn to write them.
#[derive(Default)]
pub(crate) struct CreateQueue {
    pending: Mutex<Vec<Pending>>,
    turn: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The queue is a plain list: a panic while it was held leaves it usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// Queues a create, then either finds it written by whoever had the turn, or takes the
    /// turn and writes every create queued by then.
    pub(super) async fn create_batched(
        &self,
        pool: &SqlitePool,
        data: &CredentialData,
        own: &Ownership,
    ) -> Result<i64, StoreError> {
        let (reply, mut result) = oneshot::channel();
        lock(&self.creates.pending).push(Pending {
            data: data.clone(),
            own: own.clone(),
            reply,
        });
        let _turn = self.creates.turn.lock().await;
        // Whoever took this create from the queue answered it before giving up the turn.
        if let Ok(done) = result.try_recv() {
            return done;
        }
        loop {
            let batch: Vec<Pending> = {
                let mut pending = lock(&self.creates.pending);
                let n = pending.len().min(MAX_BATCH);
                pending.drain(..n).collect()
            };
            if batch.is_empty() {
                break;
            }
            self.write_batch(pool, batch).await;
            if let Ok(done) = result.try_recv() {
                return done;
            }
        }
        // Not reached: this create was queued before the turn was taken and every batch
        // answers all of its creates, so the loop above answered it. Should that ever break,
        // the answer is a failure, never a row written twice.
        Err(StoreError::Database(sqlx::Error::WorkerCrashed))
    }

    /// Writes `batch` in one transaction and answers each create. A create refused by the
    /// label check has written nothing and fails alone. Any other failure rolls the whole
    /// transaction back: that create gets its error, and the others are written again one per
    /// transaction, so that each gets its own answer (savepoints would cost two more round
    /// trips per row).
    async fn write_batch(&self, pool: &SqlitePool, batch: Vec<Pending>) {
        if batch.len() == 1 {
            for p in batch {
                let _ = p.reply.send(self.create_one(&p.data, &p.own).await);
            }
            return;
        }
        let sql = self.create_sql();
        let attempt: Attempt = async {
            let mut tx = pool
                .begin_with(self.dialect.begin_sql())
                .await
                .map_err(|e| (None, e.into()))?;
            let mut results = Vec::with_capacity(batch.len());
            for (i, p) in batch.iter().enumerate() {
                let row = match self.sealed(&p.data) {
                    Ok(sealed) => create_row!(self, tx, sql, &p.data, &p.own, sealed),
                    Err(e) => Err(e),
                };
                match row {
                    Err(e @ StoreError::LabelConflict { .. }) => results.push(Err(e)),
                    Err(e) => return Err((Some(i), e)),
                    Ok(id) => results.push(Ok(id)),
                }
            }
            tx.commit().await.map_err(|e| (None, e.into()))?;
            Ok(results)
        }
        .await;
        match attempt {
            Ok(results) => {
                for (p, result) in batch.into_iter().zip(results) {
                    let result = self.label_taken(result, &p.data.label).await;
                    let _ = p.reply.send(result);
                }
            }
            Err((failed, e)) => {
                tracing::debug!(
                    "a batch of creates was rolled back ({e}); writing them one by one"
                );
                let mut error = Some(e);
                for (i, p) in batch.into_iter().enumerate() {
                    let result = match (failed == Some(i), error.take()) {
                        (true, Some(e)) => self.label_taken(Err(e), &p.data.label).await,
                        (_, taken) => {
                            error = taken;
                            self.create_one(&p.data, &p.own).await
                        }
                    };
                    let _ = p.reply.send(result);
                }
            }
        }
    }
}
