//! The conformance suite every keyward storage engine passes unchanged: what the server relies
//! on from a [`Store`](keyward_core::Store), written against the trait alone (no SQL, no file
//! paths but those the engine hands out), in ten chapters:
//!
//! 1. [`keys`]: keys and lifecycle — workspaces, root keys and keys read back as written,
//!    live names unique, updates, revocation, rotation, listing, settings, usage, reopening.
//! 2. [`restrictions`]: restrictions and credits — round trips, atomic and durable spends,
//!    refills, no stale balance written back, rotation sharing a balance, a spend recorded
//!    with its event, policies.
//! 3. [`audit`]: audit chain and retention — one linked chain per workspace, batches all or
//!    nothing, filters, pruning behind a checkpoint, the kept events read alone.
//! 4. [`journal`]: journal crash recovery — the engine's store under
//!    [`keyward_storage::Journaled`]: events left in the audit journal taken in once, in
//!    order; credit spends journaled with their events applied exactly once; a journal that
//!    does not continue the database, or is in use, refused.
//! 5. [`tenancy`]: every query scoped by workspace; another workspace's objects answer exactly
//!    as missing ones.
//! 6. [`changes`]: the change log other nodes follow — one change per object a write changed,
//!    none for a failed write or a verification's writes, gap-free numbers in commit order,
//!    pruning that keeps the newest.
//! 7. [`copy`]: a database copied into an empty one (`import_records`, `import_events`) reads
//!    back identical, and its chains verify and continue.
//! 8. [`dashboard`]: dashboard sessions found by their token's hash and one-time handover
//!    links, each written with its event; a link taken exactly once, also under a race;
//!    pruning of what has ended.
//! 9. [`advice`]: the safety advice — settings and dismissals written with their events,
//!    observations per key, the workspace's items read worst first in pages.
//! 10. [`verified_prefix`]: each workspace's signed verified prefix (incremental chain
//!     verification) read back exactly as written, replaced, cleared, kept across a reopen.
//!
//! # Adopting the suite
//!
//! An engine implements [`Engine`] in its tests (make an empty database, open a migrated
//! store on it, close it) and, if the audit journal can feed its store (it implements
//! [`keyward_storage::IngestTarget`]), [`JournalEngine`] (where the journal of a database
//! lives). It then runs the whole suite with one line in an integration test, which needs
//! `tokio` among its dev-dependencies:
//!
//! ```ignore
//! keyward_store_tests::conformance!(SqliteFile);
//! ```
//!
//! That expands to one module per chapter and one `#[tokio::test]` per test, so a failure
//! names its test (`keys::a_revoked_key_gives_up_its_name`). The engine expression is
//! evaluated for each test, inside the chapter modules, which import everything of the module
//! the macro is called in. An engine whose store the journal cannot feed says so, and runs
//! the other chapters:
//!
//! ```ignore
//! keyward_store_tests::conformance!(SqliteInMemory; without journal);
//! ```
//!
//! Wrapping a [`JournalEngine`] in [`ThroughTheJournal`] runs the suite again with every
//! store appending through its audit journal, as a server does (without the journal
//! chapter, which the engine's own run covers).
//!
//! An engine whose database server is not configured (PostgreSQL without
//! `KEYWARD_TEST_POSTGRES_URL`) says why in [`Engine::unavailable`]: each test then prints a
//! `SKIPPED` line and passes, or fails under `KEYWARD_REQUIRE_SERVICES=1`.
//!
//! Each test asks the engine for its own database, so tests share nothing and run in
//! parallel. The helpers in [`fixtures`] (a chain check, record builders) are public for an
//! engine's own tests.

pub mod advice;
pub mod audit;
pub mod changes;
pub mod copy;
pub mod dashboard;
mod engine;
pub mod fixtures;
pub mod journal;
pub mod keys;
pub mod restrictions;
pub mod tenancy;
pub mod verified_prefix;

pub use engine::{close_journaled, open_journaled, Engine, JournalEngine, ThroughTheJournal};

#[doc(hidden)]
pub use anyhow as __anyhow;

/// Announces that `test` is skipped because its engine is `unavailable` (the line goes
/// straight to stderr, which libtest does not capture, so it shows beside the test's `ok`),
/// or fails with that reason when `KEYWARD_REQUIRE_SERVICES=1` forbids skipping.
pub fn skip(test: &str, unavailable: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let line = format!("SKIPPED {test}: {unavailable}");
    if std::env::var("KEYWARD_REQUIRE_SERVICES").as_deref() == Ok("1") {
        anyhow::bail!("{line} (KEYWARD_REQUIRE_SERVICES=1 forbids skipping)");
    }
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(format!("\n{line}\n").as_bytes());
    let _ = stderr.flush();
    Ok(())
}

/// Runs the whole conformance suite on an engine: one `#[tokio::test]` per test, in one
/// module per chapter; `conformance!(engine; without journal)` leaves out the journal chapter
/// for an engine that is not a [`JournalEngine`]. See the crate docs.
#[macro_export]
macro_rules! conformance {
    ($engine:expr; without journal) => {
        $crate::__chapters_without_journal!($engine);
    };
    ($engine:expr) => {
        $crate::__chapters_without_journal!($engine);
        $crate::__chapter!($engine, journal: [
            events_a_crash_left_in_the_journal_are_taken_in_exactly_once,
            appends_are_read_at_once_and_precede_the_next_management_event,
            concurrent_appends_all_land_exactly_once
                (flavor = "multi_thread", worker_threads = 4),
            a_large_backlog_and_a_trickle_keep_journal_order,
            a_journal_that_does_not_continue_the_database_is_refused,
            a_journal_in_use_is_refused,
            a_journaled_store_keeps_everything_across_a_reopen,
            spends_a_crash_left_in_the_journal_are_taken_in_exactly_once,
            a_write_that_sets_credits_is_not_undone_by_spends_journaled_before_it,
        ]);
    };
}

/// The chapters every engine runs.
#[doc(hidden)]
#[macro_export]
macro_rules! __chapters_without_journal {
    ($engine:expr) => {
        $crate::__chapter!($engine, keys: [
            workspaces_are_listed_with_the_events_that_created_them,
            creating_a_workspace_twice_fails_and_records_nothing,
            root_keys_read_back_as_written_after_an_insert_and_a_revocation,
            a_key_reads_back_exactly_as_written_and_an_unknown_one_as_none,
            an_imported_key_keeps_its_mark_through_reads_rotation_and_a_reopen,
            a_live_name_is_unique_in_its_workspace_whatever_its_case,
            a_key_needs_an_existing_workspace,
            a_revoked_key_gives_up_its_name,
            an_update_replaces_every_mutable_field,
            a_rename_onto_a_live_name_fails_and_records_nothing,
            updating_an_unknown_key_answers_not_found_and_records_nothing,
            a_rotated_key_is_marked_replaced_and_its_replacement_holds_the_name,
            all_keys_is_every_key_of_every_workspace_oldest_first,
            each_key_streams_every_key_exactly_once,
            every_status_filter_agrees_with_the_key_status_at_two_instants,
            cursor_pages_skip_and_repeat_no_key,
            workspace_settings_read_back_as_written,
            usage_increments_add_up_and_last_use_never_moves_back,
            everything_written_survives_a_reopen,
        ]);
        $crate::__chapter!($engine, restrictions: [
            restrictions_read_back_as_written,
            a_key_without_credits_and_a_missing_key_spend_nothing,
            concurrent_spends_never_double_spend_and_survive_a_reopen,
            spends_committed_together_each_get_their_own_keys_answer,
            a_refill_is_applied_atomically_with_the_spend,
            an_update_never_writes_back_a_stale_balance,
            update_key_and_credits_replaces_the_balance,
            a_rotated_key_and_its_replacement_spend_one_balance_never_a_stale_copy,
            a_spend_and_its_event_are_recorded_together_whatever_the_outcome,
            a_policy_is_stored_and_cleared,
        ]);
        $crate::__chapter!($engine, audit: [
            verifications_of_two_workspaces_in_one_append_extend_two_chains,
            a_large_batch_of_two_workspaces_is_written_in_order_and_chained,
            concurrent_writers_queue_and_the_chains_stay_whole,
            concurrent_single_appends_all_land_in_one_chain
                (flavor = "multi_thread", worker_threads = 2),
            the_log_reads_newest_first_each_event_linked_to_the_one_before,
            a_workspaces_first_event_is_its_creation_by_its_bootstrap_root_key,
            each_audit_filter_selects_exactly_what_it_says,
            a_limit_keeps_the_newest_events,
            a_batch_with_a_refused_event_leaves_nothing_and_the_chain_continues,
            retention_prunes_verifications_and_the_chain_still_verifies,
            retention_takes_an_old_event_appended_after_the_cut_at_the_next_run,
            retention_keeps_events_newer_than_the_cut_whatever_their_seq,
            kept_events_are_every_event_but_verifications_in_their_range,
        ]);
        $crate::__chapter!($engine, tenancy: [
            another_workspaces_key_reads_as_a_missing_one,
            a_name_live_in_one_workspace_is_free_in_another,
            updating_another_workspaces_key_answers_as_a_missing_one,
            rotating_another_workspaces_key_answers_as_a_missing_one,
            revoking_another_workspaces_root_key_answers_as_a_missing_one,
            spending_another_workspaces_credits_answers_as_a_missing_key,
            a_list_holds_only_the_workspaces_own_keys,
            each_workspace_reads_only_its_own_events,
            a_policy_applies_to_its_own_workspace_only,
            pruning_one_workspace_leaves_anothers_events,
        ]);
        $crate::__chapter!($engine, changes: [
            every_write_records_one_change_per_object_it_changed,
            writes_verification_does_not_read_record_no_change,
            a_failed_write_records_no_change_and_leaves_no_gap,
            concurrent_writers_get_gap_free_numbers_in_commit_order
                (flavor = "multi_thread", worker_threads = 4),
            pruning_keeps_the_newest_change_and_the_numbers_survive_a_reopen,
            a_change_reads_back_by_its_number_with_its_time_until_pruned,
        ]);
        $crate::__chapter!($engine, copy: [
            a_copy_reads_back_identical_and_its_chains_verify_and_continue,
        ]);
        $crate::__chapter!($engine, dashboard: [
            a_session_reads_back_as_written_with_its_sign_in_chained,
            touching_a_session_moves_its_last_use_forward_only,
            ending_a_session_deletes_it_and_records_its_sign_out_once,
            a_handover_reads_back_and_is_taken_exactly_once,
            of_callers_racing_for_one_handover_exactly_one_takes_it
                (flavor = "multi_thread", worker_threads = 4),
            pruning_deletes_only_ended_sessions_and_links,
        ]);
        $crate::__chapter!($engine, advice: [
            advice_settings_read_back_as_written_with_their_event_chained,
            observations_read_back_by_key_and_replace_what_was_there,
            the_advice_list_reads_worst_first_in_pages_and_a_replace_drops_old_items,
            a_dismissal_reads_back_takes_the_item_off_the_list_and_is_chained,
        ]);
        $crate::__chapter!($engine, verified_prefix: [
            a_verified_prefix_reads_back_signed_replaced_cleared_and_after_a_reopen,
        ]);
    };
}

/// One chapter's module of tests; a test may name the runtime it needs in parentheses.
#[doc(hidden)]
#[macro_export]
macro_rules! __chapter {
    ($engine:expr, $chapter:ident: [$($test:ident $(($($runtime:tt)*))?),* $(,)?]) => {
        mod $chapter {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test $(($($runtime)*))?]
                async fn $test() -> $crate::__anyhow::Result<()> {
                    let engine = $engine;
                    if let Some(why) = $crate::Engine::unavailable(&engine) {
                        return $crate::skip(stringify!($test), &why);
                    }
                    $crate::$chapter::$test(&engine).await
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    /// Every test a chapter defines is run by `conformance!`: a test left out of the macro
    /// would silently never run.
    #[test]
    fn the_macro_runs_every_test_of_every_chapter() {
        let chapters = [
            ("keys", include_str!("keys.rs")),
            ("restrictions", include_str!("restrictions.rs")),
            ("audit", include_str!("audit.rs")),
            ("journal", include_str!("journal.rs")),
            ("tenancy", include_str!("tenancy.rs")),
            ("changes", include_str!("changes.rs")),
            ("copy", include_str!("copy.rs")),
            ("dashboard", include_str!("dashboard.rs")),
            ("advice", include_str!("advice.rs")),
            ("verified_prefix", include_str!("verified_prefix.rs")),
        ];
        let lib = include_str!("lib.rs");
        let macro_text = &lib[..lib.find("macro_rules! __chapter {").unwrap()];
        for (chapter, source) in chapters {
            let tests: Vec<&str> = source
                .split("pub async fn ")
                .skip(1)
                .filter_map(|rest| rest.split_once('<'))
                .filter(|(_, generics)| {
                    let generics = generics.trim_start();
                    generics.starts_with("E: Engine") || generics.starts_with("E: JournalEngine")
                })
                .map(|(name, _)| name.trim())
                .collect();
            assert!(!tests.is_empty(), "{chapter} has tests");
            for test in tests {
                assert!(
                    macro_text.contains(&format!("            {test},"))
                        || macro_text.contains(&format!("            {test}\n")),
                    "conformance! runs {chapter}::{test}"
                );
            }
        }
    }
}
