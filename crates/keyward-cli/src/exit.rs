//! The process's exit status (see the crate documentation), and errors reported on the way
//! out.

use std::process::ExitCode;

use crate::output;

/// Exit status when `verify` got an answer and the key is not valid, or `audit verify` found
/// the chain broken.
pub(crate) const EXIT_NOT_VALID: u8 = 1;
/// Exit status for every error.
pub(crate) const EXIT_ERROR: u8 = 2;

/// Reports `err` as one line on stderr and returns the error exit status.
pub(crate) fn fail(err: &anyhow::Error) -> ExitCode {
    output::error_line(&format!("{err:#}"));
    ExitCode::from(EXIT_ERROR)
}
