//! Errors of the process layer.

use std::fmt;

use super::Pid;

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
