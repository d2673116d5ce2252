//! The client against a real keyward server in this process (`server.rs` starts it), every
//! route once and the mapping of the server's errors; and against hand-written HTTP answers
//! for what a healthy server never sends (`transport.rs`).

// A failed expectation is a failed test: clippy.toml allows these inside `#[test]` functions,
// and the helpers they call are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod errors;
mod routes;
mod server;
mod transport;
