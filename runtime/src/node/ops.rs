//! Operations on processes by pid or name: send, exit signals, links, monitors, names.
//!
//! Everything here is synchronous and takes effect at once on this node; a pid of another
//! node is handed to the distribution layer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use futures::future::BoxFuture;

use super::wire::{PendingCall, RemoteTarget, Route};
use super::{Node, NodeName};
use crate::process::{
    CallError, Delivery, Dest, Down, Exit, ExitReason, Incoming, Message, MonitorRef, NoProcError,
    Payload, Pid, ProcessCell, RegisterError, Rejected, SendError, SysSignal, Unexpected, Watcher,
    WireKind, current_pid_id, wire_name,
};

impl Node {
    /// Whether `pid` belongs to this incarnation of this node.
    pub(crate) fn is_local(&self, pid: &Pid) -> bool {
        pid.creation() == self.creation()
            && (pid.node().same_alloc(self.name()) || pid.node() == self.name())
    }

    /// The local process with this pid, if alive.
    pub(crate) fn cell(&self, pid: &Pid) -> Option<Arc<dyn ProcessCell>> {
        if self.is_local(pid) {
            self.procs().get(pid.id())
        } else {
            None
        }
    }

    fn with_cell<R>(&self, pid: &Pid, f: impl FnOnce(&dyn ProcessCell) -> R) -> Option<R> {
        if self.is_local(pid) {
            self.procs().with(pid.id(), f)
        } else {
            None
        }
    }

    /// The pid of the local process with this id.
    pub(crate) fn local_pid(&self, id: u64) -> Pid {
        Pid::new(self.name().clone(), id, self.creation())
    }

    /// The pid used as the sender of signals that come from the node itself rather than from
    /// a process (for example [`Node::exit`]).
    pub(crate) fn node_pid(&self) -> Pid {
        Pid::new(self.name().clone(), 0, self.creation())
    }

    /// Whether `pid` names this node but an earlier incarnation of it: such a process is gone.
    pub(crate) fn is_stale(&self, pid: &Pid) -> bool {
        pid.creation() != self.creation() && pid.node() == self.name()
    }

    /// The remote form of `dest`, if it is on another node.
    pub(crate) fn remote_target<'a>(&self, dest: &'a Dest) -> Option<RemoteTarget<'a>> {
        match dest {
            Dest::Pid(p) if !self.is_local(p) && !self.is_stale(p) => Some(RemoteTarget::Pid(p)),
            Dest::Remote(name, node) if node != self.name() => Some(RemoteTarget::Name(name, node)),
            _ => None,
        }
    }

    /// Sends `msg` to `dest`: a pid, a local name, or `(name, node)`, on this node or another
    /// (Erlang's `send/2`).
    ///
    /// A local send moves the value into the mailbox; nothing is serialized. A remote send
    /// encodes it once into the connection's buffer. Messages from one sender to one process
    /// arrive in the order sent.
    ///
    /// # Errors
    ///
    /// For a local destination, [`SendError::NoProc`] if the process is gone or the name is
    /// not registered, and [`SendError::BadType`] if the process takes another message type;
    /// the message is handed back. A remote destination that is missing or unreachable is
    /// not an error: the message is dropped there, as in Erlang.
    pub fn send<T: Message>(&self, dest: impl Into<Dest>, msg: T) -> Result<(), SendError<T>> {
        let from = self.node_pid();
        self.send_from(&from, dest.into(), msg)
    }

    /// Sends a message that cannot be serialized to a process on this node. A destination on
    /// another node drops it (and logs why).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_local<T: Send + 'static>(
        &self,
        dest: impl Into<Dest>,
        msg: T,
    ) -> Result<(), SendError<T>> {
        let dest = dest.into();
        if self.remote_target(&dest).is_some() {
            tracing::warn!(%dest, type_name = wire_name::<T>(), "a local-only message cannot go to another node; dropped");
            return Ok(());
        }
        self.send_local_from(&dest, msg)
    }

    fn send_local_from<T: Send + 'static>(&self, dest: &Dest, msg: T) -> Result<(), SendError<T>> {
        let mut slot = Some(msg);
        let outcome = self.deliver_to(dest, &mut slot, false);
        match (outcome, slot) {
            (DeliverTo::WrongType, Some(msg)) => Err(SendError::BadType(msg)),
            (DeliverTo::NoProc, Some(msg)) => Err(SendError::NoProc(msg)),
            // Unreachable destinations drop the message, as in Erlang.
            _ => Ok(()),
        }
    }

    pub(crate) fn send_from<T: Message>(
        &self,
        from: &Pid,
        dest: Dest,
        msg: T,
    ) -> Result<(), SendError<T>> {
        match self.remote_target(&dest) {
            Some(target) => {
                let _busy = self.send_remote(from, target, WireKind::Send, wire_name::<T>(), &msg);
                Ok(())
            }
            None => self.send_local_from(&dest, msg),
        }
    }

    /// The connection to `node`, started if there is none; `None` without distribution
    /// or if `node` cannot be reached.
    pub(crate) fn route_to(&self, node: &NodeName) -> Option<Arc<dyn Route>> {
        self.router()?.route(node)
    }

    /// Whether `node` is connected and is a BEAM node (it speaks Erlang distribution).
    pub(crate) fn peer_is_erlang(&self, node: &NodeName) -> bool {
        self.existing_route(node).is_some_and(|r| r.is_erlang())
    }

    /// Whether a connection to `node` exists (up or being set up).
    pub(crate) fn has_route(&self, node: &NodeName) -> bool {
        self.existing_route(node).is_some()
    }

    /// The connection to `node` if one exists (never starts one).
    fn existing_route(&self, node: &NodeName) -> Option<Arc<dyn Route>> {
        self.router()?.existing(node)
    }

    /// Hands a message to the connection to its node; without one the node is unreachable
    /// and the message is dropped. True if the connection is busy once the message is
    /// queued (see [`Route::until_writable`]).
    pub(crate) fn send_remote(
        &self,
        from: &Pid,
        target: RemoteTarget<'_>,
        kind: WireKind,
        type_name: &str,
        payload: &dyn Payload,
    ) -> bool {
        let Some(route) = self.route_to(target.node()) else {
            tracing::debug!(node = %target.node(), "unreachable: message to another node dropped");
            return false;
        };
        match route.send(from, target.addressee(), kind, type_name, payload) {
            Ok(busy) => busy,
            Err(e) => {
                tracing::warn!(node = %target.node(), type_name, error = %e, "message could not be encoded; dropped");
                false
            }
        }
    }

    /// Sends a call to a process of another node; the returned future resolves with the
    /// encoded reply.
    pub(crate) fn call_remote(
        &self,
        from: Option<&Pid>,
        target: RemoteTarget<'_>,
        type_name: &str,
        payload: &dyn Payload,
    ) -> Result<PendingCall, CallError> {
        let route = self
            .route_to(target.node())
            .ok_or_else(|| CallError::NodeDown(target.node().clone()))?;
        route.call(from, target.addressee(), type_name, payload)
    }

    /// If the connection to `node` is busy (too much queued), a future that resolves once it
    /// is not; `None` if it is not busy.
    pub(crate) fn until_writable(&self, node: &NodeName) -> Option<BoxFuture<'static, ()>> {
        self.existing_route(node)?.until_writable()
    }

    /// Offers the value in `slot` to the process at `dest`. On success the slot is emptied;
    /// otherwise the value stays there. With `refuse_self`, a destination that is the
    /// process being run on this thread is refused (a call to oneself).
    pub(crate) fn deliver_to<T: Send + 'static>(
        &self,
        dest: &Dest,
        slot: &mut Option<T>,
        refuse_self: bool,
    ) -> DeliverTo {
        let me = if refuse_self {
            current_pid_id(self.key())
        } else {
            None
        };
        let offer = |cell: &dyn ProcessCell| {
            if me.is_some() && me == Some(cell.core().pid().id()) {
                return DeliverTo::CallingSelf;
            }
            match cell.deliver(slot) {
                Delivery::Queued => DeliverTo::Queued,
                Delivery::WrongType => DeliverTo::WrongType,
                Delivery::Closed => DeliverTo::NoProc,
            }
        };
        let outcome = match dest {
            Dest::Pid(pid) if self.is_local(pid) => self.procs().with(pid.id(), offer),
            Dest::Pid(pid) if self.is_stale(pid) => return DeliverTo::NoProc,
            Dest::Pid(pid) => return DeliverTo::Unreachable(pid.node().clone()),
            Dest::Name(name) => self.names().with(name, offer),
            Dest::Remote(name, node) if node == self.name() => self.names().with(name, offer),
            Dest::Remote(_, node) => return DeliverTo::Unreachable(node.clone()),
        };
        outcome.unwrap_or(DeliverTo::NoProc)
    }

    /// Sends an exit signal to `pid` (Erlang's `exit/2`), from the node itself.
    ///
    /// - [`ExitReason::Kill`] kills the process even if it traps exits; it ends with
    ///   [`ExitReason::Killed`].
    /// - A process that traps exits receives [`Signal::Exit`](crate::Signal::Exit) instead.
    /// - Otherwise [`ExitReason::Normal`] is ignored and any other reason kills the process
    ///   with that reason.
    pub fn exit(&self, pid: &Pid, reason: ExitReason) {
        let from = self.node_pid();
        self.exit_signal(&from, pid, reason, false);
    }

    /// Delivers an exit signal. `via_link` says it comes from a linked process that ended
    /// (the link is then gone) rather than from an `exit` call.
    pub(crate) fn exit_signal(&self, from: &Pid, to: &Pid, reason: ExitReason, via_link: bool) {
        if !self.is_local(to) {
            if self.is_stale(to) {
                return;
            }
            // A link's exit travels only over the connection the link was made on; an
            // `exit` call connects if needed, as any message does.
            let route = if via_link {
                self.existing_route(to.node())
            } else {
                self.route_to(to.node())
            };
            if let Some(route) = route {
                route.exit(from, to, &reason, via_link);
            }
            return;
        }
        self.with_cell(to, |cell| {
            let core = cell.core();
            // A link's exit counts only while the link exists: after an unlink, an exit
            // already on its way is ignored.
            if via_link && !core.remove_link(from) {
                return;
            }
            if reason == ExitReason::Kill && !via_link {
                core.kill(ExitReason::Killed);
            } else if core.traps_exits() {
                cell.push_signal(SysSignal::Exit(Exit {
                    from: from.clone(),
                    reason,
                }));
            } else if reason != ExitReason::Normal {
                core.kill(reason);
            }
        });
    }

    /// Links `a` (the caller, alive and local) and `b`.
    pub(crate) fn link(&self, a: &Pid, b: &Pid) -> Result<(), NoProcError> {
        // `a` first: if `b` turns out dead we undo; if `b` dies after accepting the link, its
        // exit reaches `a` through it.
        self.with_cell(a, |cell| cell.core().add_link(b));
        if self.add_link_to(b, a) {
            Ok(())
        } else {
            self.with_cell(a, |cell| cell.core().remove_link(b));
            Err(NoProcError(b.clone()))
        }
    }

    /// Records in `target` a link to `other`; false if `target` is not alive. For a target
    /// on another node the link is sent there; if that process is gone, an exit signal with
    /// [`ExitReason::NoProc`] comes back.
    pub(crate) fn add_link_to(&self, target: &Pid, other: &Pid) -> bool {
        if !self.is_local(target) {
            if self.is_stale(target) || self.router().is_none() {
                return false;
            }
            let linked = self
                .route_to(target.node())
                .is_some_and(|route| route.link(other, target));
            if !linked {
                // The connection is already gone: the link breaks at once.
                self.exit_signal(target, other, ExitReason::NoConnection, true);
            }
            return true;
        }
        self.with_cell(target, |cell| cell.core().add_link(other))
            .unwrap_or(false)
    }

    /// Removes from the local process `local` its link to `other` (the other side unlinked).
    pub(crate) fn remove_link_from(&self, local: &Pid, other: &Pid) {
        self.with_cell(local, |cell| cell.core().remove_link(other));
    }

    pub(crate) fn unlink(&self, a: &Pid, b: &Pid) {
        self.with_cell(a, |cell| cell.core().remove_link(b));
        if self.is_local(b) {
            self.with_cell(b, |cell| cell.core().remove_link(a));
        } else if let Some(route) = self.existing_route(b.node()) {
            route.unlink(a, b);
        }
    }

    /// `watcher` (local) monitors `target`.
    pub(crate) fn monitor(&self, watcher: &Pid, target: &Pid) -> MonitorRef {
        let monitor = self.make_ref();
        // The watcher records the monitor first: a `Down` fired at once (or by a target
        // ending right now) finds it and is delivered exactly once.
        self.with_cell(watcher, |cell| {
            cell.core().add_watching(monitor, target.clone())
        });
        if !self.is_local(target) {
            if self.is_stale(target) || self.router().is_none() {
                self.deliver_down(watcher, monitor, target, ExitReason::NoProc);
            } else if !self
                .route_to(target.node())
                .is_some_and(|route| route.monitor(watcher, target, monitor))
            {
                self.deliver_down(watcher, monitor, target, ExitReason::NoConnection);
            }
            return monitor;
        }
        let added = self
            .with_cell(target, |cell| {
                cell.core()
                    .add_watcher(monitor, Watcher::Process(watcher.clone()))
                    .is_ok()
            })
            .unwrap_or(false);
        if !added {
            self.deliver_down(watcher, monitor, target, ExitReason::NoProc);
        }
        monitor
    }

    pub(crate) fn demonitor(&self, watcher: &Pid, monitor: MonitorRef) {
        let target = self.with_cell(watcher, |cell| cell.core().remove_watching(monitor));
        if let Some(Some(target)) = target {
            self.forget_monitor(watcher, &target, monitor);
        }
    }

    /// Removes a monitor from its target's list (the watcher demonitored or ended).
    pub(crate) fn forget_monitor(&self, watcher: &Pid, target: &Pid, monitor: MonitorRef) {
        if self.is_local(target) {
            self.with_cell(target, |cell| {
                cell.core().remove_watcher(monitor, Some(watcher))
            });
        } else if let Some(route) = self.existing_route(target.node()) {
            route.demonitor(watcher, target, monitor);
        }
    }

    /// Delivers the `Down` of monitor `monitor` (held by `to` on `pid`), once: a local
    /// watcher gets it only if it still holds the monitor (not after a demonitor).
    pub(crate) fn deliver_down(
        &self,
        to: &Pid,
        monitor: MonitorRef,
        pid: &Pid,
        reason: ExitReason,
    ) {
        if !self.is_local(to) {
            if !self.is_stale(to)
                && let Some(route) = self.existing_route(to.node())
            {
                route.down(to, monitor, pid, &reason);
            }
            return;
        }
        self.with_cell(to, |cell| {
            cell.core().remove_watching_then(monitor, pid, || {
                cell.push_signal(SysSignal::Down(Down {
                    monitor,
                    pid: pid.clone(),
                    reason,
                }));
            })
        });
    }

    /// A `Down` from another node for a local watcher.
    pub(crate) fn remote_down(&self, to: &Pid, monitor: MonitorRef, pid: &Pid, reason: ExitReason) {
        self.deliver_down(to, monitor, pid, reason);
    }

    /// A monitor from another node on a local process; false if the process is not alive.
    pub(crate) fn add_remote_watcher(
        &self,
        target: &Pid,
        monitor: MonitorRef,
        watcher: &Pid,
    ) -> bool {
        self.with_cell(target, |cell| {
            cell.core()
                .add_watcher(monitor, Watcher::Process(watcher.clone()))
                .is_ok()
        })
        .unwrap_or(false)
    }

    /// Offers a message from another node to the local process at `dest`. A plain message
    /// the process cannot take is reported to it as [`Signal::Unexpected`] and counted; a
    /// rejected call comes back with its return address so the caller can be told.
    pub(crate) fn deliver_incoming(
        &self,
        dest: IncomingDest<'_>,
        msg: Incoming<'_>,
    ) -> Result<(), Rejected> {
        let found = match dest {
            IncomingDest::Id(id) => self.procs().get(id),
            IncomingDest::Name(name) => self.names().get(name),
        };
        let Some(cell) = found else {
            return Err(Rejected {
                error: CallError::NoProc,
                reply_to: msg.reply_to,
            });
        };
        let limit = self.max_mailbox();
        if cell.mailbox_len() >= limit {
            // Bounded memory: the process is not keeping up with what other nodes send it.
            let dropped = self.count_overload_drop();
            if dropped.is_power_of_two() || dropped == 0 {
                tracing::warn!(to = %cell.core().pid(), limit, total_dropped = dropped + 1,
                    "mailbox full: dropping messages from other nodes");
            }
            return Err(Rejected {
                error: CallError::Overloaded(limit),
                reply_to: msg.reply_to,
            });
        }
        // Kept for the report of a message the process cannot take (the type name stays
        // borrowed from the frame: nothing is copied for a message that is taken).
        let from = msg.from.clone();
        let type_name = msg.type_name;
        let rejected = match cell.deliver_remote(msg) {
            Ok(()) => return Ok(()),
            Err(r) => r,
        };
        if rejected.reply_to.is_none() {
            self.count_undeliverable();
            tracing::debug!(to = %cell.core().pid(), %type_name, error = %rejected.error, "undeliverable message");
            cell.push_signal(SysSignal::Unexpected(Unexpected {
                from,
                type_name: type_name.to_owned(),
                error: rejected.error.to_string(),
            }));
        }
        Err(rejected)
    }

    /// Queues a system signal for a local process.
    pub(crate) fn push_signal(&self, to: &Pid, sig: SysSignal) -> bool {
        self.with_cell(to, |cell| cell.push_signal(sig))
            .unwrap_or(false)
    }

    /// Waits for a process to end, from anywhere (no process needed): the returned future
    /// resolves to its exit reason, or at once to [`ExitReason::NoProc`] if it is not alive.
    ///
    /// The watch is registered when this method returns, so an exit that happens before the
    /// future is first polled is not missed.
    pub fn watch(&self, pid: &Pid) -> ExitWatch {
        let (tx, rx) = oneshot::channel();
        let monitor = self.make_ref();
        let registered = self.with_cell(pid, |cell| {
            cell.core().add_watcher(monitor, Watcher::Waiter(tx))
        });
        match registered {
            Some(Ok(())) => ExitWatch {
                rx: Some(rx),
                forget: Some((self.clone(), pid.clone(), monitor)),
            },
            _ => ExitWatch {
                rx: None,
                forget: None,
            },
        }
    }

    /// Whether `pid` is a live process of this node.
    pub fn is_alive(&self, pid: &Pid) -> bool {
        self.with_cell(pid, |cell| cell.core().is_alive())
            .unwrap_or(false)
    }

    /// Number of messages waiting in the mailbox of the local process `pid` (not counting
    /// those it has already taken but not handled).
    pub fn mailbox_len(&self, pid: &Pid) -> Option<usize> {
        self.with_cell(pid, |cell| cell.mailbox_len())
    }

    /// Number of live processes on this node.
    pub fn process_count(&self) -> usize {
        self.procs().len()
    }

    /// The process registered as `name` on this node (Erlang's `whereis/1`).
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.names().whereis(name)
    }

    /// Registers `pid` under `name` on this node (Erlang's `register/2`). The name is freed
    /// when the process ends.
    ///
    /// # Errors
    ///
    /// [`RegisterError::Taken`] names the current holder; a process has at most one name; the
    /// process must be alive and local; names are 1 to 255 bytes without '@'.
    pub fn register(&self, name: &str, pid: &Pid) -> Result<(), RegisterError> {
        let cell = self
            .cell(pid)
            .ok_or_else(|| RegisterError::NoProc(pid.clone()))?;
        self.register_cell(name, cell)
    }

    pub(crate) fn register_cell(
        &self,
        name: &str,
        cell: Arc<dyn ProcessCell>,
    ) -> Result<(), RegisterError> {
        self.names().register(name, cell)
    }

    /// Removes a registered name (Erlang's `unregister/1`). Returns the pid that held it.
    pub fn unregister(&self, name: &str) -> Option<Pid> {
        self.names().unregister(name)
    }

    /// Every name registered on this node, sorted.
    pub fn registered(&self) -> Vec<String> {
        self.names().names()
    }
}

/// A local process addressed by a message from another node.
#[derive(Debug, Clone, Copy)]
pub(crate) enum IncomingDest<'a> {
    Id(u64),
    Name(&'a str),
}

/// The outcome of [`Node::deliver_to`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeliverTo {
    Queued,
    NoProc,
    WrongType,
    CallingSelf,
    /// The destination is on a node that cannot be reached.
    Unreachable(NodeName),
}

/// Resolves to the exit reason of a watched process. See [`Node::watch`].
pub struct ExitWatch {
    rx: Option<oneshot::Receiver<ExitReason>>,
    /// Where the watch is registered, to remove it if the watch is dropped unresolved.
    forget: Option<(Node, Pid, MonitorRef)>,
}

impl Drop for ExitWatch {
    fn drop(&mut self) {
        if let Some((node, pid, monitor)) = self.forget.take() {
            node.with_cell(&pid, |cell| cell.core().remove_watcher(monitor, None));
        }
    }
}

impl fmt::Debug for ExitWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExitWatch").finish_non_exhaustive()
    }
}

impl Future for ExitWatch {
    type Output = ExitReason;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ExitReason> {
        let polled = match &mut self.rx {
            None => Poll::Ready(ExitReason::NoProc),
            Some(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(ExitReason::NoProc)),
        };
        if polled.is_ready() {
            self.forget = None;
        }
        polled
    }
}
