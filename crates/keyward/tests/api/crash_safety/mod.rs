//! Crash safety: an answer means the change is durable. Each kind of acknowledged write
//! survives a SIGKILL right after its answer (`acknowledged_writes`); concurrent writers
//! under a SIGKILL at a random moment lose nothing acknowledged and leave nothing half done
//! (`under_load`); answered verifications survive in the audit journal, a graceful stop
//! leaves the database complete, and a journal in use cannot be shared (`audit_journal`);
//! credits spent are exactly the recorded verifications after a SIGKILL (`credits`).
//! These run the real binary: the SIGKILL is the point.

mod acknowledged_writes;
mod audit_journal;
mod credits;
mod under_load;
