//! Errors of the process layer.

use std::fmt;

use super::{ExitReason, NodeName, Pid};

/// A message could not be delivered. The message is handed back.
///
/// Delivery to a remote destination is asynchronous: `Ok` there means the message was handed
/// to the connection, and a missing remote process drops it silently, as in Erlang.
pub enum SendError<M> {
    /// No such process: the pid is dead, or the name is not registered on this node.
    NoProc(M),
    /// The process exists but its mailbox takes another message type.
    BadType(M),
}

impl<M> SendError<M> {
    /// The message that was not delivered.
    pub fn into_inner(self) -> M {
        match self {
            SendError::NoProc(m) | SendError::BadType(m) => m,
        }
    }
}

impl<M> fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NoProc(_) => f.write_str("no such process"),
            SendError::BadType(_) => write!(
                f,
                "the process does not accept messages of type {}",
                std::any::type_name::<M>()
            ),
        }
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NoProc(_) => f.write_str("NoProc(..)"),
            SendError::BadType(_) => f.write_str("BadType(..)"),
        }
    }
}

impl<M> std::error::Error for SendError<M> {}

/// A name could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// Another process holds the name.
    #[error("name {name:?} is already registered by {holder}")]
    Taken {
        /// The name asked for.
        name: String,
        /// The process that holds it.
        holder: Pid,
    },
    /// The process already has a name; a process has at most one.
    #[error("{pid} is already registered as {name:?}; unregister it first")]
    HasName {
        /// The process.
        pid: Pid,
        /// Its current name.
        name: String,
    },
    /// The process is not alive (or is not on this node).
    #[error("cannot register {0}: no such process on this node")]
    NoProc(Pid),
    /// Names are 1 to 255 bytes and do not contain '@'.
    #[error("invalid process name {0:?}: use 1 to 255 bytes without '@'")]
    InvalidName(String),
}

/// A link could not be made because the other process does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot link to {0}: no such process")]
pub struct NoProcError(pub Pid);

/// Why a call did not return a reply (the failures of OTP's `gen_server:call`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum CallError {
    /// No reply within the timeout (5 s unless set). A reply that comes later is discarded.
    #[error(
        "call timed out: the server did not reply in time (raise the timeout or check the server)"
    )]
    Timeout,
    /// No process at the destination: the pid is dead or the name is not registered.
    #[error("no process: the server is not running or the name is not registered")]
    NoProc,
    /// The server's node is not connected, or the connection was lost during the call.
    #[error("node {0} is down or unreachable")]
    NodeDown(NodeName),
    /// A process called itself, which would wait forever.
    #[error("a process called itself; that call could never be answered")]
    CallingSelf,
    /// The server exited before replying (during this call or with the call still queued).
    #[error("the server exited before replying: {0}")]
    Exited(ExitReason),
    /// The server dropped the reply handle without replying.
    #[error("the server dropped the call without replying")]
    NoReply,
    /// The process at the destination takes another request type, or the request or reply
    /// did not decode.
    #[error("the process does not accept calls of type {0}")]
    BadType(String),
    /// The server type has no [`RemoteCodec`](crate::RemoteCodec), so it cannot be called
    /// from another node.
    #[error(
        "{0} is reachable from its own node only: implement GenServer::remote (or use #[gen_server]) to call it across nodes"
    )]
    LocalOnly(String),
    /// The server's mailbox already held the most messages from other nodes a process may
    /// have waiting (the node's `max_mailbox`): it is not keeping up, and this request was
    /// dropped rather than let memory grow without bound.
    #[error(
        "the server is overloaded: {0} or more messages wait in its mailbox; the request was dropped (slow down, or raise max_mailbox)"
    )]
    Overloaded(usize),
}
