//! The audit trail, by behaviour: reading it (`queries`), what management writes
//! (`management_events`), what verification records and counts (`recording_and_usage`),
//! edits of the database the chain finds (`chain_edits`), how far the chain check verified and
//! its background re-verification (`incremental_verify`) and those only an anchor or a replay
//! of key state finds (`anchors_and_replay`), the `keyward audit` commands (`commands`),
//! retention and the export checker's gaps (`retention`), audit levels per action
//! (`levels`), and nothing answered unrecorded
//! when storage fails (`storage_failures`), and usage counters written as increments
//! (`usage_increments`). Tests that move time or break the store drive
//! the router in process (`router_harness`).

mod anchors_and_replay;
mod chain_edits;
mod commands;
mod incremental_verify;
mod levels;
mod management_events;
mod queries;
mod recording_and_usage;
mod retention;
pub mod router_harness;
mod storage_failures;
pub mod support;
mod usage_increments;
