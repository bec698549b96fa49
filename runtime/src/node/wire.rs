//! The seam between the node core and distribution: what the node asks of the wire.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::process::{
    CallError, Encode, EncodeError, ExitReason, MonitorRef, NodeName, Pid, WireKind,
};

/// Where a message for another node goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RemoteTarget<'a> {
    Pid(&'a Pid),
    Name(&'a str, &'a NodeName),
}

impl RemoteTarget<'_> {
    pub(crate) fn node(&self) -> &NodeName {
        match self {
            RemoteTarget::Pid(p) => p.node(),
            RemoteTarget::Name(_, n) => n,
        }
    }
}

/// Lets a pending call be forgotten when its caller stops waiting.
pub(crate) trait CallTable: Send + Sync + 'static {
    fn cancel(&self, call_ref: u64);
}

/// A call sent to another node, waiting for its reply.
pub(crate) struct PendingCall {
    pub(crate) rx: oneshot::Receiver<Result<Bytes, CallError>>,
    pub(crate) table: Arc<dyn CallTable>,
    pub(crate) call_ref: u64,
    pub(crate) node: NodeName,
}

impl Future for PendingCall {
    type Output = Result<Bytes, CallError>;

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

/// Operations on processes of other nodes; implemented by the distribution layer.
///
/// Every method returns at once. Messages to a node that is not connected start a
/// connection and wait for it; if it cannot be made they are dropped, as in Erlang.
pub(crate) trait Remote: Send + Sync + 'static {
    /// Sends a message (`Send` or `Cast`). Fails only if the payload does not encode;
    /// `Ok(true)` if the connection is busy once the message is queued (a paced sender then
    /// waits with [`until_writable`](Self::until_writable)).
    fn send(
        &self,
        from: &Pid,
        to: RemoteTarget<'_>,
        kind: WireKind,
        type_name: &str,
        encode: Encode<'_>,
    ) -> Result<bool, EncodeError>;

    /// Sends a call; the returned future resolves with the encoded reply.
    fn call(
        &self,
        from: Option<&Pid>,
        to: RemoteTarget<'_>,
        type_name: &str,
        encode: Encode<'_>,
    ) -> Result<PendingCall, CallError>;

    fn exit(&self, from: &Pid, to: &Pid, reason: &ExitReason, via_link: bool);
    fn link(&self, from: &Pid, to: &Pid);
    fn unlink(&self, from: &Pid, to: &Pid);
    fn monitor(&self, watcher: &Pid, target: &Pid, monitor: MonitorRef);
    fn demonitor(&self, watcher: &Pid, target: &Pid, monitor: MonitorRef);
    /// Tells a watcher on another node that a local process it monitors ended.
    fn down(&self, to: &Pid, monitor: MonitorRef, pid: &Pid, reason: &ExitReason);
    /// Adds or removes a process from the node monitors.
    fn monitor_nodes(&self, pid: &Pid, on: bool);
    /// If the connection to `node` is busy (too much queued), a future that resolves once
    /// it is not; `None` if it is not busy.
    fn until_writable(&self, node: &NodeName) -> Option<futures::future::BoxFuture<'static, ()>>;
}
