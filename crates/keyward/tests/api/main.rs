//! The end-to-end suite, keyward's one integration-test binary: every test starts its own
//! server with its own temporary SQLite database and drives it over HTTP (or the CLI). Servers
//! run in process through `keyward::serve`, the function `keyward serve` runs, except where
//! the process is the point (SIGKILL, SIGTERM, a pid, file modes under a umask, the first
//! root key's delivery, exit codes): those run the real binary (`helpers::spawn`).

// A failed expectation is a failed test: clippy.toml allows these inside `#[test]` functions,
// and the helpers they call are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod advice;
mod audit;
mod backup;
mod bad_input;
mod cli;
mod config;
mod connection_limits;
mod crash_safety;
mod dashboard;
#[cfg(unix)]
mod file_modes;
mod fuzz_http;
mod gateway;
mod helpers;
mod http_hygiene;
mod import;
mod index_snapshot;
mod leaks;
mod lifecycle;
mod load;
mod multi_node;
mod operability;
mod packaging;
mod pagination;
mod postgres;
mod raw_http;
mod restrictions;
mod root_key_delivery;
mod root_keys;
mod rotation_loopholes;
mod scan_exit;
mod secrets;
mod server_errors;
mod skip;
mod starting;
mod storage_failure;
mod tenancy;
mod transport;
mod verify;
