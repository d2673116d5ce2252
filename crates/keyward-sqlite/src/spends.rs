//! Credit spends, group-committed: every spend waiting when the writer is free is applied in
//! one transaction, one after another, and committed with one `fsync`. Each spend reads the
//! balance the previous one left, inside the same write transaction, so none is ever spent
//! twice; each caller is answered only after the commit, so an answered spend is durable; a
//! batch that fails spends nothing for anyone (it rolls back and every caller gets the error).

use crate::error::store_error;
use crate::restrictions;
use chrono::{DateTime, Utc};
use keyward_core::{CreditOutcome, StoreError};
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

/// Most spends committed together.
const MAX_BATCH: usize = 512;

type Answer = Result<Option<CreditOutcome>, StoreError>;

struct Spend {
    workspace_id: String,
    key_id: String,
    cost: u64,
    now: DateTime<Utc>,
    done: oneshot::Sender<Answer>,
}

/// The handle the store spends through; the task behind it ends when the last handle goes.
#[derive(Debug, Clone)]
pub(crate) struct Spender {
    queue: mpsc::UnboundedSender<Spend>,
}

impl Spender {
    /// Starts the task that commits spends on `writer` (needs a Tokio runtime).
    pub(crate) fn start(writer: SqlitePool) -> Self {
        let (queue, spends) = mpsc::unbounded_channel();
        tokio::spawn(commit_batches(writer, spends));
        Self { queue }
    }

    /// Spends `cost` from the key's balance (after its refill as of `now`), committed with
    /// whatever other spends were waiting. `None` when the key does not exist or has no
    /// credits.
    pub(crate) async fn spend(
        &self,
        workspace_id: &str,
        key_id: &str,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Answer {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Spend {
                workspace_id: workspace_id.to_owned(),
                key_id: key_id.to_owned(),
                cost,
                now,
                done,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the credit spender has stopped".into())
}

async fn commit_batches(writer: SqlitePool, mut spends: mpsc::UnboundedReceiver<Spend>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while spends.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match apply(&writer, &batch).await {
            Ok(outcomes) => {
                for (spend, outcome) in batch.drain(..).zip(outcomes) {
                    // A caller that has gone (client disconnected) needs no answer.
                    let _ = spend.done.send(Ok(outcome));
                }
            }
            Err(e) => {
                for spend in batch.drain(..) {
                    let _ = spend.done.send(Err(same(&e)));
                }
            }
        }
    }
}

/// Applies `batch` in order in one write transaction and commits it.
async fn apply(
    writer: &SqlitePool,
    batch: &[Spend],
) -> Result<Vec<Option<CreditOutcome>>, StoreError> {
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(store_error)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for spend in batch {
        outcomes.push(
            restrictions::spend(
                &mut tx,
                &spend.workspace_id,
                &spend.key_id,
                spend.cost,
                spend.now,
            )
            .await?,
        );
    }
    // Committed (and, with `synchronous = FULL`, on disk) before any spend is answered.
    tx.commit().await.map_err(store_error)?;
    Ok(outcomes)
}

/// The batch's error for each of its callers (`StoreError` is not `Clone`: it may carry
/// driver errors elsewhere).
fn same(e: &StoreError) -> StoreError {
    match e {
        StoreError::NameTaken => StoreError::NameTaken,
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
    }
}
