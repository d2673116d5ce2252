//! The journaled store's credit ledger: the balance of every key spent through the journal,
//! held in memory, so that the journal's writer decides each spend in journal order and
//! writes the balance it leaves in the same record as the verification's event (one durable
//! write for both, see [`crate::entry`]).
//!
//! A balance is loaded from the engine the first time a key is spent
//! ([`IngestTarget::credit_balance`](crate::IngestTarget::credit_balance)); from then on only
//! the ledger changes it, until a write that sets credits fences it: that write waits for
//! every spend in flight, settles the journal (so the engine holds every balance the ledger
//! gave), commits, and clears the ledger, so no spend decides on a balance older than it.
//! Refills and spends are `keyward_core::credits`' arithmetic, as in the engines.

use crate::entry::Balance;
use chrono::{DateTime, Utc};
use keyward_core::{CreditOutcome, Credits};
use std::collections::HashMap;

type KeyRef = (String, String);

/// Balances by the key holding them, and which key holds each spent key's balance.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// For each key spent, the key holding its balance (itself, or the last of its rotation
    /// chain); `None`: it has no credits.
    holders: HashMap<KeyRef, Option<String>>,
    balances: HashMap<KeyRef, Credits>,
}

/// What a spend decided: the outcome, and the balance to write if it changed, with the one it
/// replaced (to put back should the journal write fail).
pub(crate) struct Decided {
    pub(crate) outcome: Option<CreditOutcome>,
    pub(crate) changed: Option<(Balance, Credits)>,
}

impl Ledger {
    pub(crate) fn knows(&self, workspace_id: &str, key_id: &str) -> bool {
        self.holders
            .contains_key(&(workspace_id.to_owned(), key_id.to_owned()))
    }

    /// Records what the engine holds for `key_id`: its balance's holder and the holder's
    /// credits. A balance already in the ledger is kept: it is newer than the engine's
    /// (spends since are in the journal, not yet taken in).
    pub(crate) fn load(
        &mut self,
        workspace_id: &str,
        key_id: &str,
        holder: String,
        credits: Option<Credits>,
    ) {
        let key = (workspace_id.to_owned(), key_id.to_owned());
        if self.holders.contains_key(&key) {
            return;
        }
        let holder = credits.map(|credits| {
            self.balances
                .entry((workspace_id.to_owned(), holder.clone()))
                .or_insert(credits);
            holder
        });
        self.holders.insert(key, holder);
    }

    /// Spends `cost` from the balance `key_id` draws from, after its refill as of `now`.
    /// `None` if the key was never loaded.
    pub(crate) fn spend(
        &mut self,
        workspace_id: &str,
        key_id: &str,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Option<Decided> {
        let holder = self
            .holders
            .get(&(workspace_id.to_owned(), key_id.to_owned()))?;
        let Some(holder) = holder else {
            return Some(Decided {
                outcome: None,
                changed: None,
            });
        };
        let slot = (workspace_id.to_owned(), holder.clone());
        let before = *self.balances.get(&slot)?;
        let (after, outcome) = before.spend(cost, now);
        let changed = (after != before).then(|| {
            let balance = Balance {
                workspace_id: workspace_id.to_owned(),
                key_id: holder.clone(),
                remaining: after.remaining,
                refilled_at: after.refilled_at,
            };
            (balance, before)
        });
        self.balances.insert(slot, after);
        Some(Decided {
            outcome: Some(outcome),
            changed,
        })
    }

    /// Puts back the balance a spend replaced (its journal write failed).
    pub(crate) fn undo(&mut self, balance: &Balance, before: Credits) {
        self.balances.insert(
            (balance.workspace_id.clone(), balance.key_id.clone()),
            before,
        );
    }

    /// Forgets everything: the engine is the authority again (a fence).
    pub(crate) fn clear(&mut self) {
        self.holders.clear();
        self.balances.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::Refill;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_767_225_600_000).unwrap()
    }

    #[test]
    fn a_rotated_key_and_its_replacement_spend_one_balance() {
        let mut ledger = Ledger::default();
        let credits = Credits::new(3, None, t0()).unwrap();
        ledger.load("ws", "key_new", "key_new".into(), Some(credits));
        let decided = ledger.spend("ws", "key_new", 2, t0()).unwrap();
        assert_eq!(decided.outcome, Some(CreditOutcome::Spent { remaining: 1 }));
        // The old key is loaded later from an engine that has not taken the spend in yet:
        // the ledger's newer balance stays.
        ledger.load("ws", "key_old", "key_new".into(), Some(credits));
        let decided = ledger.spend("ws", "key_old", 2, t0()).unwrap();
        assert_eq!(
            decided.outcome,
            Some(CreditOutcome::Exceeded { remaining: 1 })
        );
        assert!(decided.changed.is_none(), "a refused spend writes nothing");
    }

    #[test]
    fn an_undone_spend_gives_its_credits_back_and_an_unknown_key_is_not_decided() {
        let mut ledger = Ledger::default();
        let hourly = Refill::new(5, 3600).unwrap();
        let credits = Credits::new(1, Some(hourly), t0()).unwrap();
        ledger.load("ws", "key_1", "key_1".into(), Some(credits));
        let decided = ledger.spend("ws", "key_1", 1, t0()).unwrap();
        let (balance, before) = decided.changed.unwrap();
        assert_eq!(balance.remaining, 0);
        ledger.undo(&balance, before);
        let again = ledger.spend("ws", "key_1", 1, t0()).unwrap();
        assert_eq!(again.outcome, Some(CreditOutcome::Spent { remaining: 0 }));
        assert!(ledger.spend("ws", "key_2", 1, t0()).is_none());
        ledger.load("ws", "key_bare", "key_bare".into(), None);
        assert!(ledger
            .spend("ws", "key_bare", 1, t0())
            .unwrap()
            .outcome
            .is_none());
        ledger.clear();
        assert!(!ledger.knows("ws", "key_1"));
    }
}
