//! Group commit for verification events. A verification answers only after its event is
//! durable; committing each one alone would cost an fsync per request. Instead every
//! verification hands its event to one writer task and waits; while the writer commits one
//! batch, the next accumulates, and is then written in a single transaction. Under load the
//! batch grows and the fsync cost per verification shrinks.
//!
//! A store that groups concurrent appends itself (SQLite with its audit journal, whose writer
//! thread is a group commit) is called directly: a second layer of batching would only add
//! a hand-off per batch.

use keyward_core::{NewEvent, Store};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most events written in one transaction.
const MAX_BATCH: usize = 4096;
/// Verifications that may wait for the writer before new ones wait for room.
const QUEUE: usize = 65_536;

struct Pending {
    event: NewEvent,
    done: oneshot::Sender<Result<(), String>>,
}

/// Why an event could not be recorded (the detail is for the log, never the client).
#[derive(Debug)]
pub struct NotRecorded(pub String);

#[derive(Clone)]
pub struct AuditSink(Route);

/// Where events go; private, so only [`AuditSink::start`] chooses.
#[derive(Clone)]
enum Route {
    /// The store groups appends itself.
    Direct(Arc<dyn Store>),
    /// Batched here, by the writer task.
    Queue(mpsc::Sender<Pending>),
}

impl AuditSink {
    /// Starts the writer task unless the store groups appends itself; the task ends when
    /// every `AuditSink` clone has been dropped and the queue is drained.
    pub fn start(store: Arc<dyn Store>) -> Self {
        if store.groups_appends() {
            return Self(Route::Direct(store));
        }
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, pending));
        Self(Route::Queue(queue))
    }

    /// Returns once `event` is durable.
    pub async fn record(&self, event: NewEvent) -> Result<(), NotRecorded> {
        let queue = match &self.0 {
            Route::Direct(store) => {
                return store
                    .append_events(vec![event])
                    .await
                    .map_err(|e| NotRecorded(e.to_string()));
            }
            Route::Queue(queue) => queue,
        };
        let (done, committed) = oneshot::channel();
        queue
            .send(Pending { event, done })
            .await
            .map_err(|_| NotRecorded("the audit writer has stopped".into()))?;
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(NotRecorded(e)),
            Err(_) => Err(NotRecorded("the audit writer stopped mid-batch".into())),
        }
    }
}

async fn write_batches(store: Arc<dyn Store>, mut pending: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (events, waiters): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|p| (p.event, p.done)).unzip();
        let size = events.len();
        let started = std::time::Instant::now();
        let result = store.append_events(events).await.map_err(|e| e.to_string());
        tracing::debug!(
            size,
            micros = started.elapsed().as_micros() as u64,
            "audit batch"
        );
        if let Err(e) = &result {
            tracing::error!(error = %e, size, "writing audit events failed; the verifications are refused");
        }
        for waiter in waiters {
            // A waiter that has gone (client disconnected) needs no answer.
            let _ = waiter.send(result.clone());
        }
    }
}
