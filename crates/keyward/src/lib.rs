//! The `keyward` binary's library half: what `serve`, `gateway`, `init` and `root-key create` do, and
//! where a new root key is handed to a person. `main` only parses the command line and calls
//! these; the end-to-end tests start in-process servers through the same [`serve`].
//!
//! The server crate stays free of the client side: the client commands (`keys`, `verify`,
//! `audit`, `scan`) come from `keyward-cli`, which only this crate links.

pub mod backup;
pub mod commands;
pub mod config;
pub mod database;
pub mod gateway;
pub mod logging;
pub mod migrate_db;
pub mod recovery;
pub mod secret_file;
pub mod startup;

pub use commands::{create_workspace, init, serve, InitConfig, Listen, ServeConfig, TlsFiles};
