//! keyward's command-line client: the `keys`, `verify` and `audit` commands, spoken to a
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

mod audit;
mod connect;
mod keys;
mod output;
mod parse;
mod scan;
mod verify;

use std::fmt;
use std::process::ExitCode;

pub use audit::{run_audit, AuditArgs, AuditCommand, AuditFilters};
pub use keys::{run_keys, KeysCommand};
pub use scan::{run_scan, ScanArgs};
pub use verify::{run_verify, VerifyArgs};

/// Exit status when `verify` got an answer and the key is not valid, or `audit verify` found
/// the chain broken.
const EXIT_NOT_VALID: u8 = 1;
/// Exit status for every error.
const EXIT_ERROR: u8 = 2;

/// Global client options, flattened into the binary's clap command.
#[derive(clap::Args, Clone)]
pub struct ClientArgs {
    /// Server URL
    #[arg(
        long,
        env = "KEYWARD_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// Root key (prefer the environment variable, so it stays out of shell history)
    #[arg(long, env = "KEYWARD_ROOT_KEY", hide_env_values = true, global = true)]
    pub root_key: Option<String>,
    /// Machine-readable JSON output
    #[arg(long, global = true)]
    pub json: bool,
}

/// Written by hand so that `{:?}` never shows the root key.
impl fmt::Debug for ClientArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientArgs")
            .field("url", &self.url)
            .field("root_key", &self.root_key.as_ref().map(|_| "[redacted]"))
            .field("json", &self.json)
            .finish()
    }
}

/// Reports `err` as one line on stderr and returns the error exit status.
fn fail(err: &anyhow::Error) -> ExitCode {
    output::error_line(&format!("{err:#}"));
    ExitCode::from(EXIT_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_root_key() {
        let args = ClientArgs {
            url: "http://127.0.0.1:8080".into(),
            root_key: Some("kwroot_supersecret".into()),
            json: false,
        };
        let shown = format!("{args:?} {args:#?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
