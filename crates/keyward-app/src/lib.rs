//! keyward's application core: [`Keyward`], the service every interface calls (the HTTP
//! server today; a dashboard or a gateway later).
//!
//! It owns the store, the verification index, the write lock, the clock, the audit path, the
//! rate limiter, usage counters and anchors, and exposes every operation as a typed method
//! taking domain values that were parsed once, at the edge ([`KeyDraft`], [`KeyPatch`],
//! [`VerifyInput`], …). Its rules hold for every interface because they are written here
//! once:
//! - every operation needs a [`Caller`] for its right, which only [`Principal::authorize`]
//!   makes, so no interface can forget a rights check;
//! - a change is committed with its audit event in one transaction, under the write lock,
//!   and only then placed in the index (`commit.rs`);
//! - audit events are built in one module (`events.rs`);
//! - verification runs `decide` → rate limit → credits → event → usage, in that order
//!   (`verify.rs`); the workspace's audit level for the action decides whether the event is
//!   recorded, aggregated per minute or skipped (`verify_audit.rs`).

mod activity;
pub mod advice;
pub mod aggregate;
pub mod anchor_check;
pub mod anchor_key;
pub mod anchors;
mod audit;
pub mod audit_check;
pub mod bootstrap;
pub mod chain_answer;
pub mod chain_verifier;
mod commit;
mod compact_key;
pub mod dashboard;
mod enforce;
mod error;
mod events;
pub mod fields;
pub mod follow;
pub mod handover;
mod import;
pub mod index;
mod interner;
mod key_table;
mod keys;
pub mod leaks;
pub mod limits;
pub mod maintenance;
pub mod metrics;
mod policy;
pub mod retention;
pub mod rights;
mod root_keys;
mod service;
pub mod snapshot;
mod system_clock;
pub mod usage;
mod verify;
mod verify_audit;
mod workspace;

pub use activity::{Activity, MAX_EVENTS_READ};
pub use audit::{AuditQuery, EventPage, EventPages};
pub use audit_check::{ChainCheck, CheckStatus, FullCheckProgress, Unexplained};
pub use error::AppError;
pub use import::{ImportDraft, ImportSecret, Imported, MAX_START_CHARS};
pub use key_table::KeyMemory;
pub use keys::{Issued, KeyChange, KeyDraft, KeyPage, KeyPatch, KeyQuery};
pub use leaks::{LeakReport, LeakedKey};
pub use rights::{Caller, Principal, Right};
pub use root_keys::{RootKeyDraft, KNOWN_RIGHTS};
pub use service::Keyward;
pub use system_clock::SystemClock;
pub use verify::{Verification, VerifyInput};
pub use workspace::SettingsPatch;
