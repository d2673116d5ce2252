//! keyward's command-line client: the `keys`, `import`, `verify` and `audit` commands, spoken to a
//! running keyward server through `keyward-client`, and `scan`.
//!
//! The `keyward` binary flattens [`ClientArgs`] into its command line and hands the parsed
//! subcommand to [`run_keys`], [`run_verify`] or [`run_audit`]. Each prints to stdout (a table
//! or key/value listing for people, the server's JSON with `--json`, NDJSON for
//! `audit export`), reports failures as one line on stderr, and returns the process's exit
//! status:
//!
//! - `0`: done (for `verify`: the key is valid; for `audit verify`: the chain is intact);
//! - `1`: the server answered no: `verify`, the key is not valid; `audit verify`, the audit
//!   chain is broken;
//! - `2`: any error: server unreachable, no or refused root key, request rejected.
//!
//! **Invariant:** the root key is sent only in the `Authorization` header and is never
//! printed, logged or shown by `Debug`.

mod advice;
mod args;
mod audit;
mod connect;
mod exit;
mod import;
mod import_rows;
mod keys;
mod output;
mod parse;
mod sarif;
mod scan;
mod verify;

pub use advice::{run_advice, AdviceArgs, AdviceCommand};
pub use args::ClientArgs;
pub use audit::{run_audit, AuditArgs, AuditCommand, AuditFilters};
pub use import::{run_import, ImportArgs};
pub use import_rows::{DigestEncoding, Format as ImportFormat};
pub use keys::{run_keys, KeysCommand};
pub use scan::{run_scan, ScanArgs};
pub use verify::{run_verify, VerifyArgs};
