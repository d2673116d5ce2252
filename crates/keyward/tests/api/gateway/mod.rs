//! `keyward gateway`: a real upstream (axum on loopback), the real gateway
//! (`keyward::gateway::gateway`, what the command runs, with keyward's API in the same
//! process) and real HTTP between them. `harness.rs` starts both; `probe.rs` is the upstream
//! that records what it receives; `forwarding.rs` covers verification, stripping, streaming
//! and failures; `example.rs` runs the example invoices service behind the gateway.

mod example;
mod forwarding;
mod harness;
mod probe;
