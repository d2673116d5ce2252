//! keyward-server's one integration-test binary: every test spawns the real `keyward` binary
//! on port 0 with its own temporary SQLite database and drives it over HTTP (or the CLI).

mod auth_tenancy;
mod bad_input;
mod cli;
mod durability;
mod helpers;
mod lifecycle;
mod secrets;
mod verify;
