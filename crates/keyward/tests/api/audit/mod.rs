//! The audit trail, by behaviour: reading it (`queries`), what management writes
//! (`management_events`), what verification records and counts (`recording_and_usage`),
//! edits of the database the chain finds (`chain_edits`) and those only an anchor or a replay
//! of key state finds (`anchors_and_replay`), the `keyward audit` commands (`commands`), and
//! retention, storage failures and the export checker with a controlled clock and store
//! (`in_process`).

mod anchors_and_replay;
mod chain_edits;
mod commands;
mod in_process;
mod management_events;
mod queries;
mod recording_and_usage;
pub mod support;
