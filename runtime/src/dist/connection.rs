//! One connection to one peer node: an output buffer, a writer task, a reader task, the
//! calls waiting for replies on it, and the links and monitors that cross it.
//!
//! - **Output.** Senders encode frames straight into the connection's buffer under a short
//!   lock. One writer task swaps the whole buffer out and writes it with one call, so under
//!   load many frames share a syscall; a frame is never split between writers. Frames queued
//!   while the connection is still being set up are written once it is up.
//! - **Input.** The reader reads big chunks, cuts as many whole frames as it holds and hands
//!   each to the local process, in order, then yields so the processes it woke run while
//!   their messages are in cache. A message whose header repeats the previous one's (a
//!   stream between two processes) is read from its call reference on
//!   ([`LastMsg`](super::last_msg::LastMsg)). A frame that does not parse closes this
//!   connection only.
//! - **Liveness.** With nothing to send for a tick interval the writer sends a tick; if nothing
//!   arrives for the tick time the connection is declared down.
//! - **Loss.** When the connection goes down every call waiting on it fails with
//!   `NodeDown`, every local process linked across it gets an exit signal `NoConnection`,
//!   every local monitor of a process over there gets `Down(NoConnection)`, and node monitors
//!   get `NodeDown`, in that order, once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::transport::{Reader, Writer};
use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::frame::{self, Addressee, EncodeFrameError, Frame, FrameError, WirePid};
use super::last_msg::LastMsg;
use super::{ConnectError, Dist};
use crate::gen_server::CallError;
use crate::node::{Node, NodeDownReason, NodeName};
use crate::process::{
    CallTable, Encode, EncodeError, ExitReason, Incoming, MonitorRef, Pid, RemoteReplyTo,
    ReplySink, WireKind,
};

/// Where a connection is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    Connecting,
    Up,
    /// Never came up, with why.
    Failed(Arc<ConnectError>),
    /// Was up, and went down.
    Down(NodeDownReason),
}

/// What the peer said about itself in the handshake.
#[derive(Debug, Clone)]
pub(crate) struct PeerState {
    pub(crate) creation: u32,
    pub(crate) hidden: bool,
    pub(crate) listen_port: u16,
}

struct Outbox {
    buf: Vec<u8>,
    /// The writer waits for a wake-up; the next sender must notify it.
    writer_idle: bool,
    /// False once the connection is down: frames are dropped.
    open: bool,
    /// Messages dropped because the buffer was over its limit.
    dropped: u64,
}

/// Links and monitors that cross this connection, so its loss can be reported.
#[derive(Default)]
struct Relations {
    closed: bool,
    /// (local process, remote process).
    links: FxHashSet<(Pid, Pid)>,
    /// Monitors local processes hold on remote ones: ref → (local watcher, remote target).
    out_monitors: FxHashMap<MonitorRef, (Pid, Pid)>,
    /// Monitors remote processes hold on local ones: ref → (local target, remote watcher).
    in_monitors: FxHashMap<MonitorRef, (Pid, Pid)>,
}

type ReplyTx = oneshot::Sender<Result<Bytes, CallError>>;

struct Calls {
    closed: bool,
    next: u64,
    waiting: FxHashMap<u64, ReplyTx>,
}

/// One peer connection (or an attempt at one).
pub(crate) struct Conn {
    this: std::sync::Weak<Conn>,
    dist: std::sync::Weak<Dist>,
    pub(crate) peer: NodeName,
    state: Mutex<Option<PeerState>>,
    phase: watch::Sender<Phase>,
    out: Mutex<Outbox>,
    wake_writer: tokio::sync::Notify,
    /// Signalled when the writer takes the output buffer: senders waiting for a busy
    /// connection to drain go on.
    drained: tokio::sync::Notify,
    calls: Mutex<Calls>,
    rel: Mutex<Relations>,
    /// Stops the reader and writer.
    cancel: CancellationToken,
    /// When something last arrived, in ms since `born`.
    last_rx: AtomicU64,
    born: Instant,
    /// The peer said goodbye: its close is a clean shutdown.
    bye: AtomicBool,
    /// We are leaving: the writer closes the socket once the buffer is written.
    leaving: AtomicBool,
    /// An incoming attempt took this entry over during a simultaneous connect; this node's
    /// own attempt for it must stand down.
    adopted: AtomicBool,
    /// Who fails the entry when both attempts of a simultaneous connect are out.
    handoff: Mutex<Handoff>,
    /// Created by this node's own connection attempt (the simultaneous-connect rule applies
    /// only against those).
    outgoing: AtomicBool,
    /// Set once everything depending on the connection has been told it is gone.
    torn_down: watch::Sender<bool>,
    /// See [`Conn::is_listed`].
    listed: AtomicBool,
    max_frame: usize,
    max_outbox: usize,
    /// How long the reader polls after traffic before it sleeps.
    spin: Duration,
    /// Whether the reader's last read held more than one frame: requests come in bursts,
    /// and what answers them is worth gathering into one write.
    bursty: AtomicBool,
    /// Traffic counters, for introspection.
    pub(crate) stats: ConnStats,
    /// When the connection came up.
    up_since: Mutex<Option<std::time::SystemTime>>,
}

/// Beyond this many bytes queued for a peer, paced senders wait for the writer
/// ([`Conn::until_writable`]), as the BEAM suspends a process sending on a busy
/// distribution port (`dist_buf_busy_limit`, 1 MiB by default there too).
pub(crate) const BUSY_LIMIT: usize = 1024 * 1024;

/// The largest output or input buffer kept while a connection is idle.
const MAX_IDLE_BUFFER: usize = 1024 * 1024;

/// How many times a writer yields, at most, to gather a burst into one write.
const GATHER_YIELDS: usize = 4;

/// A reader starts with room for this many bytes per read, so an idle connection holds
/// little memory (a 100-node mesh in one process has 9,900 of them)...
const READ_CHUNK_MIN: usize = 4 * 1024;

/// ...and doubles it, up to this, each time a read fills all the room it had.
const READ_CHUNK_MAX: usize = 64 * 1024;

/// The largest chunk, for a connection that carries large frames (a 64 KiB payload's frame
/// fits in half of it). A connection keeps its buffer, so this bounds what a busy one holds.
const READ_CHUNK_LARGE: usize = 256 * 1024;

/// Whether some connection of this process is spinning. One at a time, so the spin costs
/// at most one core however many connections (a 100-node mesh in one process has 9,900)
/// have just seen traffic; the others park, and the spinner's yields also let tokio poll
/// the runtime's sockets when no other worker is polling them, which keeps their wake-ups
/// on a hot thread too.
static SPINNING: AtomicBool = AtomicBool::new(false);

/// The right to spin, held while a reader spins.
struct Spinner;

impl Spinner {
    fn claim() -> Option<Spinner> {
        SPINNING
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then_some(Spinner)
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        SPINNING.store(false, Ordering::Release);
    }
}

/// Frames and bytes through one connection (ticks included).
#[derive(Debug, Default)]
pub(crate) struct ConnStats {
    pub(crate) frames_in: AtomicU64,
    pub(crate) frames_out: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
}

/// The two attempts of a simultaneous connect, for [`Conn::adopted_failed`] and
/// [`Conn::stand_down`].
#[derive(Debug, Default)]
struct Handoff {
    /// This node's own attempt yielded.
    stood_down: bool,
    /// The adopted attempt failed, with this, before ours yielded.
    adopted_error: Option<ConnectError>,
}

impl Conn {
    pub(crate) fn new(dist: &Arc<Dist>, peer: NodeName) -> Arc<Self> {
        Arc::new_cyclic(|this| Self {
            this: this.clone(),
            dist: Arc::downgrade(dist),
            peer,
            state: Mutex::new(None),
            phase: watch::channel(Phase::Connecting).0,
            out: Mutex::new(Outbox {
                buf: Vec::new(),
                writer_idle: false,
                open: true,
                dropped: 0,
            }),
            wake_writer: tokio::sync::Notify::new(),
            drained: tokio::sync::Notify::new(),
            calls: Mutex::new(Calls {
                closed: false,
                next: 1,
                waiting: FxHashMap::default(),
            }),
            rel: Mutex::new(Relations::default()),
            cancel: CancellationToken::new(),
            last_rx: AtomicU64::new(0),
            born: Instant::now(),
            bye: AtomicBool::new(false),
            leaving: AtomicBool::new(false),
            adopted: AtomicBool::new(false),
            handoff: Mutex::new(Handoff::default()),
            outgoing: AtomicBool::new(false),
            torn_down: watch::channel(false).0,
            listed: AtomicBool::new(false),
            max_frame: dist.config.max_frame,
            max_outbox: dist.config.max_outbox,
            spin: dist.config.spin,
            stats: ConnStats::default(),
            bursty: AtomicBool::new(false),
            up_since: Mutex::new(None),
        })
    }

    pub(crate) fn set_adopted(&self) {
        self.adopted.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_adopted(&self) -> bool {
        self.adopted.load(Ordering::SeqCst)
    }

    /// The adopted incoming attempt failed with `err`. The entry fails now if this node's
    /// own attempt has stood down; otherwise that attempt may still bring it up, and if it
    /// stands down instead it fails the entry with `err` (see [`stand_down`](Self::stand_down)).
    pub(crate) fn adopted_failed(self: &Arc<Self>, err: ConnectError) {
        let mut h = self.handoff.lock();
        if h.stood_down {
            drop(h);
            self.fail(err);
        } else {
            h.adopted_error = Some(err);
        }
    }

    /// This node's own attempt yields to the peer's. Returns true if the entry failed now
    /// (the attempt it yielded to had already failed); false if that attempt is still out.
    pub(crate) fn stand_down(self: &Arc<Self>) -> bool {
        let mut h = self.handoff.lock();
        h.stood_down = true;
        match h.adopted_error.take() {
            Some(err) => {
                drop(h);
                self.fail(err);
                true
            }
            None => false,
        }
    }

    pub(crate) fn set_outgoing(&self) {
        self.outgoing.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_outgoing(&self) -> bool {
        self.outgoing.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until everything depending on this connection has been told it is
    /// gone.
    pub(crate) async fn torn_down(&self) {
        let mut rx = self.torn_down.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|done| *done)).await;
    }

    /// Moves the phase from one matching `from` to `to`, atomically; whether it moved.
    fn transition(&self, from: impl FnOnce(&Phase) -> bool, to: Phase) -> bool {
        self.phase.send_if_modified(|p| {
            if from(p) {
                *p = to;
                true
            } else {
                false
            }
        })
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase.borrow().clone()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    pub(crate) fn is_up(&self) -> bool {
        matches!(*self.phase.borrow(), Phase::Up)
    }

    /// When the connection came up, if it did.
    pub(crate) fn up_since(&self) -> Option<std::time::SystemTime> {
        *self.up_since.lock()
    }

    pub(crate) fn peer_state(&self) -> Option<PeerState> {
        self.state.lock().clone()
    }

    /// Up, and visible from both sides.
    pub(crate) fn is_visible(&self, me_hidden: bool) -> bool {
        !me_hidden && self.is_listed() && self.state.lock().as_ref().is_some_and(|s| !s.hidden)
    }

    /// Listed by `Node::nodes`: from just before `NodeUp` until just before `NodeDown`.
    pub(crate) fn is_listed(&self) -> bool {
        self.listed.load(Ordering::SeqCst)
    }

    /// Appends a frame to the output buffer and wakes the writer if it sleeps. While the
    /// connection is being set up the frame waits; once it is down, frames are dropped.
    pub(crate) fn push(
        &self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeFrameError>,
    ) -> Result<(), EncodeFrameError> {
        let mut out = self.out.lock();
        if !out.open {
            return Ok(());
        }
        if out.buf.len() > self.max_outbox {
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
            return Ok(());
        }
        write(&mut out.buf)?;
        self.stats.frames_out.fetch_add(1, Ordering::Relaxed);
        let wake = std::mem::replace(&mut out.writer_idle, false);
        drop(out);
        if wake {
            self.wake_writer.notify_one();
        }
        Ok(())
    }

    /// Whether more than [`BUSY_LIMIT`] bytes wait to be written.
    pub(crate) fn is_busy(&self) -> bool {
        let out = self.out.lock();
        out.open && out.buf.len() > BUSY_LIMIT
    }

    /// Waits until the connection is not busy (or is closed).
    pub(crate) async fn until_writable(self: Arc<Self>) {
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
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_msg(
        &self,
        kind: WireKind,
        from: Option<&Pid>,
        to: Addressee<'_>,
        type_name: &str,
        call_ref: u64,
        encode: Encode<'_>,
    ) -> Result<bool, EncodeError> {
        let max = self.max_frame;
        let mut busy = false;
        let queued = self.push(|buf| {
            frame::msg(buf, max, kind, from, to, type_name, call_ref, |b| encode(b))?;
            busy = buf.len() > BUSY_LIMIT;
            Ok(())
        });
        match queued {
            Ok(()) => Ok(busy),
            Err(EncodeFrameError::Payload(e)) => Err(e),
            Err(EncodeFrameError::TooLarge(len, max)) => Err(EncodeError::Syntax(format!(
                "the message is {len} bytes, over the frame limit of {max}"
            ))),
        }
    }

    /// Registers a call and sends it.
    pub(crate) fn call(
        self: &Arc<Self>,
        from: Option<&Pid>,
        to: Addressee<'_>,
        type_name: &str,
        encode: Encode<'_>,
    ) -> Result<crate::process::PendingCall, CallError> {
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
        if let Err(e) = self.send_msg(WireKind::Call, from, to, type_name, call_ref, encode) {
            self.calls.lock().waiting.remove(&call_ref);
            return Err(CallError::BadType(format!(
                "the request did not encode: {e}"
            )));
        }
        Ok(crate::process::PendingCall {
            rx,
            table: self.clone(),
            call_ref,
            node: self.peer.clone(),
        })
    }

    pub(crate) fn add_link(&self, local: &Pid, remote: &Pid) -> bool {
        let mut rel = self.rel.lock();
        if rel.closed {
            return false;
        }
        rel.links.insert((local.clone(), remote.clone()));
        true
    }

    pub(crate) fn remove_link(&self, local: &Pid, remote: &Pid) {
        self.rel
            .lock()
            .links
            .remove(&(local.clone(), remote.clone()));
    }

    pub(crate) fn add_out_monitor(&self, monitor: MonitorRef, watcher: &Pid, target: &Pid) -> bool {
        let mut rel = self.rel.lock();
        if rel.closed {
            return false;
        }
        rel.out_monitors
            .insert(monitor, (watcher.clone(), target.clone()));
        true
    }

    pub(crate) fn remove_out_monitor(&self, monitor: MonitorRef) {
        self.rel.lock().out_monitors.remove(&monitor);
    }

    pub(crate) fn remove_in_monitor(&self, monitor: MonitorRef) {
        self.rel.lock().in_monitors.remove(&monitor);
    }

    /// Marks the connection up: it is listed from now on.
    /// Records the authenticated peer and lists the connection (it appears in
    /// `Node::nodes` from now on, before its `NodeUp` goes out).
    pub(crate) fn list(&self, peer: PeerState) {
        *self.state.lock() = Some(peer);
        self.touch_rx();
        self.listed.store(true, Ordering::SeqCst);
    }

    /// Marks the connection up: callers waiting in `connect` return. False if it failed or
    /// closed meanwhile (it is then unlisted).
    pub(crate) fn mark_up(&self) -> bool {
        let up = self.transition(|p| *p == Phase::Connecting, Phase::Up);
        if up {
            *self.up_since.lock() = Some(std::time::SystemTime::now());
        } else {
            self.listed.store(false, Ordering::SeqCst);
        }
        up
    }

    /// Starts the reader and the writer.
    pub(crate) fn spawn_io(
        self: &Arc<Self>,
        node: &Node,
        reader: Reader,
        writer: Writer,
        tick_time: Duration,
        tick_interval: Duration,
    ) {
        tokio::spawn(self.clone().write_loop(writer, tick_time, tick_interval));
        tokio::spawn(self.clone().read_loop(reader, node.clone()));
    }

    /// Polls the socket without sleeping until `until`: `Some` with what a read returned,
    /// or `None` when the window passed (or the connection is closing, or another
    /// connection of this process is spinning) with nothing read. Other tasks run between
    /// polls (the poll yields, and each yield polls the process's sockets), so the process
    /// a frame wakes runs on this thread at once.
    async fn spin_read(
        &self,
        rd: &mut Reader,
        buf: &mut BytesMut,
        until: Instant,
    ) -> Option<std::io::Result<usize>> {
        use futures::FutureExt;
        let _spinning = Spinner::claim()?;
        loop {
            if self.cancel.is_cancelled() {
                return None;
            }
            if let Some(r) = rd.read_buf(buf).now_or_never() {
                return Some(r);
            }
            if Instant::now() >= until {
                return None;
            }
            tokio::task::yield_now().await;
        }
    }

    fn touch_rx(&self) {
        let ms = self.born.elapsed().as_millis() as u64;
        self.last_rx.store(ms, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let now = self.born.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_rx.load(Ordering::Relaxed)))
    }

    /// Asks the writer to send what is queued plus a goodbye, then close.
    pub(crate) fn leave(&self) {
        self.leaving.store(true, Ordering::SeqCst);
        let _ = self.push(|buf| {
            frame::bye(buf);
            Ok(())
        });
        self.wake_writer.notify_one();
    }

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

    async fn write_loop(
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

    async fn read_loop(self: Arc<Self>, mut rd: Reader, node: Node) {
        let mut chunk = READ_CHUNK_MIN;
        let mut grown = false;
        let mut buf = BytesMut::with_capacity(chunk);
        let mut last_data = Instant::now();
        let mut last_msg = LastMsg::default();
        let reason = 'conn: loop {
            // Right after traffic, poll the socket for a moment before sleeping: waking a
            // parked thread costs tens of microseconds, more than a reply takes to come.
            let room = buf.capacity() - buf.len();
            let spun = if self.spin.is_zero() {
                None
            } else {
                self.spin_read(&mut rd, &mut buf, last_data + self.spin)
                    .await
            };
            let read = match spun {
                Some(r) => r,
                None => tokio::select! {
                    biased;
                    () = self.cancel.cancelled() => break NodeDownReason::ConnectionClosed,
                    r = rd.read_buf(&mut buf) => r,
                },
            };
            if matches!(read, Ok(n) if n > 0) {
                last_data = Instant::now();
            }
            match read {
                Ok(0) | Err(_) => {
                    break if self.bye.load(Ordering::SeqCst) {
                        NodeDownReason::Shutdown
                    } else {
                        NodeDownReason::ConnectionClosed
                    };
                }
                Ok(n) => {
                    self.touch_rx();
                    self.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                    if n >= room && chunk < READ_CHUNK_MAX {
                        chunk *= 2;
                        grown = true;
                    }
                }
            }
            let bursty = match frame::check(&buf, self.max_frame) {
                Ok(Some(len)) => buf
                    .get(len..)
                    .is_some_and(|rest| matches!(frame::check(rest, self.max_frame), Ok(Some(_)))),
                _ => false,
            };
            self.bursty.store(bursty, Ordering::Relaxed);
            loop {
                match frame::check(&buf, self.max_frame) {
                    Ok(Some(len)) => {
                        // Nothing more is delivered once the connection is declared down.
                        if self.cancel.is_cancelled() {
                            break 'conn NodeDownReason::ConnectionClosed;
                        }
                        let frame = buf.split_to(len).freeze();
                        self.stats.frames_in.fetch_add(1, Ordering::Relaxed);
                        if let Err(e) = self.dispatch(&node, &frame, &mut last_msg) {
                            tracing::warn!(peer = %self.peer, error = %e, "closing the connection: bad frame");
                            break 'conn NodeDownReason::ProtocolError(e.to_string());
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(peer = %self.peer, error = %e, "closing the connection: bad frame");
                        break 'conn NodeDownReason::ProtocolError(e.to_string());
                    }
                }
            }
            // Room for the rest of a large frame, or for the next read. Asking only when
            // room runs short, and then for half a chunk, lets the buffer reclaim in place
            // the space of frames already handled (what is left, a partial frame, moves to
            // the front) instead of allocating, and faulting in, a fresh chunk every read.
            let want = match buf.get(..4) {
                Some(p) => 4 + u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize,
                None => 0,
            };
            let room = buf.capacity() - buf.len();
            let need = want.saturating_sub(buf.len());
            if want > chunk / 2 && chunk < READ_CHUNK_LARGE {
                // Frames this large are coming: from now on ask for room for a whole one
                // (half a chunk) whenever room runs short, so the next ones arrive whole
                // in the buffer instead of being moved to a larger one halfway through (a
                // copy of every large frame). Up to a limit: larger frames still move.
                chunk = want
                    .saturating_mul(2)
                    .next_power_of_two()
                    .min(READ_CHUNK_LARGE);
            }
            if buf.is_empty() && buf.capacity() > MAX_IDLE_BUFFER {
                // A huge frame's buffer goes back once it has been handled.
                buf = BytesMut::with_capacity(chunk.max(need));
            } else if need > room {
                buf.reserve(need);
            } else if std::mem::take(&mut grown) {
                buf.reserve(chunk);
            } else if room < chunk / 2 {
                buf.reserve(chunk / 2);
            }
            if bursty {
                tokio::task::yield_now().await;
            }
        };
        self.close(reason);
        // The reader delivers the loss: after the last frame it delivered, once.
        self.teardown();
    }

    /// Hands a message (its header parsed into `header`) to the local process it names.
    fn deliver_msg(self: &Arc<Self>, node: &Node, header: &LastMsg, call_ref: u64, payload: &[u8]) {
        let reply_to = (header.kind == WireKind::Call).then(|| RemoteReplyTo {
            sink: self.clone(),
            call_ref,
            from: header.from.clone(),
        });
        let Some(dest) = header.dest() else {
            // A pid of another node or of an earlier incarnation of this one: gone.
            if let Some(r) = reply_to {
                r.fail(CallError::NoProc);
            }
            return;
        };
        let msg = Incoming {
            kind: header.kind,
            type_name: header.type_name(),
            payload,
            from: header.from.clone(),
            reply_to,
        };
        if let Err(rejected) = node.deliver_incoming(dest, msg)
            && let Some(r) = rejected.reply_to
        {
            r.fail(rejected.error);
        }
    }

    /// A pid the peer names as its own (the sender of a link, exit or monitor): it must be
    /// on the peer node, or the peer is forging signals for another node.
    fn peer_pid(&self, p: WirePid<'_>) -> Result<Pid, FrameError> {
        if p.node != self.peer.as_str() {
            return Err(FrameError::Malformed(format!(
                "the peer sent a signal from {}, a process of another node",
                p.node
            )));
        }
        p.to_pid(&self.peer)
    }

    /// Turns a pid from a frame into a local pid, if it is one of this incarnation.
    fn local(&self, node: &Node, p: WirePid<'_>) -> Option<Pid> {
        (p.node == node.name().as_str() && p.creation == node.creation())
            .then(|| node.local_pid(p.id))
    }

    fn dispatch(
        self: &Arc<Self>,
        node: &Node,
        bytes: &Bytes,
        last: &mut LastMsg,
    ) -> Result<(), FrameError> {
        if let Some(repeated) = last.repeat(bytes) {
            let (call_ref, payload) = repeated?;
            self.deliver_msg(node, last, call_ref, payload);
            return Ok(());
        }
        match frame::parse(bytes)? {
            Frame::Tick => {}
            Frame::Msg {
                kind,
                from,
                to,
                type_name,
                call_ref,
                payload,
                head,
            } => {
                last.remember(
                    (node.name(), node.creation()),
                    &self.peer,
                    head,
                    kind,
                    from,
                    to,
                    type_name,
                )?;
                self.deliver_msg(node, last, call_ref, payload);
            }
            Frame::Reply {
                call_ref,
                ok,
                payload,
            } => {
                let tx = self.calls.lock().waiting.remove(&call_ref);
                if let Some(tx) = tx {
                    let result = if ok {
                        Ok(bytes.slice_ref(payload))
                    } else {
                        Err(
                            rmp_serde::from_slice::<CallError>(payload).unwrap_or_else(|e| {
                                CallError::BadType(format!("undecodable error reply: {e}"))
                            }),
                        )
                    };
                    let _ = tx.send(result);
                }
            }
            Frame::Link { from, to } => {
                let from = self.peer_pid(from)?;
                let Some(to) = self.local(node, to) else {
                    self.send_exit(&to_pid_or_gone(node, to), &from, &ExitReason::NoProc);
                    return Ok(());
                };
                if node.add_link_to(&to, &from) {
                    if !self.add_link(&to, &from) {
                        node.exit_signal(&from, &to, ExitReason::NoConnection, true);
                    }
                } else {
                    self.send_exit(&to, &from, &ExitReason::NoProc);
                }
            }
            Frame::Unlink { from, to } => {
                let from = self.peer_pid(from)?;
                if let Some(to) = self.local(node, to) {
                    self.remove_link(&to, &from);
                    node.remove_link_from(&to, &from);
                }
            }
            Frame::Exit {
                from,
                to,
                via_link,
                reason,
            } => {
                let from = self.peer_pid(from)?;
                if let Some(to) = self.local(node, to) {
                    if via_link {
                        self.remove_link(&to, &from);
                    }
                    node.exit_signal(&from, &to, reason, via_link);
                }
            }
            Frame::Monitor {
                watcher,
                target,
                monitor,
            } => {
                let watcher = self.peer_pid(watcher)?;
                let local = self.local(node, target);
                let added = local.as_ref().is_some_and(|t| {
                    let mut rel = self.rel.lock();
                    if rel.closed || !node.add_remote_watcher(t, monitor, &watcher) {
                        return false;
                    }
                    rel.in_monitors
                        .insert(monitor, (t.clone(), watcher.clone()));
                    true
                });
                if !added {
                    let target = local.unwrap_or_else(|| to_pid_or_gone(node, target));
                    let _ = self.push(|buf| {
                        frame::down(buf, &watcher, &target, monitor, &ExitReason::NoProc);
                        Ok(())
                    });
                }
            }
            Frame::Demonitor {
                watcher,
                target,
                monitor,
            } => {
                let watcher = self.peer_pid(watcher)?;
                self.remove_in_monitor(monitor);
                if let Some(target) = self.local(node, target) {
                    node.forget_monitor(&watcher, &target, monitor);
                }
            }
            Frame::Down {
                watcher,
                pid,
                monitor,
                reason,
            } => {
                let pid = self.peer_pid(pid)?;
                self.remove_out_monitor(monitor);
                if let Some(watcher) = self.local(node, watcher) {
                    node.remote_down(&watcher, monitor, &pid, reason);
                }
            }
            Frame::Peers(peers) => {
                if let Some(dist) = self.dist.upgrade() {
                    dist.mesh_with(peers);
                }
            }
            Frame::Bye => self.bye.store(true, Ordering::SeqCst),
        }
        Ok(())
    }

    pub(crate) fn send_exit(&self, from: &Pid, to: &Pid, reason: &ExitReason) {
        let _ = self.push(|buf| {
            frame::exit(buf, from, to, true, reason);
            Ok(())
        });
    }

    /// Fails the attempt: it never came up.
    pub(crate) fn fail(self: &Arc<Self>, err: ConnectError) {
        if self.transition(|p| *p == Phase::Connecting, Phase::Failed(Arc::new(err))) {
            self.teardown();
        }
    }

    /// Takes an up connection down (the first reason wins); the reader then tells everyone
    /// that depends on it. An attempt still connecting fails instead.
    pub(crate) fn close(&self, reason: NodeDownReason) {
        // One step decides between the two, so a connection that comes up meanwhile is not
        // missed by both (taken down only if up, failed only if connecting).
        let mut was_up = false;
        let changed = self.phase.send_if_modified(|p| match p {
            Phase::Up => {
                *p = Phase::Down(reason.clone());
                was_up = true;
                true
            }
            Phase::Connecting => {
                *p = Phase::Failed(Arc::new(ConnectError::Closed(reason.clone())));
                true
            }
            Phase::Failed(_) | Phase::Down(_) => false,
        });
        if !changed {
            return;
        }
        if was_up {
            // Gone from `Node::nodes` before its `NodeDown` goes out.
            self.listed.store(false, Ordering::SeqCst);
            tracing::info!(peer = %self.peer, %reason, "node down");
            self.cancel.cancel();
            let mut out = self.out.lock();
            out.open = false;
            out.buf = Vec::new();
        } else if let Some(this) = self.this.upgrade() {
            // Still connecting: the attempt failed, and its queued calls with it.
            this.teardown();
        }
    }

    /// Why a connection that was listed never came up: the reason it was closed with, or
    /// `ConnectionClosed` if it failed otherwise.
    pub(crate) fn closed_reason(&self) -> NodeDownReason {
        match &*self.phase.borrow() {
            Phase::Failed(e) => match &**e {
                ConnectError::Closed(reason) => reason.clone(),
                _ => NodeDownReason::ConnectionClosed,
            },
            Phase::Down(reason) => reason.clone(),
            Phase::Connecting | Phase::Up => NodeDownReason::ConnectionClosed,
        }
    }

    /// Everything that depends on this connection learns it is gone. Runs once: for a
    /// connection that was up, from its reader after the last frame; for a failed attempt,
    /// from `fail`.
    fn teardown(self: &Arc<Self>) {
        let down = match self.phase() {
            Phase::Down(r) => Some(r),
            Phase::Failed(_) => None,
            Phase::Up | Phase::Connecting => return,
        };
        if self.torn_down.send_replace(true) {
            return;
        }
        self.cancel.cancel();
        {
            let mut out = self.out.lock();
            out.open = false;
            out.buf = Vec::new();
        }
        let dist = self.dist.upgrade();
        if let Some(dist) = &dist {
            dist.forget(self);
        }
        let waiting = {
            let mut calls = self.calls.lock();
            calls.closed = true;
            std::mem::take(&mut calls.waiting)
        };
        for (_, tx) in waiting {
            let _ = tx.send(Err(CallError::NodeDown(self.peer.clone())));
        }
        let rel = {
            let mut rel = self.rel.lock();
            rel.closed = true;
            std::mem::take(&mut *rel)
        };
        let Some(dist) = dist else { return };
        let Some(node) = dist.node() else { return };
        for (local, remote) in rel.links {
            node.exit_signal(&remote, &local, ExitReason::NoConnection, true);
        }
        for (monitor, (watcher, target)) in rel.out_monitors {
            node.remote_down(&watcher, monitor, &target, ExitReason::NoConnection);
        }
        for (monitor, (target, watcher)) in rel.in_monitors {
            node.forget_monitor(&watcher, &target, monitor);
        }
        if let Some(reason) = down {
            let visible = self.state.lock().as_ref().is_some_and(|s| !s.hidden) && !dist.me.hidden;
            if visible {
                dist.node_down(&self.peer, reason);
            }
        }
    }
}

/// A pid of this node that is not (or no longer) alive, for replies about it.
fn to_pid_or_gone(node: &Node, p: WirePid<'_>) -> Pid {
    match NodeName::new(p.node) {
        Ok(name) => Pid::new(name, p.id, p.creation),
        Err(_) => node.local_pid(p.id),
    }
}

impl ReplySink for Conn {
    fn reply(&self, call_ref: u64, result: Result<Encode<'_>, CallError>) {
        let max = self.max_frame;
        let sent = match result {
            Ok(encode) => self.push(|buf| frame::reply(buf, max, call_ref, true, |b| encode(b))),
            Err(e) => self.push(|buf| {
                frame::reply(buf, max, call_ref, false, |b| {
                    rmp_serde::encode::write(b, &e)
                })
            }),
        };
        if let Err(e) = sent {
            let err = CallError::BadType(format!("the reply did not encode: {e}"));
            let _ = self.push(|buf| {
                frame::reply(buf, max, call_ref, false, |b| {
                    rmp_serde::encode::write(b, &err)
                })
            });
        }
    }
}

impl CallTable for Conn {
    fn cancel(&self, call_ref: u64) {
        self.calls.lock().waiting.remove(&call_ref);
    }
}
