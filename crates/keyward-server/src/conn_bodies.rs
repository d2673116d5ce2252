//! The bodies of a served connection: a request body must arrive whole by a deadline, and
//! the end of a response body marks the connection idle.

use crate::connections::Activity;
use axum::body::Body;
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::time::{Instant, Sleep};

/// Set when a request's body missed its deadline; the request-time middleware answers `408`
/// then, whatever the handler made of the failed read.
#[derive(Debug, Clone, Default)]
pub struct BodyDeadline(Arc<AtomicBool>);

impl BodyDeadline {
    pub fn missed(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The body did not arrive in time.
#[derive(Debug)]
pub struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

/// A request body that fails once `deadline` passes before its end, so a declared but
/// unsent body cannot hold a connection for the whole request timeout.
pub struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    /// Made on the first wait only: most bodies arrive with their head.
    timer: Option<Pin<Box<Sleep>>>,
    flag: BodyDeadline,
}

impl DeadlineBody {
    pub fn new(inner: Incoming, deadline: Instant, flag: BodyDeadline) -> Self {
        Self {
            inner,
            deadline,
            timer: None,
            flag,
        }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.flag.0.store(true, Ordering::Release);
                Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that marks its connection idle when it ends or is dropped.
pub struct TrackedBody {
    inner: Body,
    activity: Arc<Activity>,
}

impl TrackedBody {
    pub fn new(inner: Body, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.activity.response_ended();
    }
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
