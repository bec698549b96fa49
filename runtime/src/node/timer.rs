//! Timers: a message delivered later, cancellable.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::AbortHandle;

use super::Node;
use crate::process::{Dest, Message};

/// A pending [`send_after`](crate::Ctx::send_after). Dropping it does not cancel the timer.
pub struct TimerRef {
    /// Set by whichever side acts first: the timer firing, or `cancel`.
    settled: Arc<AtomicBool>,
    task: AbortHandle,
}

impl fmt::Debug for TimerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerRef")
            .field("settled", &self.settled.load(Ordering::Relaxed))
            .finish()
    }
}

impl TimerRef {
    /// Cancels the timer. Returns `true` if the message had not been sent yet and now never
    /// will be, `false` if it was already sent (or the timer was already cancelled).
    pub fn cancel(&self) -> bool {
        let prevented = !self.settled.swap(true, Ordering::AcqRel);
        self.task.abort();
        prevented
    }
}

impl Node {
    /// Sends `msg` to `dest` after `delay`. A destination that is gone by then drops the
    /// message, as a send would.
    pub fn send_after<T: Message>(
        &self,
        dest: impl Into<Dest>,
        msg: T,
        delay: Duration,
    ) -> TimerRef {
        let settled = Arc::new(AtomicBool::new(false));
        let dest = dest.into();
        let node = self.clone();
        let fire = settled.clone();
        let task = self.runtime().spawn(async move {
            tokio::time::sleep(delay).await;
            if !fire.swap(true, Ordering::AcqRel) {
                let _ = node.send(dest, msg);
            }
        });
        TimerRef {
            settled,
            task: task.abort_handle(),
        }
    }
}
