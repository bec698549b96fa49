//! One connection to one peer node: an output buffer, a writer task, a reader task, the
//! calls waiting for replies on it, and the links and monitors that cross it.
//!
//! - **Output** (`output`): senders encode frames straight into one buffer; the writer task
//!   writes it whole, so under load many frames share a syscall. Frames queued while the
//!   connection is being set up are written once it is up.
//! - **Input** (`input`): the reader task cuts what it reads into frames and hands each to
//!   the local process it names, in order. A frame that does not parse closes this
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

mod erlang;
mod input;
mod output;
mod spin;

pub(crate) use spin::SpinClaim;
#[cfg(test)]
pub(crate) use spin::Spinner;

use output::Outbox;
pub(crate) use output::Wire;

use super::transport::{Reader, Writer};
use bytes::Bytes;
use parking_lot::Mutex;
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ConnectError, Dist};
use crate::node::{CallTable, Node, NodeDownReason, NodeName};
use crate::process::{CallError, ExitReason, Format, MonitorRef, Pid};

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

type ReplyTx = oneshot::Sender<Result<(Format, Bytes), CallError>>;

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
    /// The node's right to spin, shared by its connections.
    spin_claim: Arc<SpinClaim>,
    /// Whether the reader's last read held more than one frame: requests come in bursts,
    /// and what answers them is worth gathering into one write.
    bursty: AtomicBool,
    /// Traffic counters, for introspection.
    pub(crate) stats: ConnStats,
    /// When the connection came up.
    up_since: Mutex<Option<std::time::SystemTime>>,
    /// This node's name and creation, for the pids and references it writes for a BEAM peer.
    me: NodeName,
    creation: u32,
    /// Whether the peer is a BEAM node (the connection speaks Erlang distribution).
    erlang: AtomicBool,
    /// What a connection to a BEAM node keeps beside the rest.
    erl: Mutex<erlang::ErlState>,
    /// The ids of `UNLINK_ID`s sent to a BEAM node.
    unlink_ids: AtomicU64,
    /// Functions a BEAM peer runs here now (`:erpc`), bounded.
    rpcs_running: std::sync::atomic::AtomicUsize,
}

/// The largest output or input buffer kept while a connection is idle.
const MAX_IDLE_BUFFER: usize = 1024 * 1024;

/// The longest a connection to a BEAM node stays silent (see [`Conn::spawn_io`]).
const ERLANG_TICK_INTERVAL: Duration = Duration::from_secs(1);

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
    /// A connection (attempt) to `peer`, its frames encoded for `wire`.
    pub(crate) fn new(dist: &Arc<Dist>, peer: NodeName, wire: Wire) -> Arc<Self> {
        Arc::new_cyclic(|this| Self {
            this: this.clone(),
            dist: Arc::downgrade(dist),
            peer,
            state: Mutex::new(None),
            phase: watch::channel(Phase::Connecting).0,
            out: Mutex::new(Outbox::new(wire)),
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
            spin_claim: dist.spin_claim.clone(),
            stats: ConnStats::default(),
            bursty: AtomicBool::new(false),
            up_since: Mutex::new(None),
            me: dist.me.name.clone(),
            creation: dist.me.creation,
            erlang: AtomicBool::new(wire == Wire::Erlang),
            erl: Mutex::new(erlang::ErlState::default()),
            unlink_ids: AtomicU64::new(1),
            rpcs_running: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The spin window and the claim this connection spins under (for tests).
    #[cfg(test)]
    pub(crate) fn spin_settings(&self) -> (Duration, &Arc<SpinClaim>) {
        (self.spin, &self.spin_claim)
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
        // A BEAM peer's tick time is its own (`net_ticktime`, as low as a few seconds) and
        // the handshake does not tell it: a tick each second keeps any setting content.
        let tick_interval = if self.erlang.load(Ordering::SeqCst) {
            tick_interval.min(ERLANG_TICK_INTERVAL)
        } else {
            tick_interval
        };
        tokio::spawn(self.clone().write_loop(writer, tick_time, tick_interval));
        if self.erlang.load(Ordering::SeqCst) {
            tokio::spawn(self.clone().erlang_read_loop(reader, node.clone()));
        } else {
            tokio::spawn(self.clone().read_loop(reader, node.clone()));
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
            self.out.lock().close();
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
        self.out.lock().close();
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

impl CallTable for Conn {
    fn cancel(&self, call_ref: u64) {
        self.calls.lock().waiting.remove(&call_ref);
        // A call to a BEAM process also ends its monitor.
        self.forget_erl_call(call_ref);
    }
}
