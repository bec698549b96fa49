//! What a process receives: its own messages and system signals, in one FIFO.

use std::fmt;

use super::{Down, Exit, NodeName, Pid};

/// One item from a process's mailbox: a message of its type `M`, or a system signal.
///
/// Messages and signals share one queue, so a message and a later signal from the same
/// sender arrive in the order they were sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum Signal<M> {
    /// A message of the process's own type (including timer messages from
    /// [`Ctx::send_after`](crate::Ctx::send_after)).
    Message(M),
    /// A linked process exited, or someone called `exit` on this process. Only delivered to
    /// processes that trap exits; others die from it (unless the reason is `Normal`).
    Exit(Exit),
    /// A monitored process ended.
    Down(Down),
    /// A message arrived from another node that this process cannot decode: a different type
    /// than its own, or bytes that do not decode. It is reported, never a panic.
    Unexpected(Unexpected),
    /// A node connected (for processes that called
    /// [`Ctx::monitor_nodes`](crate::Ctx::monitor_nodes)). Delivered before any message from
    /// that node on the new connection.
    NodeUp(NodeName),
    /// A node's connection was lost, with the reason. Delivered after every message that
    /// arrived on that connection.
    NodeDown(NodeName, NodeDownReason),
}

impl<M> Signal<M> {
    /// Converts the message type, leaving system signals as they are.
    pub fn map<N>(self, f: impl FnOnce(M) -> N) -> Signal<N> {
        match self {
            Signal::Message(m) => Signal::Message(f(m)),
            Signal::Exit(e) => Signal::Exit(e),
            Signal::Down(d) => Signal::Down(d),
            Signal::Unexpected(u) => Signal::Unexpected(u),
            Signal::NodeUp(n) => Signal::NodeUp(n),
            Signal::NodeDown(n, r) => Signal::NodeDown(n, r),
        }
    }

    /// Splits a message (`Err`) from a system signal, which is retyped for another message
    /// type (`Ok`).
    pub(crate) fn into_system<N>(self) -> Result<Signal<N>, M> {
        match self {
            Signal::Message(m) => Err(m),
            Signal::Exit(e) => Ok(Signal::Exit(e)),
            Signal::Down(d) => Ok(Signal::Down(d)),
            Signal::Unexpected(u) => Ok(Signal::Unexpected(u)),
            Signal::NodeUp(n) => Ok(Signal::NodeUp(n)),
            Signal::NodeDown(n, r) => Ok(Signal::NodeDown(n, r)),
        }
    }

    /// The message, if this is one.
    pub fn into_message(self) -> Option<M> {
        match self {
            Signal::Message(m) => Some(m),
            _ => None,
        }
    }
}

/// A message this process could not accept. See [`Signal::Unexpected`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unexpected {
    /// The sender, when known.
    pub from: Option<Pid>,
    /// The wire type name the sender gave.
    pub type_name: String,
    /// Why it could not be accepted.
    pub error: String,
}

/// System signals as queued in a mailbox (boxed there, so that the common case, a message,
/// stays small).
#[derive(Debug)]
pub(crate) enum SysSignal {
    Exit(Exit),
    Down(Down),
    Unexpected(Unexpected),
    NodeUp(NodeName),
    NodeDown(NodeName, NodeDownReason),
}

impl SysSignal {
    pub(crate) fn into_signal<M>(self) -> Signal<M> {
        match self {
            SysSignal::Exit(e) => Signal::Exit(e),
            SysSignal::Down(d) => Signal::Down(d),
            SysSignal::Unexpected(u) => Signal::Unexpected(u),
            SysSignal::NodeUp(n) => Signal::NodeUp(n),
            SysSignal::NodeDown(n, r) => Signal::NodeDown(n, r),
        }
    }
}

/// Why a node's connection was lost, as delivered with
/// [`Signal::NodeDown`] (Erlang's `nodedown_reason`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum NodeDownReason {
    /// The connection closed or was reset (the peer died, or the network failed fast).
    ConnectionClosed,
    /// Nothing arrived from the peer for the tick time (`net_tick_timeout`).
    TickTimeout,
    /// This node disconnected it ([`Node::disconnect`](crate::Node::disconnect)).
    Disconnect,
    /// The peer left the cluster cleanly, or this node is shutting down.
    Shutdown,
    /// The peer restarted (a new incarnation connected under the same name).
    Restarted,
    /// The peer broke the protocol (a garbage or oversized frame); the text says how.
    ProtocolError(String),
    /// The peer stopped reading: more than this many bytes waited to be sent to it.
    Overloaded(usize),
}

impl fmt::Display for NodeDownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeDownReason::ConnectionClosed => f.write_str("connection_closed"),
            NodeDownReason::TickTimeout => f.write_str("net_tick_timeout"),
            NodeDownReason::Disconnect => f.write_str("disconnect"),
            NodeDownReason::Shutdown => f.write_str("shutdown"),
            NodeDownReason::Restarted => f.write_str("restarted"),
            NodeDownReason::ProtocolError(e) => write!(f, "protocol_error: {e}"),
            NodeDownReason::Overloaded(n) => write!(f, "overloaded: over {n} bytes unsent"),
        }
    }
}
