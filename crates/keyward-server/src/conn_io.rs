//! The socket as hyper sees it: it tells the connection's [`Activity`] when request bytes
//! arrive and when a response was written out, and it replaces hyper's own answer to a
//! request it cannot parse (a bodiless `400`, `414` or `431`) with keyward's JSON error and
//! security headers.

use crate::connections::Activity;
use crate::error::ApiError;
use crate::headers::SECURITY_HEADERS;
use crate::tls::Stream;
use axum::http::StatusCode;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct ConnIo {
    inner: Stream,
    activity: Arc<Activity>,
    /// keyward's answer in place of hyper's, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl ConnIo {
    pub fn new(inner: Stream, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            activity,
            replacement: None,
        }
    }

    /// Writes `len` bytes of hyper's, or in their place keyward's answer when hyper writes
    /// while no request is being answered: that can only be its answer to an unparsable
    /// request (it writes nothing else on its own). The connection closes after it.
    fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        first: &[u8],
        len: usize,
        write: impl FnOnce(Pin<&mut Stream>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if self.replacement.is_none() && self.activity.between_requests() {
            self.replacement = Some((replacement_for(first), 0));
        }
        let Some((bytes, written)) = &mut self.replacement else {
            return write(Pin::new(&mut self.inner), cx);
        };
        while *written < bytes.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        // hyper's bytes count as written: they were answered by ours.
        Poll::Ready(Ok(len))
    }
}

/// keyward's answer for the status line hyper was about to send.
fn replacement_for(hyper_head: &[u8]) -> Vec<u8> {
    // "HTTP/1.1 400 Bad Request\r\n…"
    let status = hyper_head
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok());
    let error = match status {
        Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE) => ApiError::HeadersTooLarge,
        Some(StatusCode::URI_TOO_LONG) => ApiError::UriTooLong,
        _ => ApiError::BadRequest("the request line or a header is not valid HTTP/1.1".into()),
    };
    raw_response(&error)
}

/// A whole HTTP/1.1 response for `error`, with the headers every keyward answer carries,
/// closing the connection.
pub fn raw_response(error: &ApiError) -> Vec<u8> {
    let (status, body) = error.status_and_body();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    for (name, value) in SECURITY_HEADERS {
        out.push_str(name.as_str());
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    out
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = ready!(Pin::new(&mut this.inner).poll_read(cx, buf));
        if buf.filled().len() > before {
            this.activity.bytes_received();
        }
        Poll::Ready(result)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_with(cx, buf, buf.len(), |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        let len = bufs.iter().map(|b| b.len()).sum();
        self.get_mut()
            .poll_write_with(cx, first, len, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.activity.flushing();
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
