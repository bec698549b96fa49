//! How a process is made: its spawn options, and its kind (how its mailbox takes values).

use super::Message;
use super::Pid;
use super::cell::{AcceptFn, GiveBackFn, accept_exact, give_back_exact};
use super::incoming::{DecodeFn, decode_plain};

/// Options for [`Node::spawn_opts`](crate::Node::spawn_opts).
///
/// ```
/// use locus::{Node, SpawnOpts, Signal};
///
/// # #[tokio::main] async fn main() {
/// let node = Node::builder().start().await.unwrap();
/// let opts = SpawnOpts::new().register("logger").trap_exit(true);
/// let logger = node
///     .spawn_opts(opts, |mut ctx: locus::Ctx<String>| async move {
///         while let Signal::Message(line) = ctx.recv().await {
///             println!("{line}");
///         }
///     })
///     .unwrap();
/// assert_eq!(node.whereis("logger").as_ref(), Some(logger.pid()));
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct SpawnOpts {
    pub(crate) link: Option<Pid>,
    pub(crate) name: Option<String>,
    pub(crate) trap_exit: bool,
}

impl SpawnOpts {
    /// No link, no name, exits not trapped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Links the new process to `pid` before it runs. If `pid` is not alive, the new process
    /// receives an exit signal with [`ExitReason::NoProc`](crate::ExitReason::NoProc) at once, as in Erlang.
    pub fn link(mut self, pid: &Pid) -> Self {
        self.link = Some(pid.clone());
        self
    }

    /// Registers the new process under `name` before it runs; spawning fails if the name is
    /// taken.
    pub fn register(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Starts the process trapping exits.
    pub fn trap_exit(mut self, on: bool) -> Self {
        self.trap_exit = on;
        self
    }
}

/// How a mailbox of type `M` accepts values offered through an untyped pid or name, and
/// messages from other nodes.
pub(crate) struct Kind<M> {
    pub(crate) accept: AcceptFn<M>,
    pub(crate) give_back: GiveBackFn<M>,
    pub(crate) decode: Option<DecodeFn<M>>,
}

impl<M: Send + 'static> Kind<M> {
    /// A mailbox that accepts exactly `M`, from this node only.
    pub(crate) fn local_only() -> Self {
        Self {
            accept: accept_exact::<M>,
            give_back: give_back_exact::<M>,
            decode: None,
        }
    }
}

impl<M: Message> Kind<M> {
    /// A mailbox that accepts exactly `M`, from any node.
    pub(crate) fn exact() -> Self {
        Self {
            decode: Some(decode_plain::<M>),
            ..Self::local_only()
        }
    }
}
