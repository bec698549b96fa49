//! Supervisors: processes that start, watch and restart other processes, as OTP's
//! `supervisor` and Elixir's `Supervisor` / `DynamicSupervisor`.
//!
//! A supervisor starts its children in order, links to each, and traps exits. When a child
//! exits, its [`Restart`] type decides whether it comes back, and the [`Strategy`] which
//! siblings are restarted with it. Too many restarts in too short a time
//! ([`SupervisorSpec::intensity`], default 3 within 5 s) mean something is deeply wrong: the
//! supervisor stops its children and exits, and its own supervisor takes over.
//!
//! # Guarantees
//!
//! - Children start in the order given and stop in the reverse order.
//! - A child that stops is asked to with [`ExitReason::Shutdown`](crate::ExitReason::Shutdown) and killed after its
//!   [`Shutdown`] time.
//! - A restarted child that registers a name gets it: a process's name is freed before its
//!   supervisor learns of its exit.
//!
//! # Failure
//!
//! - A child that fails to start during the supervisor's start makes the start fail; children
//!   already started are stopped.
//! - Exceeding the restart intensity ends the supervisor with an [`ExitReason::Error`](crate::ExitReason::Error) that
//!   says so and names the last failure.
//!
//! # Implementation notes
//!
//! These may change. A supervisor is a GenServer that traps exits and links to each child;
//! a child's exit arrives as an exit signal in its mailbox, in order with the calls
//! (`which_children`, `start_child`) it serves. Restarts are counted in a sliding window of
//! the intensity's period. Children stop one at a time, in reverse start order: an exit
//! signal with `Shutdown`, then a kill when the child's shutdown time passes.
//!
//! # Example
//!
//! ```
//! use locus::{ChildSpec, GenServer, Node, Strategy, Supervisor};
//! # #[derive(Default)] struct Counter;
//! # impl GenServer for Counter { type Call = (); type Reply = (); type Cast = (); type Info = ();
//! #   async fn handle_call(&mut self, _: (), from: locus::ReplyHandle<()>, _: &mut locus::ServerCtx<Self>) -> locus::Flow { from.reply(()); locus::Flow::Continue } }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder().start().await?;
//! let sup = Supervisor::builder()
//!     .strategy(Strategy::OneForOne)
//!     .child(ChildSpec::gen_server("counter", Counter::default).register("counter"))
//!     .start(&node)
//!     .await?;
//! assert!(node.whereis("counter").is_some());
//! assert_eq!(sup.which_children().await?.len(), 1);
//! # Ok(()) }
//! ```

mod server;
mod spec;

use server::{SupervisorCall, SupervisorReply, SupervisorServer};
pub use spec::{ChildKind, ChildSpec, ChildStart, DEFAULT_SHUTDOWN, Restart, Shutdown, Strategy};

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use crate::gen_server::{CallError, Client, GenServer, Start, StartError};
use crate::node::Node;
use crate::process::Pid;

/// Entry points: [`Supervisor::builder`] for a supervisor with a fixed list of children,
/// [`Supervisor::dynamic`] for one whose children are added at run time.
#[derive(Debug)]
pub struct Supervisor;

impl Supervisor {
    /// A supervisor with children given up front (Elixir's `Supervisor`).
    pub fn builder() -> SupervisorSpec {
        SupervisorSpec {
            strategy: Strategy::OneForOne,
            max_restarts: 3,
            period: Duration::from_secs(5),
            dynamic: false,
            children: Vec::new(),
        }
    }

    /// A supervisor that starts with no children and gets them through
    /// [`SupervisorRef::start_child`] (Elixir's `DynamicSupervisor`). Children are
    /// one-for-one and are forgotten once they stop for good.
    pub fn dynamic() -> SupervisorSpec {
        SupervisorSpec {
            dynamic: true,
            ..Self::builder()
        }
    }
}

/// A supervisor's settings and children; [`start`](Self::start) runs it. Cloneable, so it can
/// itself be a child ([`ChildSpec::supervisor`]).
#[derive(Debug, Clone)]
#[must_use = "a supervisor starts only when .start(&node) is awaited"]
pub struct SupervisorSpec {
    strategy: Strategy,
    max_restarts: usize,
    period: Duration,
    dynamic: bool,
    children: Vec<ChildSpec>,
}

impl SupervisorSpec {
    /// Which children restart together. Default: [`Strategy::OneForOne`]. A dynamic
    /// supervisor is always one-for-one.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        if !self.dynamic {
            self.strategy = strategy;
        }
        self
    }

    /// At most `max_restarts` restarts within `period`; one more stops the supervisor.
    /// Default: 3 within 5 s (Elixir's defaults).
    pub fn intensity(mut self, max_restarts: usize, period: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.period = period;
        self
    }

    /// Adds a child, started after the ones added before it.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }

    /// Starts the supervisor and its children on `node`.
    pub fn start(self, node: &Node) -> StartSupervisor {
        let server = SupervisorServer::new(
            self.strategy,
            self.max_restarts,
            self.period,
            self.dynamic,
            self.children,
        );
        StartSupervisor {
            start: SupervisorServer::start(node, server),
        }
    }
}

/// A supervisor being started; await it for a [`SupervisorRef`].
#[must_use = "a supervisor starts only when awaited"]
#[derive(Debug)]
pub struct StartSupervisor {
    start: Start<SupervisorServer>,
}

impl StartSupervisor {
    /// Registers the supervisor under `name`.
    pub fn register(mut self, name: impl Into<String>) -> Self {
        self.start = self.start.register(name);
        self
    }

    /// Links the supervisor to `parent` (its own supervisor).
    pub fn link(mut self, parent: &Pid) -> Self {
        self.start = self.start.link(parent);
        self
    }
}

impl IntoFuture for StartSupervisor {
    type Output = Result<SupervisorRef, StartError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let client = self.start.await?;
            let pid = client
                .pid()
                .ok_or(StartError::Init(crate::ExitReason::NoProc))?;
            Ok(SupervisorRef {
                client: client.timeout(Duration::MAX),
                pid,
            })
        })
    }
}

/// A handle to a running supervisor.
///
/// Its requests wait as long as the supervisor needs (stopping a child can take its whole
/// shutdown time), as OTP's supervisor calls do.
#[derive(Debug, Clone)]
pub struct SupervisorRef {
    client: Client<SupervisorServer>,
    pid: Pid,
}

/// Names a child: by id, or by pid (children of a dynamic supervisor share ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildRef {
    /// The id of its [`ChildSpec`].
    Id(String),
    /// Its current pid.
    Pid(Pid),
}

impl fmt::Display for ChildRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildRef::Id(id) => write!(f, "{id:?}"),
            ChildRef::Pid(pid) => write!(f, "{pid}"),
        }
    }
}

impl From<&str> for ChildRef {
    fn from(id: &str) -> Self {
        ChildRef::Id(id.to_owned())
    }
}

impl From<&Pid> for ChildRef {
    fn from(pid: &Pid) -> Self {
        ChildRef::Pid(pid.clone())
    }
}

/// One child, as listed by [`SupervisorRef::which_children`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChildInfo {
    /// Its spec's id.
    pub id: String,
    /// Its pid, if running.
    pub pid: Option<Pid>,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// Its restart type.
    pub restart: Restart,
}

/// Counts returned by [`SupervisorRef::count_children`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ChildCount {
    /// Children known (running or not).
    pub specs: usize,
    /// Children running.
    pub active: usize,
    /// Children that are supervisors.
    pub supervisors: usize,
    /// Children that are workers.
    pub workers: usize,
}

/// A supervisor request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// The supervisor could not be reached.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The child failed to start.
    #[error("child failed to start: {0}")]
    Start(StartError),
    /// No child with that id or pid.
    #[error("no child {0}")]
    NotFound(String),
    /// A child with that id already exists.
    #[error("a child with id {0:?} already exists")]
    AlreadyPresent(String),
    /// The child is running; stop it first.
    #[error("child {0:?} is running; terminate it first")]
    Running(String),
}

impl SupervisorRef {
    /// The supervisor's pid.
    pub fn pid(&self) -> &Pid {
        &self.pid
    }

    /// Stops the supervisor (OTP's `Supervisor.stop/2`): its children stop in reverse order,
    /// then it exits with `reason`. Returns once it has exited.
    ///
    /// # Errors
    ///
    /// [`CallError::NoProc`] if it is not running.
    pub async fn stop(&self, reason: crate::ExitReason) -> Result<(), CallError> {
        self.client.stop(reason).await
    }

    /// Starts a child and adds it (OTP's `start_child`).
    ///
    /// # Errors
    ///
    /// [`SupervisorError::Start`] if the child fails to start; for a supervisor with fixed
    /// children, [`SupervisorError::AlreadyPresent`] if the id is taken.
    pub async fn start_child(&self, child: ChildSpec) -> Result<Pid, SupervisorError> {
        match self.client.call(SupervisorCall::StartChild(child)).await? {
            SupervisorReply::Started(r) => r,
            _ => Err(SupervisorError::Call(CallError::NoReply)),
        }
    }

    /// Stops a child (OTP's `terminate_child`). A child of a dynamic supervisor is then
    /// forgotten; others stay listed, stopped, until restarted or deleted.
    ///
    /// # Errors
    ///
    /// [`SupervisorError::NotFound`] if there is no such child.
    pub async fn terminate_child(&self, child: impl Into<ChildRef>) -> Result<(), SupervisorError> {
        match self
            .client
            .call(SupervisorCall::TerminateChild(child.into()))
            .await?
        {
            SupervisorReply::Done(r) => r,
            _ => Err(SupervisorError::Call(CallError::NoReply)),
        }
    }

    /// Starts a stopped child again (OTP's `restart_child`).
    ///
    /// # Errors
    ///
    /// [`SupervisorError::NotFound`], [`SupervisorError::Running`], or
    /// [`SupervisorError::Start`].
    pub async fn restart_child(&self, id: &str) -> Result<Pid, SupervisorError> {
        match self
            .client
            .call(SupervisorCall::RestartChild(id.to_owned()))
            .await?
        {
            SupervisorReply::Started(r) => r,
            _ => Err(SupervisorError::Call(CallError::NoReply)),
        }
    }

    /// Forgets a stopped child (OTP's `delete_child`).
    ///
    /// # Errors
    ///
    /// [`SupervisorError::NotFound`] or [`SupervisorError::Running`].
    pub async fn delete_child(&self, id: &str) -> Result<(), SupervisorError> {
        match self
            .client
            .call(SupervisorCall::DeleteChild(id.to_owned()))
            .await?
        {
            SupervisorReply::Done(r) => r,
            _ => Err(SupervisorError::Call(CallError::NoReply)),
        }
    }

    /// The children, in start order.
    ///
    /// # Errors
    ///
    /// [`CallError`] if the supervisor is not running.
    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, CallError> {
        match self.client.call(SupervisorCall::WhichChildren).await? {
            SupervisorReply::Children(c) => Ok(c),
            _ => Err(CallError::NoReply),
        }
    }

    /// How many children there are, run, and of which kind.
    ///
    /// # Errors
    ///
    /// [`CallError`] if the supervisor is not running.
    pub async fn count_children(&self) -> Result<ChildCount, CallError> {
        match self.client.call(SupervisorCall::CountChildren).await? {
            SupervisorReply::Count(c) => Ok(c),
            _ => Err(CallError::NoReply),
        }
    }
}
