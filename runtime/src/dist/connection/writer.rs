//! A connection's output: the writer task.
//!
//! Senders encode frames straight into the connection's buffer ([`Conn::push`]); the
//! writer swaps the whole buffer out and writes it with one call, so under load many frames
//! share a syscall. When frames come in bursts it first lets the burst gather. With nothing
//! to send for a tick interval it sends a tick, and it declares the connection down when
//! nothing has arrived for the tick time, even while a write is stuck.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::super::frame;
use super::super::transport::Writer;
use super::{Conn, MAX_IDLE_BUFFER};
use crate::node::NodeDownReason;

/// How many times a writer yields, at most, to gather a burst into one write.
const GATHER_YIELDS: usize = 4;

impl Conn {
    /// Lets the tasks that are about to queue frames do so before the writer takes the
    /// buffer: yields while the buffer grows, a few times at most. Called only when
    /// frames arrive in bursts (many callers at once, or answers to them), where it turns
    /// a write per frame into a write per burst (as the BEAM flushes a distribution port
    /// when its scheduler runs out of work); a lone call pays nothing.
    async fn gather(&self) {
        let mut len = self.out.lock().buf.len();
        for _ in 0..GATHER_YIELDS {
            tokio::task::yield_now().await;
            let now = self.out.lock().buf.len();
            if now == len {
                return;
            }
            len = now;
        }
    }

    pub(super) async fn write_loop(
        self: Arc<Self>,
        mut wr: Writer,
        tick_time: Duration,
        tick_interval: Duration,
    ) {
        let mut spare: Vec<u8> = Vec::new();
        let mut tick = tokio::time::interval(tick_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut last_sent = Instant::now();
        let mut woken = false;
        // Frames queued up to the last swap, and whether that swap took more than one.
        let mut taken = self.stats.frames_out.load(Ordering::Relaxed);
        let mut batched = false;
        let reason = loop {
            // A burst is on when the last swap took several frames, the last read held
            // several, or several calls wait for answers.
            if std::mem::take(&mut woken)
                && (batched
                    || self.bursty.load(Ordering::Relaxed)
                    || self.calls.lock().waiting.len() > 1)
            {
                self.gather().await;
            }
            {
                let mut out = self.out.lock();
                if out.buf.is_empty() {
                    out.writer_idle = true;
                } else {
                    std::mem::swap(&mut out.buf, &mut spare);
                    // Pushes count their frame under this lock.
                    let queued = self.stats.frames_out.load(Ordering::Relaxed);
                    batched = queued.saturating_sub(taken) > 1;
                    taken = queued;
                }
            }
            self.drained.notify_waiters();
            if spare.is_empty() {
                // Idle: a burst's large buffer goes back (while busy, buffers keep their
                // capacity, so a flood does not fault fresh pages in at every swap).
                if spare.capacity() > MAX_IDLE_BUFFER {
                    spare = Vec::new();
                }
                if self.leaving.load(Ordering::SeqCst) {
                    let _ = wr.shutdown().await;
                    break NodeDownReason::Shutdown;
                }
                tokio::select! {
                    biased;
                    () = self.cancel.cancelled() => return,
                    () = self.wake_writer.notified() => woken = true,
                    _ = tick.tick() => {
                        if self.silent_for() > tick_time {
                            break NodeDownReason::TickTimeout;
                        }
                        if last_sent.elapsed() >= tick_interval {
                            let _ = self.push(|buf| { frame::tick(buf); Ok(()) });
                        }
                    }
                }
                continue;
            }
            // A write can block for long (the peer stopped reading, or packets vanish): the
            // silence check goes on meanwhile.
            let written = {
                // TLS holds records until flushed; for TCP the flush does nothing.
                let write = async {
                    wr.write_all(&spare).await?;
                    wr.flush().await
                };
                tokio::pin!(write);
                loop {
                    tokio::select! {
                        biased;
                        () = self.cancel.cancelled() => return,
                        r = &mut write => break Ok(r),
                        _ = tick.tick() => {
                            if self.silent_for() > tick_time {
                                break Err(NodeDownReason::TickTimeout);
                            }
                        }
                    }
                }
            };
            match written {
                Ok(Ok(())) => {
                    self.stats
                        .bytes_out
                        .fetch_add(spare.len() as u64, Ordering::Relaxed);
                }
                Ok(Err(_)) => break NodeDownReason::ConnectionClosed,
                Err(reason) => break reason,
            }
            last_sent = Instant::now();
            spare.clear();
        };
        self.close(reason);
    }
}
