//! Linking new events into a workspace's hash chain, the same for every storage engine: an
//! engine reads the chain's head ([`ChainHead`]) and the newest stored `seq`, asks
//! [`ChainHead::resume`] where the next event goes, places each event with
//! [`ChainHead::link`], inserts the rows and writes the head back, all in one transaction.
//!
//! A head that only tampering makes (not a hash, missing, or behind the stored events) does
//! not stop appends: appending after it as it is would fail for good (a `seq` that is taken),
//! and an ingester retrying forever would stop the audit trail and every verification. So
//! the next event follows the newest stored one and links to [`BROKEN_LINK`], which matches
//! no event: the chain check reports the break there. (A head ahead of the events is normal:
//! retention may delete the newest events.)

use crate::audit::{AuditEvent, NewEvent, GENESIS_HASH};

/// What a broken link reads as: 32 0xFF bytes in hex, a hash no event has.
pub const BROKEN_LINK: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

/// A chain's newest event as recorded: its `seq` and `hash` (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

/// Why [`ChainHead::resume`] linked to [`BROKEN_LINK`]: for the engine's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TamperedHead {
    /// The recorded head's hash is not a lowercase hex SHA-256.
    NotAHash,
    /// There is no recorded head, or it is behind the newest stored event.
    MissingOrBehind,
}

impl TamperedHead {
    /// A sentence for the log (no hash or value is quoted).
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotAHash => {
                "an audit chain head is not a hash; the chain check will report the break"
            }
            Self::MissingOrBehind => {
                "the audit chain head is missing or behind its events; the chain check will \
                 report the break"
            }
        }
    }
}

/// An event placed in its chain: where it goes and what it links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty chain: the first event gets seq 1 after [`GENESIS_HASH`].
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }

    /// Where a workspace's next event goes, from its recorded head and the newest `seq`
    /// stored (`None` for no events), and why the link is broken if it is (see the module
    /// docs).
    pub fn resume(
        head: Option<ChainHead>,
        newest_stored: Option<i64>,
    ) -> (ChainHead, Option<TamperedHead>) {
        match (head, newest_stored) {
            (None, None) => (Self::genesis(), None),
            (Some(head), newest) if newest.is_none_or(|newest| newest <= head.seq) => {
                if is_chain_hash(&head.hash) {
                    (head, None)
                } else {
                    (
                        Self {
                            seq: head.seq,
                            hash: BROKEN_LINK.to_owned(),
                        },
                        Some(TamperedHead::NotAHash),
                    )
                }
            }
            (_, newest) => (
                Self {
                    seq: newest.unwrap_or_default(),
                    hash: BROKEN_LINK.to_owned(),
                },
                Some(TamperedHead::MissingOrBehind),
            ),
        }
    }

    /// Places `event` after this head and advances the head to it.
    pub fn link(&mut self, event: &NewEvent) -> Linked {
        self.link_with(event, |seq, prev_hash, hash| Linked {
            seq,
            prev_hash: prev_hash.to_owned(),
            hash: hash.to_owned(),
        })
    }

    /// [`ChainHead::link`] handing `place` the event's `seq`, `prev_hash` and `hash` as
    /// borrowed text (an engine converting them to its own row copies nothing else).
    pub fn link_with<R>(
        &mut self,
        event: &NewEvent,
        place: impl FnOnce(i64, &str, &str) -> R,
    ) -> R {
        let seq = self.seq + 1;
        let hash = AuditEvent::hash_of(event, seq, &self.hash);
        let placed = place(seq, &self.hash, &hash);
        self.seq = seq;
        self.hash = hash;
        placed
    }

    /// Places every event of one workspace after this head, in order.
    pub fn link_all<'e>(&mut self, events: impl IntoIterator<Item = &'e NewEvent>) -> Vec<Linked> {
        events.into_iter().map(|event| self.link(event)).collect()
    }
}

/// Whether `hash` is a chain hash as computed: 64 lowercase hex digits.
pub fn is_chain_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{ChainVerifier, EventKind};
    use chrono::{TimeZone, Utc};

    fn head(seq: i64, hash: &str) -> Option<ChainHead> {
        Some(ChainHead {
            seq,
            hash: hash.to_owned(),
        })
    }

    #[test]
    fn a_broken_link_is_a_hash_that_matches_nothing() {
        assert_eq!(BROKEN_LINK.len(), 64);
        assert!(is_chain_hash(BROKEN_LINK));
        assert!(is_chain_hash(GENESIS_HASH));
        assert_eq!(
            ChainHead::resume(head(3, BROKEN_LINK), Some(3)),
            (
                ChainHead {
                    seq: 3,
                    hash: BROKEN_LINK.to_owned()
                },
                None
            )
        );
        assert_eq!(
            ChainHead::resume(head(3, GENESIS_HASH), Some(3)).0.hash,
            GENESIS_HASH
        );
        for bad in ["not a hash".to_owned(), GENESIS_HASH.replace('0', "A")] {
            assert_eq!(
                ChainHead::resume(head(3, &bad), Some(3)),
                (
                    ChainHead {
                        seq: 3,
                        hash: BROKEN_LINK.to_owned()
                    },
                    Some(TamperedHead::NotAHash)
                )
            );
        }
    }

    #[test]
    fn a_missing_or_lagging_head_links_after_the_newest_event_to_a_broken_link() {
        assert_eq!(ChainHead::resume(None, None), (ChainHead::genesis(), None));
        let broken = |seq| {
            (
                ChainHead {
                    seq,
                    hash: BROKEN_LINK.to_owned(),
                },
                Some(TamperedHead::MissingOrBehind),
            )
        };
        assert_eq!(ChainHead::resume(None, Some(4)), broken(4));
        assert_eq!(ChainHead::resume(head(2, GENESIS_HASH), Some(4)), broken(4));
        // Ahead of the events: retention deleted the newest ones.
        assert_eq!(
            ChainHead::resume(head(9, GENESIS_HASH), Some(4)),
            (ChainHead::genesis_at(9), None)
        );
        assert_eq!(
            ChainHead::resume(head(9, GENESIS_HASH), None),
            (ChainHead::genesis_at(9), None)
        );
    }

    impl ChainHead {
        fn genesis_at(seq: i64) -> Self {
            Self {
                seq,
                hash: GENESIS_HASH.to_owned(),
            }
        }
    }

    #[test]
    fn linked_events_form_a_chain_that_verifies() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let events: Vec<NewEvent> = (0..4)
            .map(|_| NewEvent::new("ws_1", t, EventKind::KeyCreated))
            .collect();
        let mut head = ChainHead::genesis();
        let linked = head.link_all(&events);
        assert_eq!(head.seq, 4);
        assert_eq!(head.hash, linked[3].hash);
        let mut verifier = ChainVerifier::new(None);
        for (event, link) in events.iter().zip(&linked) {
            verifier.push(&AuditEvent {
                event: event.clone(),
                seq: link.seq,
                prev_hash: link.prev_hash.clone(),
                hash: link.hash.clone(),
            });
        }
        assert!(verifier.finish(Some((head.seq, head.hash.as_str()))).valid);
    }
}
