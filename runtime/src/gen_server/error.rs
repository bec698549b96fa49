//! Errors of calls and of starting servers.

use crate::process::{ExitReason, Pid, RegisterError};

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
