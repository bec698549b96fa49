//! The context a process runs with: its identity, its mailbox and the signals it can send.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use super::{Node, TimerRef};
use crate::process::{
    Dest, Envelope, ExitReason, IntoExitReason, Kind, Message, MonitorRef, NoProcError, Pid,
    RegisterError, SendError, Signal, TypedCell, is_down_of,
};

/// What a running process owns: its pid, its node, and the receiving end of its mailbox.
///
/// A process function receives its `Ctx` by value and keeps it for its whole life. `M` is the
/// type of the messages it accepts; system signals (exits, monitors) come through the same
/// [`recv`](Ctx::recv), in order.
///
/// # Examples
///
/// ```
/// use locus::{Node, Signal};
///
/// # #[tokio::main] async fn main() {
/// let node = Node::builder().start().await.unwrap();
/// let echo = node.spawn(|mut ctx: locus::Ctx<(locus::Pid, String)>| async move {
///     while let Signal::Message((from, text)) = ctx.recv().await {
///         let _ = ctx.send(&from, text);
///     }
/// });
/// # drop(echo);
/// # }
/// ```
pub struct Ctx<M> {
    cell: Arc<TypedCell<M>>,
    node: Node,
    /// Envelopes already taken from the shared queue, in order.
    buf: VecDeque<Envelope<M>>,
    /// A stop requested by a GenServer callback (see `ServerCtx::stop`).
    stop: Option<Box<ExitReason>>,
}

impl<M> fmt::Debug for Ctx<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("pid", self.cell.core.pid())
            .finish_non_exhaustive()
    }
}

impl<M: Send + 'static> Ctx<M> {
    pub(crate) fn new(cell: Arc<TypedCell<M>>, node: Node) -> Self {
        Self {
            cell,
            node,
            buf: VecDeque::new(),
            stop: None,
        }
    }

    /// Asks a GenServer to stop with `reason` once the current callback returns (before
    /// the next message): `terminate` runs, then the server exits. A call being handled is
    /// answered first if the callback replied. Has no effect on a plain process, which stops
    /// by returning.
    pub fn stop(&mut self, reason: ExitReason) {
        self.stop = Some(Box::new(reason));
    }

    pub(crate) fn take_stop(&mut self) -> Option<ExitReason> {
        self.stop.take().map(|r| *r)
    }

    /// This process's pid.
    pub fn pid(&self) -> &Pid {
        self.cell.core.pid()
    }

    /// The node this process runs on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// A typed handle to this process, to give to others.
    pub fn addr(&self) -> Addr<M> {
        Addr {
            cell: self.cell.clone(),
        }
    }

    /// Waits for the next message or system signal.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, nothing is lost.
    pub async fn recv(&mut self) -> Signal<M> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Like [`recv`](Self::recv), giving up after `timeout` (Erlang's `receive ... after`).
    /// Returns `None` on timeout.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Option<Signal<M>> {
        tokio::time::timeout(timeout, self.recv()).await.ok()
    }

    /// Takes the next message or signal if one is queued; never waits.
    pub fn try_recv(&mut self) -> Option<Signal<M>> {
        if self.buf.is_empty() {
            self.cell.mailbox.take_now(&mut self.buf);
        }
        self.buf.pop_front().map(open)
    }

    /// Polls for the next message or signal. Takes part in tokio's cooperative budget, so a
    /// process with an endless backlog still lets other tasks on its thread run.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Signal<M>> {
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        if self.buf.is_empty() {
            ready!(self.cell.mailbox.poll_take(&mut self.buf, cx));
        }
        match self.buf.pop_front() {
            Some(env) => {
                coop.made_progress();
                Poll::Ready(open(env))
            }
            None => Poll::Pending,
        }
    }

    /// Messages and signals waiting in the mailbox.
    pub fn mailbox_len(&self) -> usize {
        self.buf.len() + self.cell.mailbox.len()
    }

    /// Turns exit signals into [`Signal::Exit`] messages (`true`) or back into deaths
    /// (`false`, the default). A [`ExitReason::Kill`] cannot be trapped.
    pub fn trap_exit(&self, on: bool) {
        self.cell.core.set_trap_exit(on);
    }

    /// Links this process to `pid`: when either ends abnormally, the other receives an exit
    /// signal. Linking twice is the same as once.
    ///
    /// # Errors
    ///
    /// [`NoProcError`] if `pid` is not alive; nothing is linked then.
    pub fn link(&self, pid: &Pid) -> Result<(), NoProcError> {
        self.node.link(self.pid(), pid)
    }

    /// Removes a link. No exit signal from `pid` arrives through it afterwards, though one
    /// already queued stays queued.
    pub fn unlink(&self, pid: &Pid) {
        self.node.unlink(self.pid(), pid);
    }

    /// Monitors `pid`: exactly one [`Signal::Down`] arrives when it ends, at once with
    /// [`ExitReason::NoProc`] if it is not alive.
    pub fn monitor(&self, pid: &Pid) -> MonitorRef {
        self.node.monitor(self.pid(), pid)
    }

    /// Removes a monitor. Its `Down` is not delivered afterwards, and one already queued is
    /// removed from the mailbox.
    pub fn demonitor(&mut self, monitor: MonitorRef) {
        self.node.demonitor(self.pid(), monitor);
        self.buf.retain(|env| !is_down_of(env, monitor));
        self.cell.mailbox.retain(|env| !is_down_of(env, monitor));
    }

    /// Sends `msg` to `dest`, on this node or another, from this process. See
    /// [`Node::send`].
    ///
    /// # Errors
    ///
    /// See [`Node::send`].
    pub fn send<T: Message>(&self, dest: impl Into<Dest>, msg: T) -> Result<(), SendError<T>> {
        self.node.send_from(self.pid(), dest.into(), msg)
    }

    /// Sends a message that cannot be serialized to a process of this node. See
    /// [`Node::send_local`].
    ///
    /// # Errors
    ///
    /// See [`Node::send`].
    pub fn send_local<T: Send + 'static>(
        &self,
        dest: impl Into<Dest>,
        msg: T,
    ) -> Result<(), SendError<T>> {
        self.node.send_local(dest, msg)
    }

    /// Subscribes this process to node events (Erlang's `net_kernel:monitor_nodes(true)`):
    /// [`Signal::NodeUp`] and [`Signal::NodeDown`] for every visible node. `false`
    /// unsubscribes.
    pub fn monitor_nodes(&self, on: bool) {
        if let Some(router) = self.node.router() {
            router.monitor_nodes(self.pid(), on);
        }
    }

    /// Sends `msg` to `dest` after `delay` (Erlang's `send_after`). The returned reference
    /// cancels it.
    pub fn send_after<T: Message>(
        &self,
        dest: impl Into<Dest>,
        msg: T,
        delay: Duration,
    ) -> TimerRef {
        self.node.send_after(dest, msg, delay)
    }

    /// Sends an exit signal to `pid` from this process. See [`Node::exit`].
    pub fn exit(&self, pid: &Pid, reason: ExitReason) {
        self.node.exit_signal(self.pid(), pid, reason, false);
    }

    /// Registers this process under `name` on its node.
    ///
    /// # Errors
    ///
    /// See [`RegisterError`].
    pub fn register(&self, name: &str) -> Result<(), RegisterError> {
        self.node.register(name, self.pid())
    }

    /// Spawns a process linked to this one (Erlang's `spawn_link`): the link exists before
    /// the child runs, so no exit can be missed.
    pub fn spawn_link<N, F, Fut>(&self, f: F) -> Addr<N>
    where
        N: Message,
        F: FnOnce(Ctx<N>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let cell = self.node.new_cell(Kind::<N>::exact(), false);
        self.node.start_cell(cell, Some(self.pid()), f)
    }

    /// Spawns a process and monitors it (Erlang's `spawn_monitor`).
    pub fn spawn_monitor<N, F, Fut>(&self, f: F) -> (Addr<N>, MonitorRef)
    where
        N: Message,
        F: FnOnce(Ctx<N>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let cell = self.node.new_cell(Kind::<N>::exact(), false);
        let monitor = self.monitor(cell.core.pid());
        (self.node.start_cell(cell, None, f), monitor)
    }
}

fn open<M>(env: Envelope<M>) -> Signal<M> {
    match env {
        Envelope::Msg(m) => Signal::Message(m),
        Envelope::Sig(sig) => sig.into_signal(),
    }
}

/// A typed handle to a local process: sends without looking the pid up.
///
/// Cloning is cheap. An `Addr` to a process that has exited stays valid; sends through it
/// fail with [`SendError::NoProc`].
pub struct Addr<M> {
    cell: Arc<TypedCell<M>>,
}

impl<M> Clone for Addr<M> {
    fn clone(&self) -> Self {
        Self {
            cell: self.cell.clone(),
        }
    }
}

impl<M> fmt::Debug for Addr<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Addr({})", self.cell.core.pid())
    }
}

impl<M: Send + 'static> Addr<M> {
    pub(crate) fn from_cell(cell: Arc<TypedCell<M>>) -> Self {
        Self { cell }
    }

    /// The process's pid.
    pub fn pid(&self) -> &Pid {
        self.cell.core.pid()
    }

    /// Queues `msg` in the process's mailbox.
    ///
    /// # Errors
    ///
    /// [`SendError::NoProc`] with the message if the process has exited.
    pub fn send(&self, msg: M) -> Result<(), SendError<M>> {
        self.cell.push_msg(msg).map_err(SendError::NoProc)
    }

    /// Whether the process is still running.
    pub fn is_alive(&self) -> bool {
        self.cell.core.is_alive()
    }
}

impl<M> From<Addr<M>> for Dest {
    fn from(a: Addr<M>) -> Self {
        Dest::Pid(a.cell.core.pid().clone())
    }
}

impl<M> From<&Addr<M>> for Dest {
    fn from(a: &Addr<M>) -> Self {
        Dest::Pid(a.cell.core.pid().clone())
    }
}
