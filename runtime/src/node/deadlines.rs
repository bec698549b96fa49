//! Timeouts for calls, cheaper than one tokio timer per call.
//!
//! A call that waits registers its deadline and waker in a table and removes it when the
//! reply comes. One sweeper task per node sleeps until the earliest deadline, wakes the
//! waiters whose time has passed, and goes back to sleep; with no call waiting it sleeps
//! until the next registration, so an idle node costs nothing.
//!
//! A tokio `timeout` costs several hundred nanoseconds per call here (timer wheel insertion
//! and removal). This costs two short locks on the calling thread's shard (each thread
//! takes one of 16 in turn, so with the runtime's few worker threads they are uncontended
//! and stay in that core's cache) and a slot taken from, then given back to, that shard's
//! free list: no allocation and no hashing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

const SHARDS: usize = 16;
/// `next_wake` when the sweeper is not sleeping towards a deadline: every registration
/// then notifies it.
const UNSET: u64 = u64::MAX;
/// A shard this large and empty gives its memory back at the next sweep.
const MAX_IDLE_SLOTS: usize = 1024;

thread_local! {
    /// This thread's shard, from its id: a thread keeps using one shard, and no state is
    /// shared between the nodes of a process to hand them out.
    static THREAD_SHARD: usize = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::thread::current().id().hash(&mut h);
        (h.finish() as usize) % SHARDS
    };
}

pub(crate) struct Deadlines {
    shards: [Mutex<Shard>; SHARDS],
    /// When the sweeper will next look, in nanoseconds since `epoch`.
    next_wake: AtomicU64,
    wake_sweeper: Notify,
    closed: AtomicBool,
    epoch: Instant,
}

/// One shard's waiting calls, in slots reused through a free list.
#[derive(Default)]
struct Shard {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Numbers registrations, so a removal finds its own entry and not a later one that
    /// reuses the slot after the sweeper emptied it.
    next_gen: u64,
}

struct Slot {
    generation: u64,
    /// `None` once removed or expired.
    entry: Option<Entry>,
}

struct Entry {
    deadline: Instant,
    waker: Waker,
}

/// Where a registration lives.
#[derive(Debug, Clone, Copy)]
struct Key {
    shard: usize,
    index: usize,
    generation: u64,
}

impl Shard {
    /// The live entry `key` registered, if it is still there.
    fn get_mut(&mut self, key: Key) -> Option<&mut Slot> {
        self.slots
            .get_mut(key.index)
            .filter(|slot| slot.generation == key.generation && slot.entry.is_some())
    }
}

/// The deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

impl Deadlines {
    /// Creates the table and spawns its sweeper on `runtime`.
    pub(crate) fn start(runtime: &tokio::runtime::Handle) -> Arc<Self> {
        let deadlines = Arc::new(Self {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            next_wake: AtomicU64::new(UNSET),
            wake_sweeper: Notify::new(),
            closed: AtomicBool::new(false),
            epoch: Instant::now(),
        });
        runtime.spawn(deadlines.clone().sweep_loop());
        deadlines
    }

    /// Stops the sweeper (the node is gone).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake_sweeper.notify_one();
    }

    /// Runs `fut` until it completes or `timeout` passes. A timeout too large to represent
    /// (such as `Duration::MAX`) never passes. (`fut` is `Unpin`, so the timeout holds it
    /// in place: box a future that is not.)
    pub(crate) fn timeout<F: Future + Unpin>(&self, timeout: Duration, fut: F) -> Timeout<'_, F> {
        Timeout {
            deadlines: self,
            deadline: Instant::now().checked_add(timeout),
            key: None,
            fut,
        }
    }

    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(UNSET - 1)
    }

    fn register(&self, deadline: Instant, waker: &Waker) -> Key {
        // A thread being torn down has no shard of its own left: it borrows the first.
        let shard = THREAD_SHARD.try_with(|s| *s).unwrap_or(0);
        let key = {
            let mut sh = self.shards[shard].lock();
            let generation = sh.next_gen;
            sh.next_gen += 1;
            let slot = Slot {
                generation,
                entry: Some(Entry {
                    deadline,
                    waker: waker.clone(),
                }),
            };
            let index = match sh.free.pop() {
                Some(i) => {
                    let i = i as usize;
                    sh.slots[i] = slot;
                    i
                }
                None => {
                    sh.slots.push(slot);
                    sh.slots.len() - 1
                }
            };
            Key {
                shard,
                index,
                generation,
            }
        };
        if self.nanos(deadline) < self.next_wake.load(Ordering::SeqCst) {
            self.wake_sweeper.notify_one();
        }
        key
    }

    /// Refreshes the waker; false if the entry is gone, which means it expired.
    fn refresh(&self, key: Key, waker: &Waker) -> bool {
        let mut sh = self.shards[key.shard].lock();
        match sh.get_mut(key).and_then(|slot| slot.entry.as_mut()) {
            Some(entry) => {
                if !entry.waker.will_wake(waker) {
                    entry.waker = waker.clone();
                }
                true
            }
            None => false,
        }
    }

    fn deregister(&self, key: Key) {
        let removed = {
            let mut sh = self.shards[key.shard].lock();
            let removed = sh.get_mut(key).and_then(|slot| slot.entry.take());
            if removed.is_some() {
                // Slots are counted in u32 (a shard never holds 4 billion waiting calls).
                sh.free.push(key.index as u32);
            }
            removed
        };
        // The waker (a reference to the caller's task) is dropped outside the lock.
        drop(removed);
    }

    /// Wakes and removes every entry whose deadline has passed; returns the earliest
    /// remaining deadline.
    fn sweep(&self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut expired = Vec::new();
        for shard in &self.shards {
            let mut sh = shard.lock();
            let sh = &mut *sh;
            for (i, slot) in sh.slots.iter_mut().enumerate() {
                let Some(e) = &slot.entry else { continue };
                if e.deadline <= now {
                    if let Some(e) = slot.entry.take() {
                        expired.push(e.waker);
                    }
                    sh.free.push(i as u32);
                } else {
                    next = Some(next.map_or(e.deadline, |n| n.min(e.deadline)));
                }
            }
            if sh.slots.len() > MAX_IDLE_SLOTS && sh.free.len() == sh.slots.len() {
                // A burst of calls is over: its slots go back.
                sh.slots = Vec::new();
                sh.free = Vec::new();
            }
        }
        for w in expired {
            w.wake();
        }
        next
    }

    async fn sweep_loop(self: Arc<Self>) {
        while !self.closed.load(Ordering::SeqCst) {
            // While sweeping, every registration notifies, so none is missed.
            self.next_wake.store(UNSET, Ordering::SeqCst);
            let next = self.sweep(Instant::now());
            match next {
                Some(at) => {
                    self.next_wake.store(self.nanos(at), Ordering::SeqCst);
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.wake_sweeper.notified() => {}
                    }
                }
                None => self.wake_sweeper.notified().await,
            }
        }
    }
}

/// See [`Deadlines::timeout`].
pub(crate) struct Timeout<'a, F> {
    deadlines: &'a Deadlines,
    /// `None`: no deadline.
    deadline: Option<Instant>,
    key: Option<Key>,
    fut: F,
}

impl<F: Future + Unpin> Future for Timeout<'_, F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Poll::Ready(v) = Pin::new(&mut this.fut).poll(cx) {
            if let Some(key) = this.key.take() {
                this.deadlines.deregister(key);
            }
            return Poll::Ready(Ok(v));
        }
        let Some(deadline) = this.deadline else {
            return Poll::Pending;
        };
        match this.key {
            None => {
                this.key = Some(this.deadlines.register(deadline, cx.waker()));
                Poll::Pending
            }
            Some(key) if this.deadlines.refresh(key, cx.waker()) => Poll::Pending,
            // The sweeper removed the entry: the deadline has passed.
            Some(_) => {
                this.key = None;
                Poll::Ready(Err(Elapsed))
            }
        }
    }
}

impl<F> Drop for Timeout<'_, F> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.deadlines.deregister(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_pending_future_times_out_at_its_deadline() {
        let d = Deadlines::start(&tokio::runtime::Handle::current());
        let start = Instant::now();
        let r = d
            .timeout(Duration::from_millis(250), std::future::pending::<()>())
            .await;
        assert_eq!(r, Err(Elapsed));
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(250), "{waited:?}");
        assert!(waited < Duration::from_millis(300), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_ready_future_wins_and_leaves_no_entry() {
        let d = Deadlines::start(&tokio::runtime::Handle::current());
        let r = d
            .timeout(Duration::from_secs(5), std::future::ready(7))
            .await;
        assert_eq!(r, Ok(7));
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let t = tokio::spawn({
            let d = d.clone();
            async move { d.timeout(Duration::from_secs(5), rx).await }
        });
        tokio::task::yield_now().await;
        tx.send(3).unwrap();
        assert_eq!(t.await.unwrap().unwrap(), Ok(3));
        assert!(
            d.shards
                .iter()
                .all(|s| s.lock().slots.iter().all(|slot| slot.entry.is_none()))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_reused_after_expiry_belongs_to_the_new_call() {
        let d = Deadlines::start(&tokio::runtime::Handle::current());
        let waker = Waker::noop();
        let now = Instant::now();
        let old = d.register(now + Duration::from_millis(10), waker);
        assert_eq!(d.sweep(now + Duration::from_millis(20)), None);
        // Same thread, same shard: the freed slot is taken again.
        let new = d.register(now + Duration::from_secs(60), waker);
        assert_eq!((new.shard, new.index), (old.shard, old.index));
        assert!(
            !d.refresh(old, waker),
            "the expired call must see its deadline passed"
        );
        d.deregister(old);
        assert!(
            d.refresh(new, waker),
            "removing the expired call removed the new one"
        );
        d.deregister(new);
        assert!(!d.refresh(new, waker));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unrepresentable_timeout_never_fires() {
        let d = Deadlines::start(&tokio::runtime::Handle::current());
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let t = tokio::spawn({
            let d = d.clone();
            async move { d.timeout(Duration::MAX, rx).await }
        });
        tokio::time::sleep(Duration::from_secs(3600 * 24 * 365)).await;
        assert!(!t.is_finished());
        tx.send(1).unwrap();
        assert_eq!(t.await.unwrap().unwrap(), Ok(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_deadline_registered_later_fires_first() {
        let d = Deadlines::start(&tokio::runtime::Handle::current());
        let long = tokio::spawn({
            let d = d.clone();
            async move {
                d.timeout(Duration::from_secs(60), std::future::pending::<()>())
                    .await
            }
        });
        tokio::task::yield_now().await;
        let start = Instant::now();
        let short = d
            .timeout(Duration::from_millis(100), std::future::pending::<()>())
            .await;
        assert_eq!(short, Err(Elapsed));
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(!long.is_finished());
        long.abort();
    }
}
