//! The mailbox: one FIFO of messages and system signals per process.
//!
//! Implementation notes (may change): producers take a short lock to push; the owner swaps
//! the whole queue into a private buffer under the lock and then pops without locking, so a
//! busy process pays for the lock once per batch, not once per message. An empty mailbox
//! allocates nothing.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use parking_lot::{Mutex, MutexGuard};

use super::signal::SysSignal;

/// One queued item: a message of the process's type, or a boxed system signal.
pub(crate) enum Envelope<M> {
    Msg(M),
    Sig(Box<SysSignal>),
}

pub(crate) struct Mailbox<M> {
    inner: Mutex<Inner<M>>,
}

struct Inner<M> {
    queue: VecDeque<Envelope<M>>,
    /// The owner's waker, present only while it waits on an empty mailbox.
    waker: Option<Waker>,
    /// Set when the process has exited: pushes fail from then on.
    closed: bool,
}

impl<M> Mailbox<M> {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                waker: None,
                closed: false,
            }),
        }
    }

    /// Queues a message and wakes the owner if it waits. Gives the message back if the
    /// process has exited.
    pub(crate) fn push_msg(&self, msg: M) -> Result<(), M> {
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(msg);
        }
        inner.queue.push_back(Envelope::Msg(msg));
        Self::wake_owner(inner);
        Ok(())
    }

    /// Queues a system signal; false if the process has exited.
    pub(crate) fn push_sig(&self, sig: SysSignal) -> bool {
        let mut inner = self.inner.lock();
        if inner.closed {
            return false;
        }
        inner.queue.push_back(Envelope::Sig(Box::new(sig)));
        Self::wake_owner(inner);
        true
    }

    /// Releases the lock, then wakes the owner if it was waiting.
    fn wake_owner(mut inner: MutexGuard<'_, Inner<M>>) {
        let waker = inner.waker.take();
        drop(inner);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Moves everything queued into `buf` (which the owner has emptied) or, when nothing is
    /// queued, registers the owner's waker.
    pub(crate) fn poll_take(
        &self,
        buf: &mut VecDeque<Envelope<M>>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let mut inner = self.inner.lock();
        if inner.queue.is_empty() {
            match &inner.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => inner.waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        std::mem::swap(&mut inner.queue, buf);
        Poll::Ready(())
    }

    /// Like [`poll_take`](Self::poll_take) without waiting: returns whether anything was moved.
    pub(crate) fn take_now(&self, buf: &mut VecDeque<Envelope<M>>) -> bool {
        let mut inner = self.inner.lock();
        if inner.queue.is_empty() {
            return false;
        }
        std::mem::swap(&mut inner.queue, buf);
        true
    }

    /// Removes queued envelopes for which `keep` returns false (used to flush a `Down` after
    /// a demonitor).
    pub(crate) fn retain(&self, keep: impl FnMut(&Envelope<M>) -> bool) {
        self.inner.lock().queue.retain(keep);
    }

    /// Closes the mailbox for good and returns what was queued, to be dropped by the caller
    /// outside the lock (dropping a queued call fails that call).
    pub(crate) fn close(&self) -> VecDeque<Envelope<M>> {
        let mut inner = self.inner.lock();
        inner.closed = true;
        inner.waker = None;
        std::mem::take(&mut inner.queue)
    }

    /// Number of queued envelopes not yet taken by the owner.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().queue.len()
    }
}
