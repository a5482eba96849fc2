//! Group commit of creates on SQLite, where one writer at a time holds the database: creates
//! that arrive while one transaction commits are written together in the next, each inside a
//! savepoint of its own, so that one refused row fails alone and leaves nothing behind.

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

    /// Writes `batch` in one transaction and answers each create. A batch that cannot commit
    /// is written again one create per transaction, so that each gets its own answer.
    async fn write_batch(&self, pool: &SqlitePool, batch: Vec<Pending>) {
        if batch.len() == 1 {
            for p in batch {
                let _ = p.reply.send(self.create_one(&p.data, &p.own).await);
            }
            return;
        }
        let sql = self.create_sql();
        let attempt: Result<Vec<Result<i64, StoreError>>, StoreError> = async {
            let mut tx = pool.begin_with(self.dialect.begin_sql()).await?;
            let mut results = Vec::with_capacity(batch.len());
            for p in &batch {
                let sealed = self.sealed(&p.data)?;
                sqlx::query("SAVEPOINT bccreds_create")
                    .execute(&mut *tx)
                    .await?;
                let row = create_row!(self, tx, sql, &p.data, &p.own, sealed);
                if row.is_err() {
                    sqlx::query("ROLLBACK TO bccreds_create")
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("RELEASE bccreds_create")
                    .execute(&mut *tx)
                    .await?;
                results.push(row);
            }
            tx.commit().await?;
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
            Err(e) => {
                tracing::debug!("a batch of creates failed ({e}); writing them one by one");
                for p in batch {
                    let _ = p.reply.send(self.create_one(&p.data, &p.own).await);
                }
            }
        }
    }
}
