//! keyward's domain: what a key is, how it is hashed, what a permission grants and what a
//! verification decides. No HTTP, no SQL: storage is reached through the [`Store`] trait and
//! time through the [`Clock`] trait, so every rule here is testable in-process.

pub mod advice;
pub mod anchor;
pub mod anchor_binding;
pub mod audit;
pub mod audit_level;
pub mod audit_replay;
pub mod chain;
pub mod changes;
pub mod clock;
pub mod credits;
pub mod dashboard;
pub mod hashing;
pub mod ids;
pub mod key_format;
pub mod model;
pub mod name;
pub mod permission;
pub mod policy;
pub mod query;
pub mod rate_limit;
pub mod redact;
pub mod restrictions;
pub mod root_keys;
pub mod spend;
pub mod store;
pub mod text;
mod unescape;
pub mod verified_prefix;
pub mod verify;

pub use anchor_binding::AnchorBinding;
pub use audit::{
    AnchorPoint, AuditEvent, AuditFilter, ChainPosition, ChainReport, ChainVerifier, Checkpoint,
    EventKind, EventOutcome, KeptDigest, NewEvent,
};
pub use audit_level::{ActionPattern, AuditDecision, AuditRule, AuditRuleError, AuditRules};
pub use chain::{ChainHead, Linked, TamperedHead, BROKEN_LINK};
pub use changes::{Change, ChangeFeed, ChangeSubscription, ChangedObject};
pub use clock::{Clock, ManualClock};
pub use credits::{CreditOutcome, Credits, Refill};
pub use dashboard::{Handover, Session};
pub use hashing::KeyHash;
pub use key_format::{ApiKey, KeyFormatError, KeyPrefix, KEY_REGEX};
pub use model::{
    KeyRecord, KeyStatus, KeyUsage, Restrictions, RootKey, UsageIncrement, VerificationAudit,
    Workspace, WorkspaceSettings,
};
pub use name::{KeyName, NameError};
pub use permission::{Permission, PermissionError};
pub use policy::WorkspacePolicy;
pub use query::{PermissionQuery, QueryError};
pub use rate_limit::{RateLimit, RateLimitDecision};
pub use restrictions::{IpRange, Origin};
pub use spend::RecordedSpend;
pub use store::{KeyFilter, Records, Store, StoreError};
pub use verified_prefix::VerifiedPrefix;
pub use verify::{decide, Presented, VerifyCode};
