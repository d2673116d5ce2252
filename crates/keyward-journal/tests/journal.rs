//! The journal against real files in a temporary directory: recovery after reopening, torn
//! and stale records, segment reuse, and the refusals (full, too large, locked, a journal that
//! does not continue the consumer's position).

// A failed expectation is a failed test: clippy.toml allows these inside `#[test]` functions,
// and the helpers they call are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_journal::{Journal, JournalError, Options, Record, HEADER_BYTES};
use proptest::prelude::*;
use std::path::Path;

fn small(segment_bytes: u64, max_segments: usize) -> Options {
    Options {
        segment_bytes,
        max_segments,
    }
}

fn payloads(from: u64, n: u64) -> Vec<Vec<u8>> {
    (from..from + n)
        .map(|i| format!("event-{i:08}").into_bytes())
        .collect()
}

fn records(from: u64, n: u64) -> Vec<Record> {
    (from..from + n)
        .zip(payloads(from, n))
        .map(|(lsn, payload)| Record { lsn, payload })
        .collect()
}

/// Flips one byte of the first occurrence of `needle` in any segment file.
fn corrupt(dir: &Path, needle: &[u8]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "seg") {
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
            bytes[at + needle.len() - 1] ^= 0x5a;
            std::fs::write(&path, bytes).unwrap();
            return;
        }
    }
    panic!("payload not found in any segment");
}

#[test]
fn records_survive_reopening_and_numbering_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, pending) = Journal::open(dir.path(), Options::default(), 0).unwrap();
    assert!(pending.is_empty());
    assert_eq!(journal.append(&payloads(1, 3)).unwrap(), 1..4);
    assert_eq!(journal.append(&payloads(4, 2)).unwrap(), 4..6);
    assert_eq!(journal.append::<Vec<u8>>(&[]).unwrap(), 6..6);
    drop(journal);

    let (mut journal, pending) = Journal::open(dir.path(), Options::default(), 0).unwrap();
    assert_eq!(pending, records(1, 5));
    let (_, pending_after_2) = {
        drop(journal);
        Journal::open(dir.path(), Options::default(), 2).unwrap()
    };
    assert_eq!(
        pending_after_2,
        records(3, 3),
        "what the consumer took in is skipped"
    );
    drop(pending_after_2);
    let (reopened, _) = Journal::open(dir.path(), Options::default(), 5).unwrap();
    journal = reopened;
    assert_eq!(journal.next_lsn(), 6);
}

#[test]
fn a_torn_record_ends_recovery_and_is_written_over() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), Options::default(), 0).unwrap();
    journal.append(&payloads(1, 2)).unwrap();
    journal.append(&payloads(3, 3)).unwrap();
    drop(journal);
    // As if the crash came while the second batch was being written: its middle record never
    // fully reached the disk. The record after it is intact but must not be used.
    corrupt(dir.path(), b"event-00000004");

    let (mut journal, pending) = Journal::open(dir.path(), Options::default(), 0).unwrap();
    assert_eq!(pending, records(1, 3));
    journal.release(3);
    assert_eq!(journal.append(&payloads(4, 1)).unwrap(), 4..5);
    drop(journal);
    let (_, pending) = Journal::open(dir.path(), Options::default(), 3).unwrap();
    assert_eq!(
        pending,
        records(4, 1),
        "the intact record 5 of the torn batch is gone for good"
    );
}

#[test]
fn a_whole_record_past_a_tear_never_returns_even_where_new_records_end() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), Options::default(), 0).unwrap();
    journal
        .append(&[
            b"first-0001".to_vec(),
            b"second-002".to_vec(),
            b"survivor".to_vec(),
        ])
        .unwrap();
    drop(journal);
    // The crash tore record 2; record 3 reached the disk whole.
    corrupt(dir.path(), b"second-002");
    let (mut journal, pending) = Journal::open(dir.path(), Options::default(), 0).unwrap();
    assert_eq!(pending.len(), 1);
    journal.release(1);
    // The next run's record 2 is written over the front of the same segment and is exactly
    // as long as the old records 1 and 2 together: it ends where the survivor starts.
    let replacement = vec![b'r'; 2 * (HEADER_BYTES + 10) - HEADER_BYTES];
    assert_eq!(
        journal.append(std::slice::from_ref(&replacement)).unwrap(),
        2..3
    );
    drop(journal);
    let (_, pending) = Journal::open(dir.path(), Options::default(), 1).unwrap();
    assert_eq!(
        pending,
        vec![Record {
            lsn: 2,
            payload: replacement
        }],
        "the old record 3 was zeroed when the journal was reopened"
    );
}

#[test]
fn segments_are_reused_once_released_and_stale_records_stay_buried() {
    let dir = tempfile::tempdir().unwrap();
    let record = (HEADER_BYTES + payloads(1, 1)[0].len()) as u64;
    let options = small(4 * record, 3);
    let (mut journal, _) = Journal::open(dir.path(), options, 0).unwrap();
    let mut lsn = 1;
    for _ in 0..50 {
        journal.append(&payloads(lsn, 3)).unwrap();
        lsn += 3;
        journal.release(lsn - 1);
    }
    assert!(
        journal.segment_count() <= 3,
        "released segments are written over"
    );
    // Two more batches the consumer has not taken in.
    journal.append(&payloads(lsn, 3)).unwrap();
    journal.append(&payloads(lsn + 3, 2)).unwrap();
    drop(journal);
    let (_, pending) = Journal::open(dir.path(), options, lsn - 1).unwrap();
    assert_eq!(pending, records(lsn, 5));
}

#[test]
fn a_consumer_that_falls_behind_fills_the_journal_and_writes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let record = (HEADER_BYTES + payloads(1, 1)[0].len()) as u64;
    let (mut journal, _) = Journal::open(dir.path(), small(2 * record, 2), 0).unwrap();
    journal.append(&payloads(1, 4)).unwrap();
    assert!(matches!(
        journal.append(&payloads(5, 1)),
        Err(JournalError::Full(2))
    ));
    // Nothing was written, so once the consumer catches up the same append goes through.
    journal.release(2);
    assert_eq!(journal.append(&payloads(5, 1)).unwrap(), 5..6);
    drop(journal);
    let (_, pending) = Journal::open(dir.path(), small(2 * record, 2), 2).unwrap();
    assert_eq!(pending, records(3, 3));
}

#[test]
fn an_oversized_payload_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), small(64, 2), 0).unwrap();
    let big = vec![b'x'; 64];
    assert!(matches!(
        journal.append(&[big]),
        Err(JournalError::TooLarge(64))
    ));
    assert_eq!(journal.append(&payloads(1, 1)).unwrap(), 1..2);
}

#[test]
fn a_journal_that_does_not_continue_the_consumer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), Options::default(), 10).unwrap();
    assert_eq!(journal.append(&payloads(11, 2)).unwrap(), 11..13);
    drop(journal);
    // A database restored from an older backup: it has taken in only up to 4.
    let err = Journal::open(dir.path(), Options::default(), 4)
        .err()
        .unwrap();
    assert!(matches!(
        err,
        JournalError::Discontinuous {
            expected: 5,
            found: 11,
            ..
        }
    ));
    assert!(err.to_string().contains("Move the directory aside"));
}

#[test]
fn a_second_writer_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let (_journal, _) = Journal::open(dir.path(), Options::default(), 0).unwrap();
    assert!(matches!(
        Journal::open(dir.path(), Options::default(), 0),
        Err(JournalError::Locked(_))
    ));
}

#[test]
fn an_interrupted_segment_creation_is_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("000000.tmp"), b"half-zeroed").unwrap();
    let (mut journal, pending) = Journal::open(dir.path(), Options::default(), 0).unwrap();
    assert!(pending.is_empty());
    journal.append(&payloads(1, 1)).unwrap();
    assert!(!dir.path().join("000000.tmp").exists());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever the batch sizes, segment size and release points: after a crash that tore
    /// the last batch at any record, reopening returns every earlier record after the
    /// consumer's position, in order, then the torn batch's records before the tear.
    #[test]
    fn recovery_returns_exactly_the_acknowledged_prefix(
        batches in prop::collection::vec(1u64..12, 1..25),
        consumer_lag in 0usize..4,
        segment_records in 3u64..10,
        tear in 0u64..12,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let record = (HEADER_BYTES + payloads(1, 1)[0].len()) as u64;
        let options = small(segment_records * record, 64);
        let (mut journal, _) = Journal::open(dir.path(), options, 0).unwrap();
        let mut ends = Vec::new();
        let mut lsn = 1;
        for n in &batches {
            journal.append(&payloads(lsn, *n)).unwrap();
            lsn += n;
            ends.push(lsn - 1);
            // The consumer trails the writer by `consumer_lag` batches.
            if ends.len() > consumer_lag {
                journal.release(ends[ends.len() - 1 - consumer_lag]);
            }
        }
        let taken_in = if ends.len() > consumer_lag { ends[ends.len() - 1 - consumer_lag] } else { 0 };
        let last_batch = *batches.last().unwrap();
        let last_first = lsn - last_batch;
        let torn = last_first + tear % last_batch;
        drop(journal);
        // A crash mid-batch: the torn record did not fully reach the disk, and what came
        // after it in the batch may not have either (a later segment's part is never
        // written before an earlier part is synced).
        for lost in torn..lsn {
            corrupt(dir.path(), format!("event-{lost:08}").as_bytes());
        }

        let (_, pending) = Journal::open(dir.path(), options, taken_in).unwrap();
        let expected_end = torn.max(taken_in + 1);
        prop_assert_eq!(pending, records(taken_in + 1, expected_end - taken_in - 1));
    }
}

#[test]
fn segments_of_another_size_are_read_but_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), small(64, 8), 0).unwrap();
    journal.append(&payloads(1, 4)).unwrap();
    journal.release(4);
    drop(journal);
    // Reopened with larger segments: a record too long for the old ones goes to a new one
    // (instead of cycling through free segments it cannot fit in).
    let (mut journal, pending) = Journal::open(dir.path(), small(4096, 8), 4).unwrap();
    assert!(pending.is_empty());
    let before = journal.segment_count();
    assert_eq!(journal.append(&[vec![b'x'; 100]]).unwrap(), 5..6);
    assert_eq!(journal.segment_count(), before + 1);
    drop(journal);
    let (_, pending) = Journal::open(dir.path(), small(4096, 8), 4).unwrap();
    assert_eq!(pending.len(), 1);
}

/// Segments of whole blocks are written directly (on Linux), each batch from the start of
/// its block: batches of every size, ending anywhere in a block and exactly on its end,
/// across blocks and segments, reused segments and reopenings, all read back exactly. The
/// journal's writer asserts (in debug builds) that each write continues the block it
/// remembered, so a wrong tail fails here even where it would only have cost speed.
///
/// In the target directory, not `/tmp`, which may be a tmpfs that takes no direct writes.
/// With `KEYWARD_REQUIRE_DIRECT_IO` set (CI sets it) the test fails if the direct path is not
/// the one taken.
#[test]
fn direct_writes_keep_every_record_across_blocks_segments_and_reopens() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let require_direct = std::env::var_os("KEYWARD_REQUIRE_DIRECT_IO").is_some();
    let options = small(8192, 64);
    let mut expected: Vec<Record> = Vec::new();
    let mut lsn = 1;
    let mut taken_in = 0;
    for round in 0..4u64 {
        let (mut journal, pending) = Journal::open(dir.path(), options, taken_in).unwrap();
        assert_eq!(pending, expected, "round {round}");
        // Each round starts at the front of a segment: a record that ends exactly on the
        // first block's end, then batches of 1 to 7 records of 1 to ~900 bytes.
        let exact = vec![vec![b'#'; 4096 - HEADER_BYTES]];
        let batches = std::iter::once(exact).chain((0..40u64).map(|batch| {
            let n = 1 + (batch * 5 + round) % 7;
            (0..n)
                .map(|i| {
                    let seed = round * 1000 + batch * 7 + i;
                    vec![b'a' + (seed % 26) as u8; 1 + ((seed * 131) % 900) as usize]
                })
                .collect()
        }));
        for batch in batches.collect::<Vec<Vec<Vec<u8>>>>() {
            let n = batch.len() as u64;
            assert_eq!(journal.append(&batch).unwrap(), lsn..lsn + n);
            let direct = journal.direct_io() == Some(true);
            assert!(
                direct || !require_direct,
                "the journal did not write directly"
            );
            if cfg!(target_os = "linux") && !direct {
                eprintln!(
                    "notice: direct I/O is not available in {:?}; the buffered path was tested",
                    dir.path()
                );
            }
            expected.extend(
                (lsn..lsn + n)
                    .zip(batch)
                    .map(|(lsn, payload)| Record { lsn, payload }),
            );
            lsn += n;
        }
        // The consumer takes in all but the last 30 records, so segments get reused.
        taken_in = lsn.saturating_sub(31);
        journal.release(taken_in);
        expected.retain(|r| r.lsn > taken_in);
    }
    let (_, pending) = Journal::open(dir.path(), options, taken_in).unwrap();
    assert_eq!(pending, expected, "after the last round");
}

#[test]
fn a_snapshot_reads_what_the_open_journal_holds_past_the_consumer_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let record = (HEADER_BYTES + payloads(1, 1)[0].len()) as u64;
    let options = small(4 * record, 4);
    let (mut journal, _) = Journal::open(dir.path(), options, 0).unwrap();
    let mut lsn = 1;
    // Segments reused a few times over, so stale records lie beyond the live ones.
    for _ in 0..10 {
        journal.append(&payloads(lsn, 3)).unwrap();
        lsn += 3;
        journal.release(lsn - 1);
    }
    let taken_in = lsn - 1;
    journal.append(&payloads(lsn, 3)).unwrap();
    journal.append(&payloads(lsn + 3, 3)).unwrap();
    let bytes_before: Vec<Vec<u8>> = segment_bytes(dir.path());

    // Read while the journal is open and locked by its writer.
    let snapshot = keyward_journal::read_snapshot(dir.path(), taken_in).unwrap();
    assert_eq!(snapshot.id.as_deref(), Some(journal.id()));
    assert_eq!(
        segment_bytes(dir.path()),
        bytes_before,
        "the read changed a segment"
    );
    // From the consumer's position at the read, and from a later one.
    let snapshot_again = keyward_journal::read_snapshot(dir.path(), taken_in).unwrap();
    assert_eq!(snapshot.after(taken_in), records(lsn, 6));
    assert_eq!(snapshot_again.after(taken_in + 4), records(lsn + 4, 2));
    // The journal goes on as if nothing happened.
    journal.append(&payloads(lsn + 6, 1)).unwrap();
}

#[test]
fn a_snapshot_ends_at_the_first_missing_record() {
    let snapshot_dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(snapshot_dir.path(), Options::default(), 0).unwrap();
    journal.append(&payloads(1, 5)).unwrap();
    drop(journal);
    // Record 3 lost (as if its segment had been read before it was written).
    corrupt(snapshot_dir.path(), b"event-00000003");
    let snapshot = keyward_journal::read_snapshot(snapshot_dir.path(), 0).unwrap();
    assert_eq!(snapshot.after(0), records(1, 2));
}

fn segment_bytes(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}
