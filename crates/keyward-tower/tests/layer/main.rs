//! The layer in front of axum services on loopback, checking keys with a real keyward
//! server in this process: what reaches the handler, every refusal, failing closed, the
//! audit trail, the cache; and the invoices example end to end.

// A failed expectation is a failed test: clippy.toml allows these inside `#[test]` functions,
// and the helpers they call are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod app;
mod cache;
mod checks;
mod fails_closed;
mod invoices;
mod plain_tower;
// The client suite's in-process keyward server: the one place that knows how one is assembled.
// Not every helper it offers is used here.
#[allow(dead_code)]
#[path = "../../../keyward-client/tests/api/server.rs"]
mod server;
