//! Exit reasons and the signals that carry them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{MonitorRef, Pid};

/// Why a process ended, as carried by exit signals, [`Down`] and [`Exit`].
///
/// The reasons mirror Erlang's: `Normal` and `Shutdown` are the orderly ends; every other
/// reason is abnormal and kills linked processes that do not trap exits.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ExitReason {
    /// The process finished its work. Linked processes are not affected.
    Normal,
    /// The process was asked to stop (by its supervisor or a peer). Linked processes that do
    /// not trap exits stop too; supervisors do not log it as a failure.
    Shutdown,
    /// The process ended with an error; the text is the error's `Display`.
    Error(String),
    /// The process panicked; the text is the panic message.
    Panic(String),
    /// Sent with [`Ctx::exit`](crate::Ctx::exit) or [`Node::exit`](crate::Node::exit): kills
    /// the target even if it traps exits. The target then ends with [`ExitReason::Killed`].
    Kill,
    /// The process was killed by [`ExitReason::Kill`] (or aborted when its node shut down).
    Killed,
    /// The process did not exist (a monitor or link on a dead pid, a call to an unknown name).
    NoProc,
    /// The connection to the process's node was lost.
    NoConnection,
}

impl ExitReason {
    /// Builds an [`ExitReason::Error`] from anything printable.
    pub fn error(e: impl fmt::Display) -> Self {
        Self::Error(e.to_string())
    }

    /// Whether this is an orderly end (`Normal` or `Shutdown`): a transient child is not
    /// restarted, and no error is logged.
    pub fn is_normal(&self) -> bool {
        matches!(self, Self::Normal | Self::Shutdown)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Normal => f.write_str("normal"),
            Self::Shutdown => f.write_str("shutdown"),
            Self::Error(e) => write!(f, "error: {e}"),
            Self::Panic(m) => write!(f, "panic: {m}"),
            Self::Kill => f.write_str("kill"),
            Self::Killed => f.write_str("killed"),
            Self::NoProc => f.write_str("noproc"),
            Self::NoConnection => f.write_str("noconnection"),
        }
    }
}

impl fmt::Debug for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(e) => write!(f, "Error({e:?})"),
            Self::Panic(m) => write!(f, "Panic({m:?})"),
            other => fmt::Display::fmt(other, f),
        }
    }
}

/// What a process function may return; it becomes the process's [`ExitReason`].
///
/// `()` is a normal exit, an [`ExitReason`] is itself, and a `Result` is normal on `Ok` and
/// [`ExitReason::Error`] with the error's text on `Err`.
#[diagnostic::on_unimplemented(
    message = "a process function must return (), ExitReason or Result<_, impl Display>",
    label = "this is the process's return value"
)]
pub trait IntoExitReason {
    /// Converts the return value into the reason the process exits with.
    fn into_exit_reason(self) -> ExitReason;
}

/// Names the never type `!` on stable Rust, so that a process whose future never returns
/// (it loops forever or panics) is accepted.
pub trait HasOutput {
    /// The return type.
    type Output;
}

impl<T> HasOutput for fn() -> T {
    type Output = T;
}

type Never = <fn() -> ! as HasOutput>::Output;

impl IntoExitReason for Never {
    fn into_exit_reason(self) -> ExitReason {
        self
    }
}

impl IntoExitReason for () {
    fn into_exit_reason(self) -> ExitReason {
        ExitReason::Normal
    }
}

impl IntoExitReason for ExitReason {
    fn into_exit_reason(self) -> ExitReason {
        self
    }
}

impl<T: IntoExitReason, E: fmt::Display> IntoExitReason for Result<T, E> {
    fn into_exit_reason(self) -> ExitReason {
        match self {
            Ok(v) => v.into_exit_reason(),
            Err(e) => ExitReason::Error(e.to_string()),
        }
    }
}

/// An exit signal turned into a message, for a process that traps exits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Exit {
    /// The process that exited (for a link) or that sent the signal (for `exit`).
    pub from: Pid,
    /// Why.
    pub reason: ExitReason,
}

/// A monitored process ended (or never existed, or its node became unreachable).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Down {
    /// The monitor that fired, as returned by [`Ctx::monitor`](crate::Ctx::monitor).
    pub monitor: MonitorRef,
    /// The monitored process.
    pub pid: Pid,
    /// Why it ended: its exit reason, [`ExitReason::NoProc`] if it did not exist, or
    /// [`ExitReason::NoConnection`] if its node was lost.
    pub reason: ExitReason,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_become_exit_reasons() {
        assert_eq!(().into_exit_reason(), ExitReason::Normal);
        assert_eq!(Ok::<(), String>(()).into_exit_reason(), ExitReason::Normal);
        assert_eq!(
            Err::<(), _>("disk full").into_exit_reason(),
            ExitReason::Error("disk full".into())
        );
        assert_eq!(
            Ok::<_, String>(ExitReason::Shutdown).into_exit_reason(),
            ExitReason::Shutdown
        );
    }

    #[test]
    fn only_normal_and_shutdown_are_normal() {
        assert!(ExitReason::Normal.is_normal());
        assert!(ExitReason::Shutdown.is_normal());
        for r in [
            ExitReason::error("x"),
            ExitReason::Panic("p".into()),
            ExitReason::Killed,
            ExitReason::NoProc,
            ExitReason::NoConnection,
        ] {
            assert!(!r.is_normal(), "{r}");
        }
    }
}
