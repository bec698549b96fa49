//! Errors of calls and of starting servers.

use crate::node::NodeName;
use crate::process::{ExitReason, Pid, RegisterError};

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
    /// The server type has no [`RemoteCodec`](super::RemoteCodec), so it cannot be called
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

/// A server could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The name is registered by another process (OTP's `{already_started, Pid}`).
    #[error("already started: the name is held by {0}")]
    AlreadyStarted(Pid),
    /// The name could not be registered for another reason.
    #[error(transparent)]
    Register(RegisterError),
    /// `init` failed, panicked, or the process was killed before it finished.
    #[error("init failed: {0}")]
    Init(ExitReason),
}

impl From<RegisterError> for StartError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Taken { holder, .. } => StartError::AlreadyStarted(holder),
            other => StartError::Register(other),
        }
    }
}
