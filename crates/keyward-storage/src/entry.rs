//! What one audit-journal record holds ([`Entry`]): a verification's event, or a credit spend
//! decided by the journal's writer (the balance it left) with the event that records it. The
//! two are one record, so they are durable together, and the engine takes both in in one
//! transaction ([`IngestTarget::take_in`](crate::IngestTarget::take_in)).
//!
//! Encoding: an event is its JSON, as journals have always held; a spend is the byte `C`
//! followed by the JSON of its balance and event, so journals written before spends were
//! journaled read back unchanged.

use chrono::{DateTime, Utc};
use keyward_core::{NewEvent, StoreError};
use serde::{Deserialize, Serialize};

/// The first byte of a spend's record (an event's JSON starts with `{`).
const SPEND_TAG: u8 = b'C';

/// A key's credit balance as a spend left it: written as it is (not as a difference), so
/// taking the same record in twice leaves the same balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub workspace_id: String,
    /// The key holding the balance (for a rotated key, the last of its rotation chain).
    pub key_id: String,
    pub remaining: u64,
    /// The refill schedule's anchor after the spend.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub refilled_at: DateTime<Utc>,
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// An appended event.
    Event(NewEvent),
    /// A credit spend that changed a balance, and the event recording it (none for a spend
    /// made without recording, [`Store::spend_credits`](keyward_core::Store::spend_credits)).
    Spent {
        balance: Balance,
        event: Option<NewEvent>,
    },
}

#[derive(Serialize, Deserialize)]
struct SpentRecord {
    balance: Balance,
    event: Option<NewEvent>,
}

impl Entry {
    pub fn event(&self) -> Option<&NewEvent> {
        match self {
            Self::Event(event) => Some(event),
            Self::Spent { event, .. } => event.as_ref(),
        }
    }

    pub fn balance(&self) -> Option<&Balance> {
        match self {
            Self::Event(_) => None,
            Self::Spent { balance, .. } => Some(balance),
        }
    }

    /// The record's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, StoreError> {
        let encoded = match self {
            Self::Event(event) => serde_json::to_vec(event),
            Self::Spent { balance, event } => {
                let mut bytes = vec![SPEND_TAG];
                serde_json::to_writer(
                    &mut bytes,
                    &SpentRecord {
                        balance: balance.clone(),
                        event: event.clone(),
                    },
                )
                .map(|()| bytes)
            }
        };
        encoded.map_err(|e| StoreError::Unavailable(format!("encoding a journal record: {e}")))
    }

    /// Reads a record's bytes back; `lsn` names it in the error.
    pub fn decode(lsn: u64, bytes: &[u8]) -> Result<Self, StoreError> {
        let decoded = match bytes.split_first() {
            Some((&SPEND_TAG, spent)) => {
                serde_json::from_slice::<SpentRecord>(spent).map(|r| Self::Spent {
                    balance: r.balance,
                    event: r.event,
                })
            }
            _ => serde_json::from_slice(bytes).map(Self::Event),
        };
        decoded.map_err(|e| {
            StoreError::Corrupt(format!(
                "audit journal record {lsn} is neither an event nor a spend: {e}"
            ))
        })
    }
}

/// The balances `entries` leave: the last one of each key, in the order of their records, for
/// an engine to write in the transaction that takes the entries in.
pub fn final_balances(entries: &[(u64, Entry)]) -> Vec<&Balance> {
    let mut seen = std::collections::HashSet::new();
    let mut last: Vec<&Balance> = entries
        .iter()
        .rev()
        .filter_map(|(_, entry)| entry.balance())
        .filter(|b| seen.insert((b.workspace_id.as_str(), b.key_id.as_str())))
        .collect();
    last.reverse();
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::EventKind;

    fn balance(key: &str, remaining: u64) -> Balance {
        Balance {
            workspace_id: "ws_1".into(),
            key_id: key.into(),
            remaining,
            refilled_at: DateTime::from_timestamp_millis(1_767_225_600_123).unwrap(),
        }
    }

    #[test]
    fn events_and_spends_read_back_as_written_and_an_old_event_record_still_reads() {
        // Times are kept to the millisecond, as stored.
        let at = DateTime::from_timestamp_millis(1_767_225_600_456).unwrap();
        let event = NewEvent::new("ws_1", at, EventKind::KeyVerified);
        let spent = Entry::Spent {
            balance: balance("key_1", 4),
            event: Some(event.clone()),
        };
        let bare = Entry::Spent {
            balance: balance("key_1", 3),
            event: None,
        };
        for entry in [Entry::Event(event.clone()), spent, bare] {
            assert_eq!(Entry::decode(1, &entry.encode().unwrap()).unwrap(), entry);
        }
        let old = serde_json::to_vec(&event).unwrap();
        assert_eq!(Entry::decode(1, &old).unwrap(), Entry::Event(event));
        assert!(matches!(
            Entry::decode(9, b"C{}"),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn only_each_keys_last_balance_is_written() {
        let entries = vec![
            (
                1,
                Entry::Spent {
                    balance: balance("key_a", 9),
                    event: None,
                },
            ),
            (
                2,
                Entry::Spent {
                    balance: balance("key_b", 5),
                    event: None,
                },
            ),
            (
                3,
                Entry::Spent {
                    balance: balance("key_a", 8),
                    event: None,
                },
            ),
        ];
        let last: Vec<(&str, u64)> = final_balances(&entries)
            .into_iter()
            .map(|b| (b.key_id.as_str(), b.remaining))
            .collect();
        assert_eq!(last, [("key_b", 5), ("key_a", 8)]);
    }
}
