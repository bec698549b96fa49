//! Exit reasons and the signals that carry them.

use std::fmt;

use serde::de::DeserializeOwned;
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
    /// A reason of the application's own (Elixir's arbitrary exit terms): a serializable
    /// value, carried intact to other nodes, BEAM ones included. Made with
    /// [`ExitReason::custom`], read back with [`ExitReason::downcast`]. Abnormal.
    Custom(CustomReason),
    /// Asked to stop, with a detail (Elixir's `{:shutdown, detail}`): an orderly end, as
    /// [`Shutdown`](Self::Shutdown). Made with [`ExitReason::shutdown_with`].
    ShutdownWith(CustomReason),
}

/// The value of an [`ExitReason::Custom`] or [`ExitReason::ShutdownWith`], kept encoded so
/// that it crosses nodes as it is (MessagePack to locus nodes, an Erlang term to BEAM ones).
///
/// ```
/// use locus::ExitReason;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// #[serde(rename_all = "snake_case")]
/// enum Why { TooManyRetries(u32) }
///
/// let reason = ExitReason::custom(&Why::TooManyRetries(3));
/// assert_eq!(reason.downcast::<Why>(), Some(Why::TooManyRetries(3)));
/// assert_eq!(reason.to_string(), "{too_many_retries,3}");
/// assert!(!reason.is_normal());
/// assert!(ExitReason::shutdown_with(&"maintenance").is_normal());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CustomReason {
    /// MessagePack of the value (empty for a reason that came from a BEAM node).
    #[serde(with = "serde_bytes")]
    msgpack: Vec<u8>,
    /// The value as an Erlang term, no version byte.
    #[serde(with = "serde_bytes")]
    term: Vec<u8>,
}

impl CustomReason {
    fn of<T: Serialize + ?Sized>(value: &T) -> Result<Self, String> {
        let msgpack = rmp_serde::to_vec(value).map_err(|e| e.to_string())?;
        let mut term = Vec::new();
        crate::etf::write_term(value, &mut term).map_err(|e| e.to_string())?;
        Ok(Self { msgpack, term })
    }

    /// A reason from a BEAM node: its term (no version byte).
    pub(crate) fn from_term_bytes(term: Vec<u8>) -> Self {
        Self {
            msgpack: Vec::new(),
            term,
        }
    }

    /// The value as an Erlang term (no version byte).
    pub(crate) fn term_bytes(&self) -> &[u8] {
        &self.term
    }

    /// The value, if it decodes as `T`.
    pub fn downcast<T: DeserializeOwned>(&self) -> Option<T> {
        if self.msgpack.is_empty() {
            crate::etf::from_term_bytes(&self.term).ok()
        } else {
            rmp_serde::from_slice(&self.msgpack).ok()
        }
    }
}

impl fmt::Display for CustomReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match crate::etf::decode_term(&self.term) {
            Ok(t) => write!(f, "{t}"),
            Err(_) => f.write_str("(an undecodable reason)"),
        }
    }
}

impl fmt::Debug for CustomReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl ExitReason {
    /// Builds an [`ExitReason::Error`] from anything printable.
    pub fn error(e: impl fmt::Display) -> Self {
        Self::Error(e.to_string())
    }

    /// A reason of the application's own: `value`, carried intact (see
    /// [`CustomReason`]). A value that does not serialize gives an
    /// [`Error`](Self::Error) saying so.
    pub fn custom<T: Serialize + ?Sized>(value: &T) -> Self {
        match CustomReason::of(value) {
            Ok(c) => Self::Custom(c),
            Err(e) => Self::Error(format!("an exit reason that does not serialize: {e}")),
        }
    }

    /// An orderly stop with a detail (Elixir's `{:shutdown, detail}`).
    pub fn shutdown_with<T: Serialize + ?Sized>(detail: &T) -> Self {
        match CustomReason::of(detail) {
            Ok(c) => Self::ShutdownWith(c),
            Err(e) => Self::Error(format!("a shutdown detail that does not serialize: {e}")),
        }
    }

    /// The value of a [`Custom`](Self::Custom) reason or the detail of a
    /// [`ShutdownWith`](Self::ShutdownWith), if it decodes as `T`; `None` for other reasons.
    pub fn downcast<T: DeserializeOwned>(&self) -> Option<T> {
        match self {
            Self::Custom(c) | Self::ShutdownWith(c) => c.downcast(),
            _ => None,
        }
    }

    /// Whether this is an orderly end (`Normal`, `Shutdown` or `ShutdownWith`): a transient
    /// child is not restarted, and no error is logged.
    pub fn is_normal(&self) -> bool {
        matches!(self, Self::Normal | Self::Shutdown | Self::ShutdownWith(_))
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
            Self::Custom(c) => write!(f, "{c}"),
            Self::ShutdownWith(c) => write!(f, "{{shutdown,{c}}}"),
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
