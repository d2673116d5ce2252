//! Credit spends, group-committed: every spend waiting when the writer is free is applied in
//! one transaction, one after another, and committed with one `fsync`. Each spend reads the
//! balance the previous one left, inside the same write transaction, so none is ever spent
//! twice; each caller is answered only after the commit, so an answered spend is durable; a
//! batch the database fails spends nothing for anyone (it rolls back and every caller gets the
//! error), while a key whose stored credits are unreadable fails only its own callers.
//!
//! The task runs on the Tokio runtime that opened the store: once that runtime is gone, spends
//! fail with `Unavailable` (as the journal's ingester stops), so use a store on its own runtime.

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
        // A caller that has gone (client disconnected, request timed out) spends nothing, as
        // when its own transaction was dropped before the commit.
        let live: Vec<Spend> = batch.drain(..).filter(|s| !s.done.is_closed()).collect();
        if live.is_empty() {
            continue;
        }
        // In a task of its own, awaited: one batch at a time, and should one panic, its
        // callers' answer channels drop (each gets "stopped") while later batches are served.
        let _ = tokio::spawn(commit_batch(writer.clone(), live)).await;
    }
}

async fn commit_batch(writer: SqlitePool, batch: Vec<Spend>) {
    match apply(&writer, &batch).await {
        Ok(answers) => {
            for (spend, answer) in batch.into_iter().zip(answers) {
                // A caller that has gone needs no answer.
                let _ = spend.done.send(answer);
            }
        }
        Err(e) => {
            for spend in batch {
                let _ = spend.done.send(Err(same(&e)));
            }
        }
    }
}

/// Applies `batch` in order in one write transaction and commits it. A database failure
/// fails the whole batch (nothing is committed); a key whose stored credits cannot be read
/// fails only its own spends, since nothing was written for it.
async fn apply(writer: &SqlitePool, batch: &[Spend]) -> Result<Vec<Answer>, StoreError> {
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(store_error)?;
    let mut answers = Vec::with_capacity(batch.len());
    for spend in batch {
        let answer = restrictions::spend(
            &mut tx,
            &spend.workspace_id,
            &spend.key_id,
            spend.cost,
            spend.now,
        )
        .await;
        match answer {
            // Raised before this key's `UPDATE` (a row that does not decode), or by an `UPDATE`
            // that changed nothing: the transaction is intact and holds nothing of this spend.
            Ok(_) | Err(StoreError::Corrupt(_) | StoreError::NotFound) => answers.push(answer),
            // The database failed (SQLite may have rolled the transaction back already).
            Err(e) => return Err(e),
        }
    }
    // Committed (and, with `synchronous = FULL`, on disk) before any spend is answered.
    tx.commit().await.map_err(store_error)?;
    Ok(answers)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use keyward_core::ids::{self, new_id};
    use keyward_core::{
        Credits, EventKind, KeyHash, KeyRecord, NewEvent, Restrictions, RootKey, Store, Workspace,
    };

    /// A spend whose caller has gone before its batch is applied takes nothing.
    #[tokio::test]
    async fn a_spend_whose_caller_has_gone_takes_nothing() -> anyhow::Result<()> {
        let store = SqliteStore::connect("sqlite::memory:").await?;
        store.migrate().await?;
        let t0 = Utc::now();
        let ws = Workspace {
            id: new_id(ids::WORKSPACE),
            name: "Spends".into(),
            prefix: "sp".into(),
            created_at: t0,
        };
        let root = RootKey {
            id: new_id(ids::ROOT_KEY),
            workspace_id: ws.id.clone(),
            name: "bootstrap".into(),
            hash: KeyHash::of("sp_root_secret"),
            start: "sp_root_".into(),
            permissions: vec![],
            created_at: t0,
            revoked_at: None,
        };
        let created = NewEvent::new(&ws.id, t0, EventKind::WorkspaceCreated);
        store.create_workspace(&ws, &root, vec![created]).await?;
        let key = KeyRecord {
            id: new_id(ids::KEY),
            workspace_id: ws.id.clone(),
            name: "Metered Integration".into(),
            description: None,
            owner_id: None,
            hash: KeyHash::of("sp_secret"),
            start: "sp_abcd".into(),
            permissions: vec![],
            enabled: true,
            expires_at: None,
            metadata: Default::default(),
            created_at: t0,
            updated_at: t0,
            revoked_at: None,
            revoked_reason: None,
            replaced_by: None,
            restrictions: Restrictions {
                credits: Some(Credits::new(5, None, t0)?),
                ..Restrictions::default()
            },
        };
        let event = NewEvent::new(&ws.id, t0, EventKind::KeyCreated).subject(&key.id, &key.name);
        store.insert_key(&key, event).await?;

        // Queued first, its caller already gone; then a live spend, answered after its batch.
        let (done, answer) = oneshot::channel();
        drop(answer);
        store.spender.queue.send(Spend {
            workspace_id: ws.id.clone(),
            key_id: key.id.clone(),
            cost: 1,
            now: t0,
            done,
        })?;
        let live = store.spender.spend(&ws.id, &key.id, 1, t0).await?;
        assert_eq!(live, Some(CreditOutcome::Spent { remaining: 4 }));
        Ok(())
    }
}
