//! The seam between the node core and distribution: what the node asks of the wire.
//!
//! The node core does not know sockets, frames or protocols. When a pid or name lives on
//! another node, it asks its [`Router`] for the [`Route`] to that node (the connection,
//! started if there is none) and hands the message or signal to it. Distribution implements
//! both: the router is its connection table, a route one connection. Each wire protocol
//! encodes what it is handed in its own format (a [`Payload`] is encoded by the connection,
//! not by the sender), so a second protocol plugs in behind these traits without any change
//! to the code that sends.
//!
//! What a lost or missing connection means for links and monitors (`NoConnection`) is
//! decided here in the node core, once for every protocol.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::oneshot;

use crate::process::{
    CallError, EncodeError, ExitReason, Format, MonitorRef, NodeName, Payload, Pid, WireKind,
};

/// Where a message for another node goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RemoteTarget<'a> {
    Pid(&'a Pid),
    Name(&'a str, &'a NodeName),
}

impl<'a> RemoteTarget<'a> {
    pub(crate) fn node(&self) -> &'a NodeName {
        match *self {
            RemoteTarget::Pid(p) => p.node(),
            RemoteTarget::Name(_, n) => n,
        }
    }

    /// The process on that node the message is for.
    pub(crate) fn addressee(&self) -> Addressee<'a> {
        match *self {
            RemoteTarget::Pid(p) => Addressee::Pid(p),
            RemoteTarget::Name(n, _) => Addressee::Name(n),
        }
    }
}

/// What a message on a connection is addressed to: a process of the peer node, by pid or by
/// registered name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Addressee<'a> {
    Pid(&'a Pid),
    Name(&'a str),
}

/// Distribution as the node core sees it: finds the connection to a node.
pub(crate) trait Router: Send + Sync + 'static {
    /// The connection to `node`, started if there is none; `None` if `node` cannot be
    /// reached at all (the node is shutting down, or cut off from it on purpose). Messages
    /// handed to a connection that is still being set up wait for it.
    fn route(&self, node: &NodeName) -> Option<Arc<dyn Route>>;

    /// The connection to `node` if one exists; never starts one (a link's exit travels only
    /// over the connection the link was made on).
    fn existing(&self, node: &NodeName) -> Option<Arc<dyn Route>>;

    /// Adds (`on`) or removes a process from the node monitors.
    fn monitor_nodes(&self, pid: &Pid, on: bool);

    /// Leaves the cluster: says goodbye to every peer, then stops listening.
    fn shutdown(&self) -> BoxFuture<'_, ()>;

    /// Drops every connection at once, with no goodbye (peers see the connection lost, as
    /// when an OS process dies), and stops listening.
    fn halt(&self);
}

/// One connection to one node, whatever its protocol: it takes outgoing messages and
/// signals, encodes them and queues them for its writer. Every method returns at once.
pub(crate) trait Route: Send + Sync + 'static {
    /// Queues a message (`Send` or `Cast`). Fails only if the payload does not encode;
    /// `Ok(true)` if the connection is busy once the message is queued (a paced sender then
    /// waits with [`until_writable`](Self::until_writable)).
    fn send(
        &self,
        from: &Pid,
        to: Addressee<'_>,
        kind: WireKind,
        type_name: &str,
        payload: &dyn Payload,
    ) -> Result<bool, EncodeError>;

    /// Queues a call; the returned future resolves with the encoded reply.
    fn call(
        self: Arc<Self>,
        from: Option<&Pid>,
        to: Addressee<'_>,
        type_name: &str,
        payload: &dyn Payload,
    ) -> Result<PendingCall, CallError>;

    /// Sends an exit signal from `from` (local) to `to` (on the peer). `via_link`: a linked
    /// process ended, and the link is gone.
    fn exit(&self, from: &Pid, to: &Pid, reason: &ExitReason, via_link: bool);

    /// Links `from` (local) to `to` (on the peer); false if the connection is already gone.
    fn link(&self, from: &Pid, to: &Pid) -> bool;

    /// Removes the link between `from` (local) and `to` (on the peer).
    fn unlink(&self, from: &Pid, to: &Pid);

    /// `watcher` (local) monitors `target` (on the peer); false if the connection is
    /// already gone.
    fn monitor(&self, watcher: &Pid, target: &Pid, monitor: MonitorRef) -> bool;

    /// Removes a monitor made with [`monitor`](Self::monitor).
    fn demonitor(&self, watcher: &Pid, target: &Pid, monitor: MonitorRef);

    /// Tells `to` (on the peer) that `pid` (local), which it monitors, ended.
    fn down(&self, to: &Pid, monitor: MonitorRef, pid: &Pid, reason: &ExitReason);

    /// A future that resolves once the connection is not busy (too much queued), or `None`
    /// if it is not busy now.
    fn until_writable(self: Arc<Self>) -> Option<BoxFuture<'static, ()>>;

    /// Whether the peer speaks Erlang distribution (a BEAM node); false while its protocol
    /// is not yet known.
    fn is_erlang(&self) -> bool {
        false
    }
}

/// Lets a pending call be forgotten when its caller stops waiting.
pub(crate) trait CallTable: Send + Sync + 'static {
    fn cancel(&self, call_ref: u64);
}

/// A call sent to another node, waiting for its reply.
pub(crate) struct PendingCall {
    /// The reply, in the format of the protocol that carried it.
    pub(crate) rx: oneshot::Receiver<Result<(Format, Bytes), CallError>>,
    pub(crate) table: Arc<dyn CallTable>,
    pub(crate) call_ref: u64,
    pub(crate) node: NodeName,
}

impl Future for PendingCall {
    type Output = Result<(Format, Bytes), CallError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let node = self.node.clone();
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(CallError::NodeDown(node))))
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        self.table.cancel(self.call_ref);
    }
}
