//! The client against a real keyward server in this process (`server.rs` starts it), every
//! route once and the mapping of the server's errors; and against hand-written HTTP answers
//! for what a healthy server never sends (`transport.rs`); and the docs' recipes for checking a
//! key from Python, Node and Go, run as their own programs against it (`recipes.rs`).

// A failed expectation is a failed test: clippy.toml allows these inside `#[test]` functions,
// and the helpers they call are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod errors;
mod recipes;
mod routes;
mod server;
mod transport;
