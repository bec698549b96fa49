//! A connection's output: what it takes to send (the [`Route`] seam: messages, calls,
//! links, monitors, exits, replies), the buffer it is encoded into, and the writer task.
//!
//! Senders encode frames straight into the connection's buffer ([`Conn::push`]); the
//! writer swaps the whole buffer out and writes it with one call, so under load many frames
//! share a syscall. When frames come in bursts it first lets the burst gather. With nothing
//! to send for a tick interval it sends a tick, and it declares the connection down when
//! nothing has arrived for the tick time, even while a write is stuck.

use std::io::IoSlice;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::super::frame::{self, EncodeFrameError, MsgOut};
use super::super::transport::Writer;
use super::{Conn, MAX_IDLE_BUFFER, erlang};
use crate::node::NodeDownReason;
use crate::node::{Addressee, PendingCall, Route};
use crate::process::{
    CallError, EncodeError, ExitReason, MonitorRef, Payload, Pid, ReplySink, Shared, WireKind,
    sharing,
};

/// The protocol a connection's frames are encoded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// locus's own frames.
    Locus,
    /// Erlang distribution's pass-through frames.
    Erlang,
    /// Not known yet: a dialled peer whose protocol the port mapper has not told. Frames
    /// queued meanwhile are encoded both ways, and the other way dropped once it is known.
    Unknown,
}

/// The frames waiting for the writer, and what senders and the writer tell each other.
pub(super) struct Outbox {
    pub(super) buf: Vec<u8>,
    /// Large blobs that follow parts of `buf`, written from where they are (see `Blob`).
    pub(super) shared: Vec<Shared>,
    /// Their total length.
    pub(super) shared_len: usize,
    /// The protocol of `buf`.
    pub(super) wire: Wire,
    /// While `wire` is unknown, the frames of `buf` encoded for Erlang distribution.
    pub(super) alt: Vec<u8>,
    /// The writer waits for a wake-up; the next sender must notify it.
    pub(super) writer_idle: bool,
    /// False once the connection is down: frames are dropped.
    pub(super) open: bool,
    /// Messages dropped because the buffer was over its limit.
    pub(super) dropped: u64,
}

impl Outbox {
    pub(super) fn new(wire: Wire) -> Self {
        Self {
            buf: Vec::new(),
            shared: Vec::new(),
            shared_len: 0,
            wire,
            alt: Vec::new(),
            writer_idle: false,
            open: true,
            dropped: 0,
        }
    }

    /// Bytes waiting to be written.
    fn queued(&self) -> usize {
        self.buf.len() + self.shared_len
    }

    /// Drops everything queued: the connection is down.
    pub(super) fn close(&mut self) {
        self.open = false;
        self.buf = Vec::new();
        self.shared = Vec::new();
        self.shared_len = 0;
    }

    /// Where the queued frames end, to roll back to.
    fn mark(&self) -> (usize, usize, usize, usize) {
        (
            self.buf.len(),
            self.shared.len(),
            self.shared_len,
            self.alt.len(),
        )
    }

    /// Drops what was queued after `mark`.
    fn roll_back(&mut self, (buf, shared, shared_len, alt): (usize, usize, usize, usize)) {
        self.buf.truncate(buf);
        self.shared.truncate(shared);
        self.shared_len = shared_len;
        self.alt.truncate(alt);
    }

    /// Appends frames encoded by `write` to `buf`, taking large blobs by reference.
    fn encode(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeFrameError>,
    ) -> Result<(), EncodeFrameError> {
        let (r, shared) = sharing(|| write(&mut self.buf));
        r?;
        self.shared_len += shared.iter().map(|s| s.bytes.len()).sum::<usize>();
        self.shared.extend(shared);
        Ok(())
    }
}

/// Writes `buf` with the blobs of `shared` between its parts, in as few system calls as
/// the socket takes.
async fn write_shared(wr: &mut Writer, buf: &[u8], shared: &[Shared]) -> std::io::Result<()> {
    let mut parts = Vec::with_capacity(2 * shared.len() + 1);
    let mut at = 0;
    for s in shared {
        parts.push(IoSlice::new(&buf[at..s.at]));
        parts.push(IoSlice::new(&s.bytes));
        at = s.at;
    }
    parts.push(IoSlice::new(&buf[at..]));
    parts.retain(|p| !p.is_empty());
    let mut parts = &mut parts[..];
    while !parts.is_empty() {
        // A bounded batch per call: TLS gathers every slice it is given on each call.
        let n = wr.write_vectored(&parts[..parts.len().min(64)]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut parts, n);
    }
    Ok(())
}

/// Beyond this many bytes queued for a peer, paced senders wait for the writer
/// ([`Conn::until_writable`]), as the BEAM suspends a process sending on a busy
/// distribution port (`dist_buf_busy_limit`, 1 MiB by default there too).
pub(crate) const BUSY_LIMIT: usize = 1024 * 1024;

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
        let mut spare_shared: Vec<Shared> = Vec::new();
        let mut spare_shared_len = 0;
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
                    std::mem::swap(&mut out.shared, &mut spare_shared);
                    spare_shared_len = std::mem::take(&mut out.shared_len);
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
                            let _ = self.push(|wire, buf| {
                                match wire {
                                    Wire::Erlang => erlang::tick(buf),
                                    _ => frame::tick(buf),
                                }
                                Ok(())
                            });
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
                    if spare_shared.is_empty() {
                        wr.write_all(&spare).await?;
                    } else {
                        write_shared(&mut wr, &spare, &spare_shared).await?;
                    }
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
                        .fetch_add((spare.len() + spare_shared_len) as u64, Ordering::Relaxed);
                }
                Ok(Err(_)) => break NodeDownReason::ConnectionClosed,
                Err(reason) => break reason,
            }
            last_sent = Instant::now();
            spare.clear();
            spare_shared.clear();
        };
        self.close(reason);
    }
}

impl Conn {
    /// Appends a frame to the output buffer, encoded by `write` for the connection's
    /// protocol, and wakes the writer if it sleeps; whether more than [`BUSY_LIMIT`] bytes
    /// then wait. While the connection is being set up the frame waits (encoded both ways
    /// while the peer's protocol is unknown); once it is down, frames are dropped.
    pub(crate) fn push(
        &self,
        write: impl Fn(Wire, &mut Vec<u8>) -> Result<(), EncodeFrameError>,
    ) -> Result<bool, EncodeFrameError> {
        let mut out = self.out.lock();
        if !out.open {
            return Ok(false);
        }
        if out.queued() > self.max_outbox {
            out.dropped += 1;
            let first = out.dropped == 1;
            drop(out);
            if first {
                tracing::warn!(peer = %self.peer, limit = self.max_outbox,
                    "output buffer full: the peer is not reading; closing the connection");
            }
            // Dropping single frames would break links and monitors silently and leave gaps
            // in message streams; closing tells everyone that depends on the connection.
            self.close(NodeDownReason::Overloaded(self.max_outbox));
            return Ok(false);
        }
        let start = out.mark();
        // A frame goes in whole or not at all: an encoding error, or a `Serialize` impl
        // that panics (the lock is not poisoned), leaves the buffers as they were.
        let encoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match out.wire {
            Wire::Unknown => {
                // Both forms or neither.
                out.encode(|buf| write(Wire::Locus, buf))?;
                // In a scope of its own, so that nothing written into `alt` could count
                // as a blob of an enclosing scope's buffer.
                sharing(|| write(Wire::Erlang, &mut out.alt)).0
            }
            wire => out.encode(|buf| write(wire, buf)),
        }));
        match encoded {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                out.roll_back(start);
                return Err(e);
            }
            Err(panic) => {
                out.roll_back(start);
                drop(out);
                std::panic::resume_unwind(panic);
            }
        }
        let busy = out.queued() > BUSY_LIMIT;
        self.stats.frames_out.fetch_add(1, Ordering::Relaxed);
        let wake = std::mem::replace(&mut out.writer_idle, false);
        drop(out);
        if wake {
            self.wake_writer.notify_one();
        }
        Ok(busy)
    }

    /// The protocol is known now: frames queued in the other form are dropped. A known
    /// protocol does not change.
    pub(crate) fn set_wire(&self, wire: Wire) {
        let mut out = self.out.lock();
        if out.wire != Wire::Unknown || wire == Wire::Unknown {
            return;
        }
        out.wire = wire;
        let alt = std::mem::take(&mut out.alt);
        if wire == Wire::Erlang {
            out.buf = alt;
            out.shared = Vec::new();
            out.shared_len = 0;
            self.erlang.store(true, Ordering::SeqCst);
        } else {
            // Calls written in both forms meanwhile need no Erlang bookkeeping.
            drop(out);
            self.forget_erl_calls();
        }
    }

    /// The protocol frames are encoded in.
    pub(crate) fn wire(&self) -> Wire {
        self.out.lock().wire
    }

    /// Whether more than [`BUSY_LIMIT`] bytes wait to be written.
    pub(crate) fn is_busy(&self) -> bool {
        let out = self.out.lock();
        out.open && out.queued() > BUSY_LIMIT
    }

    /// Waits until the connection is not busy (or is closed).
    async fn until_writable(self: Arc<Self>) {
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            // Registered before the check, so a drain in between is not missed.
            drained.as_mut().enable();
            if !self.is_busy() {
                return;
            }
            drained.await;
        }
    }

    /// Sends a message frame. `Ok(true)` if the connection is busy (over [`BUSY_LIMIT`])
    /// once the frame is queued, which a paced sender waits out ([`Conn::until_writable`]):
    /// told here, under the lock the frame was queued with, so a sender that is not paced
    /// back pays nothing more per message.
    pub(crate) fn send_msg(
        &self,
        msg: &MsgOut<'_>,
        payload: &dyn Payload,
    ) -> Result<bool, EncodeError> {
        let max = self.max_frame;
        let queued = self.push(|wire, buf| match wire {
            Wire::Erlang => self.erl_send(buf, max, msg, payload),
            _ => frame::msg(buf, max, msg, |b| payload.encode_msgpack(b)),
        });
        match queued {
            Ok(busy) => Ok(busy),
            Err(EncodeFrameError::Payload(e)) => Err(e),
            Err(EncodeFrameError::TooLarge(len, max)) => Err(EncodeError::Syntax(format!(
                "the message is {len} bytes, over the frame limit of {max}"
            ))),
        }
    }

    /// Registers a call and sends it.
    fn send_call(
        self: Arc<Self>,
        from: Option<&Pid>,
        to: Addressee<'_>,
        type_name: &str,
        payload: &dyn Payload,
    ) -> Result<PendingCall, CallError> {
        let (tx, rx) = oneshot::channel();
        let call_ref = {
            let mut calls = self.calls.lock();
            if calls.closed {
                return Err(CallError::NodeDown(self.peer.clone()));
            }
            let r = calls.next;
            calls.next += 1;
            calls.waiting.insert(r, tx);
            r
        };
        let msg = MsgOut {
            kind: WireKind::Call,
            from,
            to,
            type_name,
            call_ref,
        };
        if let Err(e) = self.send_msg(&msg, payload) {
            self.calls.lock().waiting.remove(&call_ref);
            self.forget_erl_call(call_ref);
            return Err(CallError::BadType(format!(
                "the request did not encode: {e}"
            )));
        }
        let node = self.peer.clone();
        Ok(PendingCall {
            rx,
            table: self,
            call_ref,
            node,
        })
    }

    /// Asks the writer to send what is queued (plus a goodbye, between locus nodes), then
    /// close.
    pub(crate) fn leave(&self) {
        self.leaving.store(true, Ordering::SeqCst);
        let _ = self.push(|wire, buf| {
            if wire == Wire::Locus {
                frame::bye(buf);
            }
            Ok(())
        });
        self.wake_writer.notify_one();
    }

    /// Tells the peer's `to` that the local `from` it linked to is gone (or never was).
    pub(crate) fn send_exit(&self, from: &Pid, to: &Pid, reason: &ExitReason) {
        self.push_exit(from, to, reason, true);
    }

    fn push_exit(&self, from: &Pid, to: &Pid, reason: &ExitReason, via_link: bool) {
        let _ = self.push(|wire, buf| {
            match wire {
                Wire::Erlang => self.erl_exit(buf, from, to, reason, via_link),
                _ => frame::exit(buf, from, to, via_link, reason),
            }
            Ok(())
        });
    }
}

impl Route for Conn {
    fn send(
        &self,
        from: &Pid,
        to: Addressee<'_>,
        kind: WireKind,
        type_name: &str,
        payload: &dyn Payload,
    ) -> Result<bool, EncodeError> {
        let msg = MsgOut {
            kind,
            from: Some(from),
            to,
            type_name,
            call_ref: 0,
        };
        self.send_msg(&msg, payload)
    }

    fn call(
        self: Arc<Self>,
        from: Option<&Pid>,
        to: Addressee<'_>,
        type_name: &str,
        payload: &dyn Payload,
    ) -> Result<PendingCall, CallError> {
        self.send_call(from, to, type_name, payload)
    }

    fn exit(&self, from: &Pid, to: &Pid, reason: &ExitReason, via_link: bool) {
        if via_link {
            self.remove_link(from, to);
        }
        self.push_exit(from, to, reason, via_link);
    }

    fn link(&self, from: &Pid, to: &Pid) -> bool {
        if !self.add_link(from, to) {
            return false;
        }
        let _ = self.push(|wire, buf| {
            match wire {
                Wire::Erlang => erlang::link(buf, from, to),
                _ => frame::link(buf, from, to, false),
            }
            Ok(())
        });
        true
    }

    fn unlink(&self, from: &Pid, to: &Pid) {
        self.remove_link(from, to);
        let id = self.next_unlink_id();
        let _ = self.push(|wire, buf| {
            match wire {
                Wire::Erlang => erlang::unlink_id(buf, &id, from, to, false),
                _ => frame::link(buf, from, to, true),
            }
            Ok(())
        });
    }

    fn monitor(&self, watcher: &Pid, target: &Pid, monitor: MonitorRef) -> bool {
        if !self.add_out_monitor(monitor, watcher, target) {
            return false;
        }
        let _ = self.push(|wire, buf| {
            match wire {
                Wire::Erlang => self.erl_monitor(buf, watcher, target, monitor, false),
                _ => frame::monitor(buf, watcher, target, monitor, false),
            }
            Ok(())
        });
        true
    }

    fn demonitor(&self, watcher: &Pid, target: &Pid, monitor: MonitorRef) {
        self.remove_out_monitor(monitor);
        let _ = self.push(|wire, buf| {
            match wire {
                Wire::Erlang => self.erl_monitor(buf, watcher, target, monitor, true),
                _ => frame::monitor(buf, watcher, target, monitor, true),
            }
            Ok(())
        });
    }

    fn down(&self, to: &Pid, monitor: MonitorRef, pid: &Pid, reason: &ExitReason) {
        self.remove_in_monitor(monitor);
        let erl = self.take_erl_in_monitor(monitor);
        let _ = self.push(|wire, buf| {
            match (wire, &erl) {
                (Wire::Erlang, Some((r, target))) => self.erl_down(buf, to, r, target, reason),
                (Wire::Erlang, None) => {}
                _ => frame::down(buf, to, pid, monitor, reason),
            }
            Ok(())
        });
    }

    fn is_erlang(&self) -> bool {
        self.erlang.load(Ordering::Relaxed)
    }

    fn until_writable(self: Arc<Self>) -> Option<BoxFuture<'static, ()>> {
        if !self.is_busy() {
            return None;
        }
        let wait: BoxFuture<'static, ()> = Box::pin(Conn::until_writable(self));
        Some(wait)
    }
}

impl ReplySink for Conn {
    fn reply(&self, call_ref: u64, result: Result<&dyn Payload, CallError>) {
        let max = self.max_frame;
        let sent = match result {
            Ok(payload) => self.push(|_, buf| {
                frame::reply(buf, max, call_ref, true, |b| payload.encode_msgpack(b))
            }),
            Err(e) => self.push(|_, buf| {
                frame::reply(buf, max, call_ref, false, |b| {
                    rmp_serde::encode::write(b, &e)
                })
            }),
        };
        if let Err(e) = sent {
            let err = CallError::BadType(format!("the reply did not encode: {e}"));
            let _ = self.push(|_, buf| {
                frame::reply(buf, max, call_ref, false, |b| {
                    rmp_serde::encode::write(b, &err)
                })
            });
        }
    }
}
