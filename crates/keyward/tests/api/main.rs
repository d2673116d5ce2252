//! The end-to-end suite, keyward's one integration-test binary: every test spawns the real
//! `keyward` binary on port 0 with its own temporary SQLite database and drives it over HTTP
//! (or the CLI).

// A failed expectation is a failed test: clippy.toml allows these inside `#[test]` functions,
// and the helpers they call are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod audit_inprocess;
mod audit_tamper;
mod auth_tenancy;
mod bad_input;
mod cli;
mod connection_limits;
mod crash_safety;
mod debug_redaction;
mod durability;
#[cfg(unix)]
mod file_modes;
mod fuzz_http;
mod helpers;
mod http_hygiene;
mod isolation_matrix;
mod journal_crash;
mod leak_reports;
mod leaks;
mod lifecycle;
mod load;
mod pagination;
mod raw_http;
mod restrictions;
mod root_key_delivery;
mod root_keys;
mod rotation_loopholes;
mod scan_exit;
mod secrets;
mod server_errors;
mod skip;
mod storage_failure;
mod verify;
