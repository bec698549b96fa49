//! Child specifications and supervisor settings.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::gen_server::{GenServer, StartError};
use crate::node::Node;
use crate::process::{ExitReason, Pid};

/// Which children are restarted when one fails (OTP's restart strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Only the failed child is restarted.
    #[default]
    OneForOne,
    /// Every child is stopped and all are restarted.
    OneForAll,
    /// The failed child and those started after it are stopped and restarted.
    RestForOne,
}

/// When a child is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always.
    #[default]
    Permanent,
    /// Only after an abnormal exit (not `Normal` or `Shutdown`).
    Transient,
    /// Never; the child is forgotten once it exits.
    Temporary,
}

/// How a child is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Killed at once with [`ExitReason::Kill`](crate::ExitReason::Kill).
    BrutalKill,
    /// Sent [`ExitReason::Shutdown`], then killed if still alive after this long.
    Timeout(Duration),
    /// Sent [`ExitReason::Shutdown`] and waited for as long as it takes (the default for
    /// supervisors, so a subtree stops in order).
    Infinity,
}

/// Whether a child is a worker or a supervisor (reported by `which_children`; the default
/// shutdown depends on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    /// Any process that is not a supervisor.
    Worker,
    /// A supervisor.
    Supervisor,
}

/// What a child's start function gets: the node, and the supervisor to link to.
#[derive(Debug, Clone)]
pub struct ChildStart {
    node: Node,
    parent: Pid,
    name: Option<String>,
}

impl ChildStart {
    /// The node to start the child on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The supervisor; the child must be linked to it (`Start::link`, `SpawnOpts::link`).
    pub fn parent(&self) -> &Pid {
        &self.parent
    }

    /// The name the child should register, if its spec has one
    /// ([`ChildSpec::register`]).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

type StartFn = Arc<dyn Fn(ChildStart) -> BoxFuture<'static, Result<Pid, StartError>> + Send + Sync>;

/// How to start, restart and stop one child.
///
/// ```
/// use locus::{ChildSpec, GenServer, Restart};
/// # #[derive(Default)] struct Counter;
/// # impl GenServer for Counter { type Call = (); type Reply = (); type Cast = (); type Info = ();
/// #   async fn handle_call(&mut self, _: (), from: locus::ReplyHandle<()>, _: &mut locus::ServerCtx<Self>) -> locus::Flow { from.reply(()); locus::Flow::Continue } }
///
/// // A GenServer registered as "counter", restarted only if it fails.
/// let spec = ChildSpec::gen_server("counter", Counter::default)
///     .register("counter")
///     .restart(Restart::Transient);
/// # drop(spec);
/// ```
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) id: String,
    pub(crate) start: StartFn,
    pub(crate) restart: Restart,
    pub(crate) shutdown: Shutdown,
    pub(crate) kind: ChildKind,
    name: Option<String>,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// The default time a worker gets to stop before it is killed (OTP's 5000 ms).
pub const DEFAULT_SHUTDOWN: Duration = Duration::from_secs(5);

impl ChildSpec {
    /// A worker started by `start`, which must link the child to
    /// [`ChildStart::parent`] and return its pid once it is running.
    pub fn new<F, Fut>(id: impl Into<String>, start: F) -> Self
    where
        F: Fn(ChildStart) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Pid, StartError>> + Send + 'static,
    {
        Self {
            id: id.into(),
            start: Arc::new(move |s| Box::pin(start(s))),
            restart: Restart::Permanent,
            shutdown: Shutdown::Timeout(DEFAULT_SHUTDOWN),
            kind: ChildKind::Worker,
            name: None,
        }
    }

    /// A GenServer built by `make` at each (re)start, linked to the supervisor and, with
    /// [`register`](Self::register), registered under a name.
    pub fn gen_server<S, F>(id: impl Into<String>, make: F) -> Self
    where
        S: GenServer,
        F: Fn() -> S + Send + Sync + 'static,
    {
        let make = Arc::new(make);
        Self::new(id, move |s: ChildStart| {
            let make = make.clone();
            async move {
                let mut start = S::start(&s.node, make()).link(&s.parent);
                if let Some(name) = s.name {
                    start = start.register(name);
                }
                let client = start.await?;
                // A started client always holds the server's pid.
                client.pid().ok_or(StartError::Init(ExitReason::NoProc))
            }
        })
    }

    /// A nested supervisor.
    pub fn supervisor(id: impl Into<String>, spec: super::SupervisorSpec) -> Self {
        let mut child = Self::new(id, move |s: ChildStart| {
            let spec = spec.clone();
            async move {
                let mut start = spec.start(&s.node).link(&s.parent);
                if let Some(name) = s.name {
                    start = start.register(name);
                }
                Ok(start.await?.pid().clone())
            }
        });
        child.kind = ChildKind::Supervisor;
        child.shutdown = Shutdown::Infinity;
        child
    }

    /// Registers the child under `name` at each start (GenServer and supervisor children).
    pub fn register(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// When the child is restarted. Default: [`Restart::Permanent`].
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// How the child is stopped. Default: 5 s then kill for workers, infinity for
    /// supervisors.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// The child's id within its supervisor.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) async fn start_under(&self, node: &Node, parent: &Pid) -> Result<Pid, StartError> {
        let start = ChildStart {
            node: node.clone(),
            parent: parent.clone(),
            name: self.name.clone(),
        };
        (self.start)(start).await
    }
}
