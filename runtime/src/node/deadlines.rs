//! Timeouts for calls, cheaper than one tokio timer per call.
//!
//! A call that waits registers its deadline and waker in a sharded table (one short lock)
//! and removes it when the reply comes (another). One sweeper task per node sleeps until
//! the earliest deadline, wakes the waiters whose time has passed, and goes back to sleep;
//! with no call waiting it sleeps until the next registration, so an idle node costs nothing.
//!
//! A tokio `timeout` costs several hundred nanoseconds per call here (timer wheel insertion
//! and removal); this costs two uncontended locks.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use tokio::sync::Notify;
use tokio::time::Instant;

const SHARDS: usize = 16;
/// `next_wake` when the sweeper is not sleeping towards a deadline: every registration
/// then notifies it.
const UNSET: u64 = u64::MAX;

pub(crate) struct Deadlines {
    shards: [Mutex<FxHashMap<u64, Entry>>; SHARDS],
    next_id: AtomicU64,
    /// When the sweeper will next look, in nanoseconds since `epoch`.
    next_wake: AtomicU64,
    wake_sweeper: Notify,
    closed: AtomicBool,
    epoch: Instant,
}

struct Entry {
    deadline: Instant,
    waker: Waker,
}

/// The deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

impl Deadlines {
    /// Creates the table and spawns its sweeper on `runtime`.
    pub(crate) fn start(runtime: &tokio::runtime::Handle) -> Arc<Self> {
        let deadlines = Arc::new(Self {
            shards: std::array::from_fn(|_| Mutex::new(FxHashMap::default())),
            next_id: AtomicU64::new(0),
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
    /// (such as `Duration::MAX`) never passes.
    pub(crate) fn timeout<F: Future>(&self, timeout: Duration, fut: F) -> Timeout<'_, F> {
        Timeout {
            deadlines: self,
            deadline: Instant::now().checked_add(timeout),
            id: None,
            fut: Box::pin(fut),
        }
    }

    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(UNSET - 1)
    }

    fn shard(&self, id: u64) -> &Mutex<FxHashMap<u64, Entry>> {
        &self.shards[(id as usize) % SHARDS]
    }

    fn register(&self, deadline: Instant, waker: &Waker) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.shard(id).lock().insert(
            id,
            Entry {
                deadline,
                waker: waker.clone(),
            },
        );
        if self.nanos(deadline) < self.next_wake.load(Ordering::SeqCst) {
            self.wake_sweeper.notify_one();
        }
        id
    }

    /// Refreshes the waker; false if the entry is gone, which means it expired.
    fn refresh(&self, id: u64, waker: &Waker) -> bool {
        match self.shard(id).lock().get_mut(&id) {
            Some(entry) => {
                if !entry.waker.will_wake(waker) {
                    entry.waker = waker.clone();
                }
                true
            }
            None => false,
        }
    }

    fn deregister(&self, id: u64) {
        self.shard(id).lock().remove(&id);
    }

    /// Wakes and removes every entry whose deadline has passed; returns the earliest
    /// remaining deadline.
    fn sweep(&self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut expired = Vec::new();
        for shard in &self.shards {
            shard.lock().retain(|_, e| {
                if e.deadline <= now {
                    expired.push(e.waker.clone());
                    false
                } else {
                    next = Some(next.map_or(e.deadline, |n| n.min(e.deadline)));
                    true
                }
            });
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
    id: Option<u64>,
    fut: Pin<Box<F>>,
}

impl<F: Future> Future for Timeout<'_, F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.fut.as_mut().poll(cx) {
            if let Some(id) = self.id.take() {
                self.deadlines.deregister(id);
            }
            return Poll::Ready(Ok(v));
        }
        let Some(deadline) = self.deadline else {
            return Poll::Pending;
        };
        match self.id {
            None => {
                let id = self.deadlines.register(deadline, cx.waker());
                self.id = Some(id);
                Poll::Pending
            }
            Some(id) if self.deadlines.refresh(id, cx.waker()) => Poll::Pending,
            // The sweeper removed the entry: the deadline has passed.
            Some(_) => {
                self.id = None;
                Poll::Ready(Err(Elapsed))
            }
        }
    }
}

impl<F> Drop for Timeout<'_, F> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.deadlines.deregister(id);
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
        let r = d.timeout(Duration::from_secs(5), async { 7 }).await;
        assert_eq!(r, Ok(7));
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let t = tokio::spawn({
            let d = d.clone();
            async move { d.timeout(Duration::from_secs(5), rx).await }
        });
        tokio::task::yield_now().await;
        tx.send(3).unwrap();
        assert_eq!(t.await.unwrap().unwrap(), Ok(3));
        assert!(d.shards.iter().all(|s| s.lock().is_empty()));
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
