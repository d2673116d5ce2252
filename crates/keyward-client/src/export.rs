//! A streamed body too large to hold in memory: the NDJSON audit export, read piece by piece.

use crate::error::{root_cause, Error};
use std::time::Duration;

/// The audit export being received (see [`crate::Client::export_audit`]): one JSON event a
/// line, newest first.
pub struct AuditExport {
    pub(crate) response: reqwest::Response,
    /// The server's URL, without credentials, for messages.
    pub(crate) url: String,
    /// The longest wait for the next piece.
    pub(crate) stall_after: Duration,
}

impl AuditExport {
    /// The next piece of the body, `None` at its end. A body cut off by the server or the
    /// network is an error, so a partial export never looks complete.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        match tokio::time::timeout(self.stall_after, self.response.chunk()).await {
            Err(_) => Err(Error::Stalled {
                url: self.url.clone(),
                after: self.stall_after,
            }),
            Ok(Err(err)) => Err(Error::CutOff {
                url: self.url.clone(),
                cause: root_cause(&err),
            }),
            Ok(Ok(chunk)) => Ok(chunk.map(|bytes| bytes.to_vec())),
        }
    }
}

impl std::fmt::Debug for AuditExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditExport")
            .field("url", &self.url)
            .field("status", &self.response.status())
            .finish_non_exhaustive()
    }
}
