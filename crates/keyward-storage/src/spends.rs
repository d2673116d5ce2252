//! Credit spends, group-committed: every spend waiting when the committer is free is applied
//! in one transaction of the engine ([`SpendBatch::apply_spends`]), one after another, and
//! committed once. Each spend reads the balance the previous one left, inside the same write
//! transaction, so none is ever spent twice; each caller is answered only after the commit,
//! so an answered spend is durable; a batch the engine fails spends nothing for anyone (every
//! caller gets the error), while a key whose stored credits are unreadable fails only its own
//! callers; a caller that has gone before its batch is applied spends nothing. A spend may
//! carry the verification event that records it ([`Spender::spend_and_record`]): the engine
//! appends it, with the outcome the spend had, in the same transaction ([`recorded_events`]).
//!
//! The committer is a task on the Tokio runtime that started the [`Spender`]: once that
//! runtime is gone, spends fail with `Unavailable`, so use a store on its own runtime.

use crate::group_commit::{Batch, Commit, GroupCommit, Stopped, Waiting};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::spend::event_for_outcome;
use keyward_core::{CreditOutcome, NewEvent, RecordedSpend, StoreError};
use std::future::Future;

/// Most spends committed together.
const MAX_BATCH: usize = 512;

/// One spend's answer: the outcome, `None` when the key does not exist in the workspace or
/// has no credits.
pub type SpendAnswer = Result<Option<CreditOutcome>, StoreError>;

/// A spend of `cost` from a key's balance, after its refill as of `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spend {
    pub workspace_id: String,
    pub key_id: String,
    pub cost: u64,
    pub now: DateTime<Utc>,
    /// The verification to record with the spend, as it reads when the spend is granted.
    pub event: Option<NewEvent>,
}

/// What an engine implements for its credit spends to be group-committed.
#[async_trait]
pub trait SpendBatch: Send + Sync + 'static {
    /// Applies `spends` in order in one write transaction, appends the events they carry
    /// ([`recorded_events`]) in it, and commits it, answering each in order. An `Err` fails the whole batch (nothing committed); a spend whose key's stored
    /// credits cannot be read is answered with its own error, leaving the others to commit.
    async fn apply_spends(&self, spends: &[Spend]) -> Result<Vec<SpendAnswer>, StoreError>;
}

/// The handle an engine spends through; the task behind it ends when the last handle goes.
#[derive(Debug, Clone)]
pub struct Spender(GroupCommit<Spend, SpendAnswer>);

impl Spender {
    /// Starts the task that commits spends with `engine` (needs a Tokio runtime).
    pub fn start(engine: impl SpendBatch) -> Self {
        Self(GroupCommit::on_task(MAX_BATCH, Committer(engine)))
    }

    /// Queues `spend` and returns the wait for its answer; dropping the wait before its batch
    /// is applied spends nothing.
    pub fn enqueue(&self, spend: Spend) -> Result<impl Future<Output = SpendAnswer>, StoreError> {
        let waiting: Waiting<SpendAnswer> = self.0.enqueue(spend).map_err(stopped)?;
        Ok(async move { waiting.await.map_err(stopped)? })
    }

    /// Spends `cost` from the key's balance (after its refill as of `now`), committed with
    /// whatever other spends were waiting.
    pub async fn spend(
        &self,
        workspace_id: &str,
        key_id: &str,
        cost: u64,
        now: DateTime<Utc>,
    ) -> SpendAnswer {
        let spend = Spend {
            workspace_id: workspace_id.to_owned(),
            key_id: key_id.to_owned(),
            cost,
            now,
            event: None,
        };
        self.0.submit(spend).await.map_err(stopped)?
    }

    /// Spends as [`Spender::spend`] and appends the spend's event, with its outcome, in the
    /// same transaction.
    pub async fn spend_and_record(&self, spend: RecordedSpend) -> SpendAnswer {
        if let Some(refusal) = spend.event.refusal() {
            return Err(StoreError::Refused(refusal.to_owned()));
        }
        let spend = Spend {
            workspace_id: spend.workspace_id,
            key_id: spend.key_id,
            cost: spend.cost,
            now: spend.now,
            event: Some(spend.event),
        };
        self.0.submit(spend).await.map_err(stopped)?
    }
}

/// The events `spends` carry, each as its answer's outcome makes it, for the engine to append
/// in the transaction that applied them; a spend answered with an error records nothing.
pub fn recorded_events(spends: &[Spend], answers: &[SpendAnswer]) -> Vec<NewEvent> {
    spends
        .iter()
        .zip(answers)
        .filter_map(|(spend, answer)| {
            let outcome = answer.as_ref().ok()?;
            Some(event_for_outcome(spend.event.clone()?, *outcome))
        })
        .collect()
}

fn stopped(_: Stopped) -> StoreError {
    StoreError::Unavailable("the credit spender has stopped".into())
}

struct Committer<E>(E);

#[async_trait]
impl<E: SpendBatch> Commit<Spend, SpendAnswer> for Committer<E> {
    async fn commit(&self, mut batch: Batch<Spend, SpendAnswer>) {
        // A caller that has gone (client disconnected, request timed out) spends nothing, as
        // when its own transaction was dropped before the commit.
        batch.drop_abandoned();
        if batch.is_empty() {
            return;
        }
        let (spends, answers) = batch.into_parts();
        match self.0.apply_spends(&spends).await {
            Ok(outcomes) => answers.each(outcomes),
            Err(e) => answers.all(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A balance per key, all in memory: each batch applies in order, as a transaction would.
    #[derive(Clone, Default)]
    struct Balances(Arc<Mutex<Vec<u64>>>);

    #[async_trait]
    impl SpendBatch for Balances {
        async fn apply_spends(&self, spends: &[Spend]) -> Result<Vec<SpendAnswer>, StoreError> {
            let mut balance = self.0.lock().unwrap();
            Ok(spends
                .iter()
                .map(|s| {
                    let left = balance.last().copied().unwrap_or(5);
                    Ok(Some(if left >= s.cost {
                        balance.push(left - s.cost);
                        CreditOutcome::Spent {
                            remaining: left - s.cost,
                        }
                    } else {
                        CreditOutcome::Exceeded { remaining: left }
                    }))
                })
                .collect())
        }
    }

    fn spend(cost: u64) -> Spend {
        Spend {
            workspace_id: "ws_1".into(),
            key_id: "key_1".into(),
            cost,
            now: Utc::now(),
            event: None,
        }
    }

    #[tokio::test]
    async fn a_spend_whose_caller_has_gone_takes_nothing_from_any_engine() {
        let balances = Balances::default();
        let spender = Spender::start(balances.clone());
        drop(spender.enqueue(spend(1)).unwrap());
        let live = spender.enqueue(spend(1)).unwrap().await.unwrap();
        assert_eq!(live, Some(CreditOutcome::Spent { remaining: 4 }));
        assert_eq!(*balances.0.lock().unwrap(), [4]);
    }
}
