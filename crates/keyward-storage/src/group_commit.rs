//! Group commit, once: callers [`submit`](GroupCommit::submit) a request and wait; one
//! committer takes every request waiting (up to a maximum), commits them as one batch and
//! answers each. While it commits, the next batch gathers, so under load a batch grows and the
//! cost of a commit (an `fsync`, a transaction) is shared by more callers.
//!
//! The committer runs on a thread of its own ([`GroupCommit::on_thread`], for a commit that
//! blocks, such as the audit journal's durable write) or as a Tokio task
//! ([`GroupCommit::on_task`], for a commit that awaits a database). A task commits each batch
//! in a task of its own, awaited: one batch at a time, and should one panic, its callers'
//! answers drop (each gets [`Stopped::MidBatch`]) while later batches are served.
//!
//! A caller that has gone (its future dropped) before its batch is committed can be left out
//! with [`Batch::drop_abandoned`], so that it spends nothing, as if its own transaction had
//! been dropped before the commit.

use crate::metrics::CommitStats;
use async_trait::async_trait;
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stopped {
    /// The committer had stopped before the request was queued.
    #[error("the committer has stopped")]
    Before,
    /// The committer stopped (or its batch failed to run) after taking the request.
    #[error("the committer stopped mid-batch")]
    MidBatch,
}

struct Pending<Req, Resp> {
    request: Req,
    answer: oneshot::Sender<Resp>,
}

enum Message<Req, Resp> {
    Request(Pending<Req, Resp>),
    /// Commit what came before, drop the committer and stop.
    Stop(oneshot::Sender<()>),
}

enum Queue<Req, Resp> {
    Thread(std_mpsc::Sender<Message<Req, Resp>>),
    Task(mpsc::UnboundedSender<Message<Req, Resp>>),
}

impl<Req, Resp> Clone for Queue<Req, Resp> {
    fn clone(&self) -> Self {
        match self {
            Self::Thread(queue) => Self::Thread(queue.clone()),
            Self::Task(queue) => Self::Task(queue.clone()),
        }
    }
}

/// The handle callers submit through. Cloning it shares the committer, which stops when every
/// handle is gone (after committing what is queued) or on [`GroupCommit::stop`].
pub struct GroupCommit<Req, Resp> {
    queue: Queue<Req, Resp>,
    stats: Arc<CommitStats>,
}

impl<Req, Resp> Clone for GroupCommit<Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            stats: self.stats.clone(),
        }
    }
}

impl<Req, Resp> std::fmt::Debug for GroupCommit<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

/// The requests of one batch, each with the caller waiting for its answer.
pub struct Batch<Req, Resp>(Vec<Pending<Req, Resp>>);

impl<Req, Resp> Batch<Req, Resp> {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Leaves out the requests whose caller has gone (client disconnected, request timed out).
    pub fn drop_abandoned(&mut self) {
        self.0.retain(|p| !p.answer.is_closed());
    }

    pub fn requests(&self) -> impl Iterator<Item = &Req> {
        self.0.iter().map(|p| &p.request)
    }

    /// The requests, and the answers owed to their callers in the same order.
    pub fn into_parts(self) -> (Vec<Req>, Answers<Resp>) {
        let (requests, answers) = self.0.into_iter().map(|p| (p.request, p.answer)).unzip();
        (requests, Answers(answers))
    }
}

/// The answers owed to a batch's callers. A caller that has gone needs no answer.
pub struct Answers<Resp>(Vec<oneshot::Sender<Resp>>);

impl<Resp> Answers<Resp> {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Answers each caller with its own response, in order.
    pub fn each(self, responses: impl IntoIterator<Item = Resp>) {
        for (answer, response) in self.0.into_iter().zip(responses) {
            let _ = answer.send(response);
        }
    }

    /// Answers every caller with a response made for it.
    pub fn all_with(self, mut response: impl FnMut() -> Resp) {
        for answer in self.0 {
            let _ = answer.send(response());
        }
    }

    /// Answers every caller with the same response.
    pub fn all(self, response: Resp)
    where
        Resp: Clone,
    {
        self.all_with(|| response.clone());
    }
}

/// A committer that blocks, run on a thread of its own.
pub trait CommitOnThread<Req, Resp>: Send + 'static {
    /// Commits `batch` and answers its callers.
    fn commit(&mut self, batch: Batch<Req, Resp>);
}

/// A committer that awaits, run as a Tokio task.
#[async_trait]
pub trait Commit<Req, Resp>: Send + Sync + 'static {
    /// Commits `batch` and answers its callers.
    async fn commit(&self, batch: Batch<Req, Resp>);
}

impl<Req: Send + 'static, Resp: Send + 'static> GroupCommit<Req, Resp> {
    /// Runs `committer` on a new thread named `name`, at most `max_batch` requests a batch.
    pub fn on_thread<C: CommitOnThread<Req, Resp>>(
        name: &str,
        max_batch: usize,
        committer: C,
    ) -> std::io::Result<Self> {
        let (queue, messages) = std_mpsc::channel();
        let stats = Arc::new(CommitStats::default());
        let recorded = stats.clone();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || run_thread(messages, max_batch.max(1), committer, &recorded))?;
        Ok(Self {
            queue: Queue::Thread(queue),
            stats,
        })
    }

    /// Runs `committer` as a task on the current Tokio runtime (needs one), at most
    /// `max_batch` requests a batch. Once that runtime is gone, submits fail with
    /// [`Stopped`], so use the handle on its own runtime.
    pub fn on_task<C: Commit<Req, Resp>>(max_batch: usize, committer: C) -> Self {
        let (queue, messages) = mpsc::unbounded_channel();
        let stats = Arc::new(CommitStats::default());
        tokio::spawn(run_task(
            messages,
            max_batch.max(1),
            Arc::new(committer),
            stats.clone(),
        ));
        Self {
            queue: Queue::Task(queue),
            stats,
        }
    }

    /// Each batch's commit time and size, for metrics.
    pub fn stats(&self) -> &Arc<CommitStats> {
        &self.stats
    }

    /// Queues `request` at once and returns the wait for its answer; dropping the wait
    /// abandons the request (see [`Batch::drop_abandoned`]).
    pub fn enqueue(&self, request: Req) -> Result<Waiting<Resp>, Stopped> {
        let (answer, waiting) = oneshot::channel();
        self.send(Message::Request(Pending { request, answer }))?;
        Ok(Waiting(waiting))
    }

    /// Queues `request` and waits until its batch is committed.
    pub async fn submit(&self, request: Req) -> Result<Resp, Stopped> {
        self.enqueue(request)?.await
    }

    /// Commits every request queued before this call, then drops the committer and stops;
    /// requests after it fail. Returns once the committer is dropped (at once if it is gone).
    pub async fn stop(&self) {
        let (done, stopped) = oneshot::channel();
        if self.send(Message::Stop(done)).is_ok() {
            // An error means the committer is already gone, which is what was asked.
            let _ = stopped.await;
        }
    }

    fn send(&self, message: Message<Req, Resp>) -> Result<(), Stopped> {
        match &self.queue {
            Queue::Thread(queue) => queue.send(message).map_err(|_| Stopped::Before),
            Queue::Task(queue) => queue.send(message).map_err(|_| Stopped::Before),
        }
    }
}

/// A queued request's answer, to await.
pub struct Waiting<Resp>(oneshot::Receiver<Resp>);

impl<Resp> std::future::Future for Waiting<Resp> {
    type Output = Result<Resp, Stopped>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|answer| answer.map_err(|_| Stopped::MidBatch))
    }
}

/// Splits the messages taken at once into the batch before a stop, and the stop.
fn gather<Req, Resp>(
    messages: impl Iterator<Item = Message<Req, Resp>>,
) -> (Batch<Req, Resp>, Option<oneshot::Sender<()>>) {
    let mut batch = Vec::new();
    for message in messages {
        match message {
            Message::Request(pending) => batch.push(pending),
            Message::Stop(done) => return (Batch(batch), Some(done)),
        }
    }
    (Batch(batch), None)
}

/// Blocks for the first waiting request, takes every other one already queued, commits them
/// and repeats; ends when every handle is gone or on a stop.
fn run_thread<Req, Resp, C: CommitOnThread<Req, Resp>>(
    messages: std_mpsc::Receiver<Message<Req, Resp>>,
    max_batch: usize,
    mut committer: C,
    stats: &CommitStats,
) {
    while let Ok(first) = messages.recv() {
        let (batch, stop) =
            gather(std::iter::once(first).chain(messages.try_iter().take(max_batch - 1)));
        if !batch.is_empty() {
            let (size, started) = (batch.len(), Instant::now());
            committer.commit(batch);
            stats.committed(size, started.elapsed());
        }
        if let Some(done) = stop {
            // Requests after the stop, and any sent from now on, fail.
            drop(messages);
            drop(committer);
            let _ = done.send(());
            return;
        }
    }
}

async fn run_task<Req: Send + 'static, Resp: Send + 'static, C: Commit<Req, Resp>>(
    mut messages: mpsc::UnboundedReceiver<Message<Req, Resp>>,
    max_batch: usize,
    committer: Arc<C>,
    stats: Arc<CommitStats>,
) {
    let mut taken = Vec::with_capacity(max_batch);
    while messages.recv_many(&mut taken, max_batch).await > 0 {
        let (batch, stop) = gather(taken.drain(..));
        if !batch.is_empty() {
            let (size, started) = (batch.len(), Instant::now());
            let committer = committer.clone();
            let _ = tokio::spawn(async move { committer.commit(batch).await }).await;
            stats.committed(size, started.elapsed());
        }
        if let Some(done) = stop {
            // Requests after the stop, and any sent from now on, fail.
            drop(messages);
            drop(committer);
            let _ = done.send(());
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records each batch's requests and answers each with its request doubled.
    #[derive(Clone, Default)]
    struct Doubler(Arc<Mutex<Vec<Vec<u32>>>>);

    impl CommitOnThread<u32, u32> for Doubler {
        fn commit(&mut self, batch: Batch<u32, u32>) {
            let (requests, answers) = batch.into_parts();
            self.0.lock().unwrap().push(requests.clone());
            answers.each(requests.into_iter().map(|r| r * 2));
        }
    }

    #[async_trait]
    impl Commit<u32, u32> for Doubler {
        async fn commit(&self, mut batch: Batch<u32, u32>) {
            batch.drop_abandoned();
            if batch.is_empty() {
                return;
            }
            let (requests, answers) = batch.into_parts();
            self.0.lock().unwrap().push(requests.clone());
            answers.each(requests.into_iter().map(|r| r * 2));
        }
    }

    #[tokio::test]
    async fn a_task_commits_waiting_requests_together_and_answers_each() {
        let doubler = Doubler::default();
        let commit = GroupCommit::on_task(8, doubler.clone());
        let waits: Vec<_> = (1..=5).map(|r| commit.enqueue(r).unwrap()).collect();
        let mut answers = Vec::new();
        for wait in waits {
            answers.push(wait.await.unwrap());
        }
        assert_eq!(answers, [2, 4, 6, 8, 10]);
        assert_eq!(*doubler.0.lock().unwrap(), [vec![1, 2, 3, 4, 5]]);
    }

    #[tokio::test]
    async fn a_batch_holds_at_most_its_maximum() {
        let doubler = Doubler::default();
        let commit = GroupCommit::on_task(2, doubler.clone());
        let waits: Vec<_> = (1..=5).map(|r| commit.enqueue(r).unwrap()).collect();
        for wait in waits {
            wait.await.unwrap();
        }
        assert_eq!(
            *doubler.0.lock().unwrap(),
            [vec![1, 2], vec![3, 4], vec![5]]
        );
    }

    #[tokio::test]
    async fn a_request_whose_caller_has_gone_is_left_out() {
        let doubler = Doubler::default();
        let commit = GroupCommit::on_task(8, doubler.clone());
        drop(commit.enqueue(1).unwrap());
        assert_eq!(commit.submit(2).await, Ok(4));
        assert_eq!(*doubler.0.lock().unwrap(), [vec![2]]);
    }

    #[tokio::test]
    async fn a_thread_commits_and_stops_on_request() {
        let doubler = Doubler::default();
        let commit = GroupCommit::on_thread("group-commit-test", 8, doubler.clone()).unwrap();
        assert_eq!(commit.submit(21).await, Ok(42));
        let queued = commit.enqueue(5).unwrap();
        commit.stop().await;
        assert_eq!(queued.await, Ok(10), "committed before the stop");
        assert_eq!(commit.submit(1).await, Err(Stopped::Before));
    }

    #[tokio::test]
    async fn a_stopped_task_refuses_requests() {
        let commit = GroupCommit::on_task(8, Doubler::default());
        commit.stop().await;
        assert_eq!(commit.submit(1).await, Err(Stopped::Before));
    }
}
