//! The open client connections: how many each client address holds, which are idle and
//! since when, and shedding the one idle longest when a newcomer finds no room.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::futures::Notified;
use tokio::sync::Notify;
use tokio::time::Instant;

/// What the per-address limit counts: an IPv4 address, or an IPv6 /64. A single host is
/// usually given a whole /64, so counting single IPv6 addresses would let one client take
/// every slot. IPv4-mapped IPv6 addresses count as their IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressBucket {
    V4(u32),
    V6(u64),
}

impl AddressBucket {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(u32::from(v4)),
                None => Self::V6(u64::try_from(u128::from(v6) >> 64).unwrap_or(u64::MAX)),
            },
        }
    }
}

/// A connection's state as the connection layer sees it, shared by its socket wrapper, its
/// service and its response bodies.
///
/// Idle means between requests: from the connection's start or the end of a response until
/// the first byte of the next request arrives.
#[derive(Debug)]
pub struct Activity {
    epoch: Instant,
    /// Microseconds after `epoch` since which the connection is idle, or [`BUSY`].
    idle_since: AtomicU64,
    /// Microseconds after `epoch` when the connection got its slot, or [`BUSY`] before.
    started_at: AtomicU64,
    /// Requests handed to the router.
    dispatched: AtomicU64,
    /// Responses written out completely.
    completed: AtomicU64,
    /// A response body ended; the response is complete once what hyper buffered is written.
    ending: AtomicBool,
    registry: Arc<Shared>,
}

const BUSY: u64 = u64::MAX;

impl Activity {
    /// A new connection counts as busy until [`Registration::start`]: one waiting for a slot
    /// is neither idle nor closed to make room (it would be shed for itself, and told to close
    /// before its request is read).
    fn new(registry: Arc<Shared>) -> Self {
        let epoch = registry.epoch;
        Self {
            idle_since: AtomicU64::new(BUSY),
            started_at: AtomicU64::new(BUSY),
            epoch,
            dispatched: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            ending: AtomicBool::new(false),
            registry,
        }
    }

    /// Bytes of a request arrived.
    pub fn bytes_received(&self) {
        if self.idle_since.load(Ordering::Relaxed) != BUSY {
            self.idle_since.store(BUSY, Ordering::Relaxed);
        }
    }

    /// A request head was parsed and goes to the router.
    pub fn request_dispatched(&self) {
        self.idle_since.store(BUSY, Ordering::Relaxed);
        self.dispatched.fetch_add(1, Ordering::AcqRel);
    }

    /// The response body ended (or was dropped): the connection waits for the next request.
    pub fn response_ended(&self) {
        self.ending.store(true, Ordering::Release);
        self.idle_since
            .store(micros_since(self.epoch, Instant::now()), Ordering::Relaxed);
        if self.registry.waiting_for_idle.load(Ordering::Acquire) {
            self.registry.became_idle.notify_waiters();
        }
    }

    /// hyper flushes its buffer to the socket before it flushes the socket, so a flush after
    /// a response ended means every byte of that response was written.
    pub fn flushing(&self) {
        if self.ending.swap(false, Ordering::AcqRel) {
            self.completed.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// No request is being answered: anything hyper writes now is its own answer to a
    /// request it could not parse.
    pub fn between_requests(&self) -> bool {
        self.dispatched.load(Ordering::Acquire) == self.completed.load(Ordering::Acquire)
    }

    /// How long the connection has been idle, `None` while a request is in progress.
    pub fn idle_for(&self, now: Instant) -> Option<Duration> {
        match self.idle_since.load(Ordering::Relaxed) {
            BUSY => None,
            since => Some(Duration::from_micros(
                micros_since(self.epoch, now).saturating_sub(since),
            )),
        }
    }

    /// When a connection holding a slot began, if it is busy now.
    fn busy_since_start(&self) -> Option<u64> {
        match self.started_at.load(Ordering::Relaxed) {
            BUSY => None,
            _ if self.idle_since().is_some() => None,
            started => Some(started),
        }
    }

    fn idle_since(&self) -> Option<u64> {
        match self.idle_since.load(Ordering::Relaxed) {
            BUSY => None,
            since => Some(since),
        }
    }
}

fn micros_since(epoch: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(epoch).as_micros()).unwrap_or(BUSY - 1)
}

/// What connections and the accept loop share.
#[derive(Debug)]
struct Shared {
    epoch: Instant,
    /// Set while the accept loop waits for a connection to become idle, so responses only
    /// pay for a notification when someone listens.
    waiting_for_idle: AtomicBool,
    became_idle: Notify,
    all_closed: Notify,
}

#[derive(Debug)]
struct Entry {
    bucket: AddressBucket,
    activity: Arc<Activity>,
    close: Arc<Notify>,
    /// Asked to close; no longer counted against its address.
    closing: bool,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    entries: HashMap<u64, Entry>,
    per_bucket: HashMap<AddressBucket, usize>,
    closing: usize,
}

impl Open {
    /// Asks the connection `id` to close as soon as it is not answering a request.
    fn shed(&mut self, id: u64) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        if entry.closing {
            return;
        }
        entry.closing = true;
        entry.close.notify_one();
        self.closing += 1;
        let bucket = entry.bucket;
        self.uncount(bucket);
    }

    fn uncount(&mut self, bucket: AddressBucket) {
        if let Some(n) = self.per_bucket.get_mut(&bucket) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_bucket.remove(&bucket);
            }
        }
    }

    /// The connection idle longest, among those of `bucket` if given.
    fn oldest_idle(&self, bucket: Option<AddressBucket>) -> Option<u64> {
        self.entries
            .iter()
            .filter(|(_, e)| !e.closing && bucket.is_none_or(|b| e.bucket == b))
            .filter_map(|(id, e)| e.activity.idle_since().map(|since| (since, *id)))
            .min()
            .map(|(_, id)| id)
    }

    /// The busy connection (holding a slot) open longest.
    fn oldest_busy(&self) -> Option<u64> {
        self.entries
            .iter()
            .filter(|(_, e)| !e.closing)
            .filter_map(|(id, e)| e.activity.busy_since_start().map(|since| (since, *id)))
            .min()
            .map(|(_, id)| id)
    }
}

/// The registry of open connections.
#[derive(Debug)]
pub struct Connections {
    per_address: usize,
    shared: Arc<Shared>,
    open: Mutex<Open>,
}

impl Connections {
    pub fn new(per_address: usize) -> Arc<Self> {
        Arc::new(Self {
            per_address: per_address.max(1),
            shared: Arc::new(Shared {
                epoch: Instant::now(),
                waiting_for_idle: AtomicBool::new(false),
                became_idle: Notify::new(),
                all_closed: Notify::new(),
            }),
            open: Mutex::new(Open::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // Nothing panics while holding the lock; a poisoned map is still consistent.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new connection from `bucket`. When the address already holds its share,
    /// its connection idle longest is asked to close to make room; when none of them is
    /// idle, the newcomer is refused (`None`).
    pub fn admit(self: &Arc<Self>, bucket: AddressBucket) -> Option<Registration> {
        let mut open = self.lock();
        if open.per_bucket.get(&bucket).copied().unwrap_or(0) >= self.per_address {
            let oldest = open.oldest_idle(Some(bucket))?;
            open.shed(oldest);
        }
        let id = open.next_id;
        open.next_id += 1;
        let activity = Arc::new(Activity::new(Arc::clone(&self.shared)));
        let close = Arc::new(Notify::new());
        open.entries.insert(
            id,
            Entry {
                bucket,
                activity: Arc::clone(&activity),
                close: Arc::clone(&close),
                closing: false,
            },
        );
        *open.per_bucket.entry(bucket).or_insert(0) += 1;
        Some(Registration {
            id,
            connections: Arc::clone(self),
            activity,
            close,
        })
    }

    /// Makes room for a newcomer when every slot is taken: asks the connection idle longest
    /// to close, unless an idle one was asked already (it closes at once). One asked while a
    /// request of its own began finishes that first, so another idle one is asked then.
    /// With none idle and none on its way out, the busy connection open longest is asked to
    /// close after its response, so that clients sending one slow request after another on
    /// every slot cannot keep a newcomer out: it waits for one request, not for ever.
    /// Returns whether a connection is on its way out, so that waiting for a slot is worth it.
    pub fn make_room(&self) -> bool {
        let mut open = self.lock();
        let idle_one_closing = open
            .entries
            .values()
            .any(|e| e.closing && e.activity.idle_since().is_some());
        if idle_one_closing {
            return true;
        }
        if let Some(id) = open.oldest_idle(None) {
            open.shed(id);
            return true;
        }
        if open.closing > 0 {
            return true;
        }
        match open.oldest_busy() {
            Some(id) => {
                open.shed(id);
                true
            }
            None => false,
        }
    }

    /// Resolves when some connection becomes idle (try [`Self::make_room`] again then).
    /// `enable` it before calling `make_room`, so an idle turn in between is not missed;
    /// call [`Self::stop_waiting_for_idle`] when done waiting.
    pub fn idle_notified(&self) -> Notified<'_> {
        self.shared.waiting_for_idle.store(true, Ordering::Release);
        self.shared.became_idle.notified()
    }

    pub fn stop_waiting_for_idle(&self) {
        self.shared.waiting_for_idle.store(false, Ordering::Release);
    }

    /// Asks every connection to close once its request in flight is answered.
    pub fn close_all(&self) {
        let mut open = self.lock();
        let ids: Vec<u64> = open.entries.keys().copied().collect();
        for id in ids {
            open.shed(id);
        }
    }

    /// Resolves when no connection is open.
    pub async fn all_closed(&self) {
        loop {
            let notified = self.shared.all_closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().entries.is_empty() {
                return;
            }
            notified.await;
        }
    }
}

/// One admitted connection; dropping it (when the connection ends) frees its place.
#[derive(Debug)]
pub struct Registration {
    id: u64,
    connections: Arc<Connections>,
    pub activity: Arc<Activity>,
    /// Notified when the connection should close after its request in flight.
    pub close: Arc<Notify>,
}

impl Registration {
    /// The connection holds a slot and is served from now on: idle until its first request.
    pub fn start(&self) {
        let activity = &self.activity;
        let now = micros_since(activity.epoch, Instant::now());
        activity.started_at.store(now, Ordering::Relaxed);
        activity.idle_since.store(now, Ordering::Relaxed);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.connections.lock();
        if let Some(entry) = open.entries.remove(&self.id) {
            if entry.closing {
                open.closing = open.closing.saturating_sub(1);
            } else {
                open.uncount(entry.bucket);
            }
        }
        if open.entries.is_empty() {
            self.connections.shared.all_closed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Admitted and holding a slot.
    fn started(connections: &Arc<Connections>, bucket: AddressBucket) -> Registration {
        let registration = connections.admit(bucket).unwrap();
        registration.start();
        registration
    }

    /// Whether the connection was told to close (consumes the notification).
    async fn told_to_close(registration: &Registration) -> bool {
        tokio::time::timeout(Duration::ZERO, registration.close.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_connection_waiting_for_a_slot_is_never_shed_and_takes_the_first_one_to_go_idle() {
        let connections = Connections::new(100);
        let here = AddressBucket::of(Ipv4Addr::LOCALHOST.into());
        let holders: Vec<Registration> = (0..3).map(|_| started(&connections, here)).collect();
        for holder in &holders {
            holder.activity.request_dispatched();
        }
        // Every slot busy; a newcomer is admitted and waits for a slot.
        let newcomer = connections.admit(here).unwrap();
        // None idle: the busy one open longest is asked to close after its response, never
        // the newcomer, and only one at a time.
        assert!(connections.make_room());
        assert!(connections.make_room());
        assert!(told_to_close(&holders[0]).await);
        assert!(!told_to_close(&newcomer).await);
        assert!(!told_to_close(&holders[2]).await);
        // A holder finishes its request and goes idle: it makes room at once rather than the
        // newcomer waiting for the first one's request.
        holders[1].activity.response_ended();
        assert!(connections.make_room());
        assert!(told_to_close(&holders[1]).await);
        assert!(!told_to_close(&newcomer).await);
        assert!(!told_to_close(&holders[2]).await);
        // Its own address at the cap does not shed the waiting newcomer either.
        let capped = Connections::new(1);
        let waiting = capped.admit(here).unwrap();
        assert!(capped.admit(here).is_none());
        assert!(!told_to_close(&waiting).await);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_bit_prefix_and_mapped_ipv4_as_ipv4() {
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(AddressBucket::of(a.into()), AddressBucket::of(b.into()));
        assert_ne!(AddressBucket::of(a.into()), AddressBucket::of(c.into()));
        let v4 = Ipv4Addr::new(192, 0, 2, 7);
        assert_eq!(
            AddressBucket::of(v4.to_ipv6_mapped().into()),
            AddressBucket::of(v4.into())
        );
        assert_ne!(
            AddressBucket::of(Ipv4Addr::new(192, 0, 2, 8).into()),
            AddressBucket::of(v4.into())
        );
    }

    #[tokio::test]
    async fn a_full_address_sheds_its_own_idle_connection_and_refuses_when_all_are_busy() {
        let connections = Connections::new(2);
        let here = AddressBucket::of(Ipv4Addr::LOCALHOST.into());
        let elsewhere = AddressBucket::of(Ipv4Addr::new(192, 0, 2, 1).into());
        let first = started(&connections, here);
        let second = started(&connections, here);
        let _other = started(&connections, elsewhere);
        first.activity.request_dispatched();
        // The address is full; its only idle connection makes room.
        let third = started(&connections, here);
        assert!(
            tokio::time::timeout(Duration::ZERO, second.close.notified())
                .await
                .is_ok()
        );
        third.activity.request_dispatched();
        // Both of its counted connections are busy now: refused.
        assert!(connections.admit(here).is_none());
        // Another address is not affected.
        assert!(connections.admit(elsewhere).is_some());
        drop(second);
        assert!(
            connections.admit(here).is_none(),
            "the shed one no longer counted"
        );
    }

    #[tokio::test]
    async fn with_none_idle_the_busy_connection_open_longest_is_closed_after_its_response() {
        let connections = Connections::new(100);
        let here = AddressBucket::of(Ipv4Addr::LOCALHOST.into());
        let mut holders = Vec::new();
        for _ in 0..3 {
            let holder = started(&connections, here);
            holder.activity.request_dispatched();
            holders.push(holder);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let _newcomer = connections.admit(here).unwrap();
        assert!(connections.make_room());
        assert!(told_to_close(&holders[0]).await);
        // One at a time: it is on its way out.
        assert!(connections.make_room());
        assert!(!told_to_close(&holders[1]).await);
        // It closed, but another client took its slot first: the next oldest goes.
        drop(holders.remove(0));
        assert!(connections.make_room());
        assert!(told_to_close(&holders[0]).await);
        assert!(!told_to_close(&holders[1]).await);
    }

    #[tokio::test]
    async fn make_room_picks_the_connection_idle_longest_and_none_that_is_busy() {
        let connections = Connections::new(100);
        let here = AddressBucket::of(Ipv4Addr::LOCALHOST.into());
        let busy = started(&connections, here);
        busy.activity.request_dispatched();
        let older = started(&connections, here);
        tokio::time::sleep(Duration::from_millis(2)).await;
        let newer = started(&connections, here);
        assert!(connections.make_room());
        assert!(tokio::time::timeout(Duration::ZERO, older.close.notified())
            .await
            .is_ok());
        // An idle one is on its way out: nothing more is shed for the same newcomer.
        assert!(connections.make_room());
        assert!(tokio::time::timeout(Duration::ZERO, newer.close.notified())
            .await
            .is_err());
        // The one asked began a request meanwhile: it finishes it, and the next idle one
        // makes room instead of the newcomer waiting behind that request.
        older.activity.bytes_received();
        assert!(connections.make_room());
        assert!(tokio::time::timeout(Duration::ZERO, newer.close.notified())
            .await
            .is_ok());
        assert!(tokio::time::timeout(Duration::ZERO, busy.close.notified())
            .await
            .is_err());
    }
}
