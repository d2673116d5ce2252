//! What binds a chain to a signed anchor beyond the chain's own links: the anchored event
//! still carries the signed hash, and the events at or before it that retention never
//! deletes (every kind but `key.verified`) are still the ones the anchor counted and
//! digested, each with contents that match its hash.
//!
//! Only those events are needed, not the verifications between them, so `audit verify
//! --anchor` reads them by index and checks the chain's links separately, from its verified
//! prefix, in bounded time (`keyward-app`'s `anchor_check.rs`). Their number follows the
//! workspace's management, not its traffic.

use crate::audit::{AnchorPoint, AuditEvent, EventKind, KeptDigest};

/// Checks the events an anchor covers, fed in ascending seq order: every kept event at or
/// before the anchored seq, and the anchored event itself whatever its kind.
#[derive(Debug)]
pub struct AnchorBinding {
    anchor: AnchorPoint,
    found: bool,
    kept: u64,
    digest: KeptDigest,
    broken: Option<(i64, String)>,
}

impl AnchorBinding {
    pub fn new(anchor: AnchorPoint) -> Self {
        Self {
            anchor,
            found: false,
            kept: 0,
            digest: KeptDigest::default(),
            broken: None,
        }
    }

    pub fn anchor(&self) -> &AnchorPoint {
        &self.anchor
    }

    /// Takes the next event; events after the anchored seq, and verifications before it, are
    /// not the anchor's and are passed over.
    pub fn push(&mut self, event: &AuditEvent) {
        if self.broken.is_some() || event.seq > self.anchor.seq {
            return;
        }
        let kept = event.event.kind != EventKind::KeyVerified.as_str();
        if !kept && event.seq != self.anchor.seq {
            return;
        }
        let reason = if !event.is_intact(&event.prev_hash) {
            Some("the event's contents do not match its hash")
        } else if event.seq == self.anchor.seq && event.hash != self.anchor.hash {
            Some(
                "the event at the anchored seq is not the one the anchor signed: the chain was \
                 rewritten",
            )
        } else {
            None
        };
        if let Some(reason) = reason {
            self.broken = Some((event.seq, reason.to_owned()));
            return;
        }
        self.found |= event.seq == self.anchor.seq;
        if kept {
            self.kept += 1;
            self.digest.push_kept(&event.hash);
        }
    }

    /// The first seq where the chain no longer extends the anchor, and why; `None` when it
    /// does. `head_seq` is the chain's head, `cut_seq` retention's checkpoint (an anchored
    /// verification at or before it may have been pruned: then the kept events are what
    /// still bind the chain to the anchor).
    pub fn finish(self, head_seq: i64, cut_seq: i64) -> Option<(i64, String)> {
        let anchor = &self.anchor;
        if let Some(broken) = self.broken {
            return Some(broken);
        }
        if head_seq < anchor.seq {
            return Some((
                head_seq + 1,
                format!(
                    "the chain ends at seq {head_seq}, before the anchored seq {}: events signed \
                     by the anchor are gone",
                    anchor.seq
                ),
            ));
        }
        if !self.found && anchor.seq > cut_seq {
            return Some((anchor.seq, "the anchored event is missing".to_owned()));
        }
        if self.kept != anchor.kept {
            return Some((
                anchor.seq,
                format!(
                    "{} events that retention never deletes lie at or before the anchored seq, \
                     the anchor signed {}",
                    self.kept, anchor.kept
                ),
            ));
        }
        if anchor
            .kept_digest
            .as_deref()
            .is_some_and(|signed| signed != self.digest.hex())
        {
            return Some((
                anchor.seq,
                "the events that retention never deletes at or before the anchored seq are not \
                 the ones the anchor signed: one was edited"
                    .to_owned(),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{ChainVerifier, NewEvent, GENESIS_HASH};
    use chrono::{TimeZone, Utc};

    /// A chain whose even seqs are verifications and odd ones key creations.
    fn chain_of(n: usize) -> Vec<AuditEvent> {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut out: Vec<AuditEvent> = Vec::new();
        for i in 0..n {
            let kind = if i % 2 == 0 {
                EventKind::KeyCreated
            } else {
                EventKind::KeyVerified
            };
            let (seq, prev) = out
                .last()
                .map_or((0, GENESIS_HASH.to_owned()), |e| (e.seq, e.hash.clone()));
            out.push(AuditEvent::chain(
                NewEvent::new("ws_1", t, kind),
                seq,
                &prev,
            ));
        }
        out
    }

    fn anchor_at(events: &[AuditEvent], seq: i64) -> AnchorPoint {
        let mut digest = KeptDigest::default();
        let covered = events.iter().filter(|e| e.seq <= seq);
        covered
            .clone()
            .for_each(|e| digest.push(&e.event.kind, &e.hash));
        AnchorPoint {
            seq,
            hash: events[usize::try_from(seq - 1).unwrap()].hash.clone(),
            kept: covered
                .filter(|e| e.event.kind != EventKind::KeyVerified.as_str())
                .count() as u64,
            kept_digest: Some(digest.hex().to_owned()),
        }
    }

    /// The binding fed only what an index gives it: kept events and the anchored one.
    fn bind(events: &[AuditEvent], anchor: &AnchorPoint, cut_seq: i64) -> Option<(i64, String)> {
        let mut binding = AnchorBinding::new(anchor.clone());
        events
            .iter()
            .filter(|e| e.event.kind != EventKind::KeyVerified.as_str() || e.seq == anchor.seq)
            .for_each(|e| binding.push(e));
        let head = events.last().map_or(0, |e| e.seq);
        binding.finish(head, cut_seq)
    }

    #[test]
    fn an_intact_chain_extends_its_anchor_whether_fed_every_event_or_only_the_kept_ones() {
        let events = chain_of(8);
        for seq in [1, 4, 5, 8] {
            let anchor = anchor_at(&events, seq);
            assert_eq!(bind(&events, &anchor, 0), None, "anchor at {seq}");
            let mut every = AnchorBinding::new(anchor);
            events.iter().for_each(|e| every.push(e));
            assert_eq!(every.finish(8, 0), None);
        }
    }

    #[test]
    fn a_rewritten_or_truncated_chain_or_an_edited_kept_event_breaks_the_binding() {
        let events = chain_of(8);
        let anchor = anchor_at(&events, 6);
        // Re-hashed forward from an edit at seq 3: every link holds, the anchored hash differs.
        let mut rehashed = events[..2].to_vec();
        for e in &events[2..] {
            let mut event = e.event.clone();
            if e.seq == 3 {
                event.detail = Some("rewritten".into());
            }
            let last = rehashed.last().unwrap();
            let (seq, prev) = (last.seq, last.hash.clone());
            rehashed.push(AuditEvent::chain(event, seq, &prev));
        }
        let mut verifier = ChainVerifier::new(None);
        rehashed.iter().for_each(|e| verifier.push(e));
        assert!(verifier.finish(Some((8, &rehashed[7].hash))).valid);
        assert_eq!(bind(&rehashed, &anchor, 0).unwrap().0, 6);
        // Truncated before the anchor, head moved with it.
        assert_eq!(bind(&events[..4], &anchor, 0).unwrap().0, 5);
        // A kept event's contents edited, its hash left: found at that event.
        let mut edited = events.clone();
        edited[2].event.actor_name = Some("someone else".into());
        let (seq, reason) = bind(&edited, &anchor, 0).unwrap();
        assert_eq!(seq, 3);
        assert!(reason.contains("do not match its hash"), "{reason}");
        // A kept event deleted: the count no longer matches.
        let mut deleted = events.clone();
        deleted.remove(2);
        let (seq, reason) = bind(&deleted, &anchor, 0).unwrap();
        assert_eq!(seq, 6);
        assert!(reason.contains("never deletes"), "{reason}");
        // A kept event replaced by another intact one: the digest no longer matches.
        let mut replaced = events.clone();
        let mut other = events[2].event.clone();
        other.detail = Some("another".into());
        replaced[2] = AuditEvent::chain(other, 2, &events[1].hash);
        let (seq, reason) = bind(&replaced, &anchor, 0).unwrap();
        assert_eq!(seq, 6);
        assert!(reason.contains("one was edited"), "{reason}");
    }

    #[test]
    fn an_anchored_verification_pruned_by_retention_is_bound_by_the_kept_events() {
        let events = chain_of(8);
        let anchor = anchor_at(&events, 6);
        let pruned: Vec<_> = events.iter().filter(|e| e.seq != 6).cloned().collect();
        assert_eq!(bind(&pruned, &anchor, 7), None);
        // Before the cut reached it, a missing anchored event is a break.
        assert_eq!(bind(&pruned, &anchor, 5).unwrap().0, 6);
    }
}
