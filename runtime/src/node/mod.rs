//! Nodes: the runtime that processes live in, with a name other nodes reach it by.
//!
//! A [`Node`] is a value, not a global: several nodes can run in one OS process (tests and
//! benches rely on this). Cloning a `Node` is cheap and every clone is the same node. The
//! node core holds the process table, the registered names, the call deadlines and, once
//! distributed, the route to other nodes; the layers above keep their own state on it
//! (see `extensions`).
//!
//! # Guarantees
//!
//! - Operations by pid or name (`send`, `exit`, links, monitors, `register`) take effect
//!   on this node at once and the same way whether the process is here or on another node;
//!   only the time they take differs.
//! - A pid of this node's earlier incarnation (same name, other creation) is never taken
//!   for a live process: messages to it are dropped, monitors on it fire `NoProc`.
//! - Two nodes in one OS process share nothing but the tokio runtime they run on.
//!
//! # Failure
//!
//! - A message to a process that is not alive, or to a name nobody holds, is an error
//!   ([`SendError::NoProc`](crate::SendError::NoProc)) on this node, and is dropped on
//!   another node, as in Erlang.
//! - A link or monitor to a process of a node that cannot be reached fires at once with
//!   [`ExitReason::NoConnection`]; one to a process that is gone fires with
//!   [`ExitReason::NoProc`].
//! - [`Node::shutdown`] ends every process with [`ExitReason::Shutdown`], then leaves the
//!   cluster.
//!
//! # Example
//!
//! ```
//! use locus::Node;
//!
//! # #[tokio::main] async fn main() {
//! let node = Node::builder().start().await.unwrap();
//! assert_eq!(node.name().as_str(), "nonode@nohost");
//! assert_eq!(node.process_count(), 0);
//! # }
//! ```

mod ctx;
mod deadlines;
mod extensions;
mod ops;
mod registry;
mod spawn;
mod task;
mod timer;
mod wire;

pub use ctx::{Addr, Ctx};
pub(crate) use deadlines::Deadlines;
pub use ops::ExitWatch;
pub(crate) use ops::{DeliverTo, IncomingDest};
pub use timer::TimerRef;
pub(crate) use wire::{Addressee, CallTable, PendingCall, RemoteTarget, Route, Router};

// The process layer's identifiers, re-exported where users of a node look for them.
pub(crate) use crate::process::{NodeDownReason, NodeName, NodeNameError};

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::process::{ExitReason, MonitorRef, ProcessTable};
use extensions::Extensions;
use registry::Registry;

/// A running node: its processes, its registered names and (once distributed) its
/// connections to other nodes.
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
}

pub(crate) struct NodeInner {
    name: NodeName,
    /// Incarnation number: pids of an earlier incarnation of this name are not ours.
    creation: u32,
    procs: ProcessTable,
    names: Registry,
    next_pid: AtomicU64,
    next_ref: AtomicU64,
    runtime: tokio::runtime::Handle,
    deadlines: Arc<Deadlines>,
    /// The way to other nodes; set once, when the node is distributed.
    router: std::sync::OnceLock<Arc<dyn Router>>,
    /// The most messages from other nodes that may wait in one mailbox.
    max_mailbox: usize,
    /// Messages from other nodes that no process could take.
    undeliverable: AtomicU64,
    overload_drops: AtomicU64,
    /// The state of the layers above (distribution, services), one value per type.
    extensions: Extensions,
    started: std::time::Instant,
}

impl Drop for NodeInner {
    fn drop(&mut self) {
        self.deadlines.close();
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.inner.name)
            .field("creation", &self.inner.creation)
            .field("processes", &self.inner.procs.len())
            .finish()
    }
}

/// A node reference that does not keep the node alive (held by its distribution layer).
#[derive(Clone)]
pub(crate) struct WeakNode(std::sync::Weak<NodeInner>);

impl WeakNode {
    pub(crate) fn upgrade(&self) -> Option<Node> {
        self.0.upgrade().map(|inner| Node { inner })
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Node {}

impl Node {
    /// A node named `name` in its incarnation `creation`, running on `runtime`; at most
    /// `max_mailbox` messages from other nodes may wait in one of its mailboxes.
    pub(crate) fn from_parts(
        name: NodeName,
        creation: u32,
        runtime: tokio::runtime::Handle,
        max_mailbox: usize,
    ) -> Self {
        Self {
            inner: Arc::new(NodeInner {
                name,
                creation,
                procs: ProcessTable::new(),
                names: Registry::new(),
                // Id 0 is the node itself, as the sender of node-level signals.
                next_pid: AtomicU64::new(1),
                next_ref: AtomicU64::new(1),
                deadlines: Deadlines::start(&runtime),
                router: std::sync::OnceLock::new(),
                max_mailbox,
                undeliverable: AtomicU64::new(0),
                overload_drops: AtomicU64::new(0),
                extensions: Extensions::default(),
                started: std::time::Instant::now(),
                runtime,
            }),
        }
    }

    /// This node's name (Erlang's `node()`); `nonode@nohost` without distribution.
    pub fn name(&self) -> &NodeName {
        &self.inner.name
    }

    /// This node's creation: its incarnation number, part of every pid it makes.
    pub fn creation(&self) -> u32 {
        self.inner.creation
    }

    /// Stops the node: every process ends with [`ExitReason::Shutdown`] (killed, even if it
    /// traps exits), then a distributed node says goodbye to its peers (they see
    /// [`NodeDownReason::Shutdown`]) and stops listening.
    pub async fn shutdown(&self) {
        self.kill_all(ExitReason::Shutdown).await;
        if let Some(router) = self.router() {
            router.shutdown().await;
        }
    }

    /// Stops the node abruptly, as `erlang:halt/0` or a crash would: every connection is
    /// dropped with no goodbye, so peers see this node lost ([`NodeDownReason::ConnectionClosed`]
    /// in their node monitors, [`ExitReason::NoConnection`] for their links and monitors
    /// here), then every process is killed. [`shutdown`](Self::shutdown) is the graceful
    /// form: processes end first, and peers are told (`Shutdown`).
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let node = locus::Node::builder().start().await.unwrap();
    /// node.halt().await;
    /// # }
    /// ```
    pub async fn halt(&self) {
        if let Some(router) = self.router() {
            router.halt();
        }
        self.kill_all(ExitReason::Killed).await;
    }

    /// Kills every process with `reason` (even those that trap exits) and waits until all
    /// have ended.
    async fn kill_all(&self, reason: ExitReason) {
        let cells = self.inner.procs.all();
        let watches: Vec<_> = cells.iter().map(|c| self.watch(c.core().pid())).collect();
        for cell in &cells {
            cell.core().kill(reason.clone());
        }
        for w in watches {
            w.await;
        }
    }

    /// Messages from other nodes that reached a process that could not decode them (a
    /// different type, or bytes that do not decode). Each is also reported to its process as
    /// [`Signal::Unexpected`](crate::Signal::Unexpected).
    pub fn undeliverable_messages(&self) -> u64 {
        self.inner.undeliverable.load(Ordering::Relaxed)
    }

    pub(crate) fn count_undeliverable(&self) {
        self.inner.undeliverable.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages from other nodes dropped because their process's mailbox was full (see
    /// [`NodeBuilder::max_mailbox`](crate::NodeBuilder::max_mailbox)).
    pub fn overload_drops(&self) -> u64 {
        self.inner.overload_drops.load(Ordering::Relaxed)
    }

    /// Counts a drop; returns how many there were before it (logging at powers of two keeps
    /// a flood to a few lines).
    pub(crate) fn count_overload_drop(&self) -> u64 {
        self.inner.overload_drops.fetch_add(1, Ordering::Relaxed)
    }

    /// How long the node has run.
    pub fn uptime(&self) -> std::time::Duration {
        self.inner.started.elapsed()
    }

    /// A key that tells this node apart from other nodes in the same OS process.
    pub(crate) fn key(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    pub(crate) fn procs(&self) -> &ProcessTable {
        &self.inner.procs
    }

    pub(crate) fn names(&self) -> &Registry {
        &self.inner.names
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.inner.runtime
    }

    /// The way to other nodes, if this node is distributed.
    pub(crate) fn router(&self) -> Option<&Arc<dyn Router>> {
        self.inner.router.get()
    }

    /// Makes the node distributed: from now on it reaches other nodes through `router`.
    /// Set once; false if the node already had one.
    pub(crate) fn set_router(&self, router: Arc<dyn Router>) -> bool {
        self.inner.router.set(router).is_ok()
    }

    /// The most messages from other nodes that may wait in one mailbox.
    pub(crate) fn max_mailbox(&self) -> usize {
        self.inner.max_mailbox
    }

    pub(crate) fn downgrade(&self) -> WeakNode {
        WeakNode(Arc::downgrade(&self.inner))
    }

    pub(crate) fn deadlines(&self) -> &Deadlines {
        &self.inner.deadlines
    }

    pub(crate) fn next_pid_id(&self) -> u64 {
        self.inner.next_pid.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn make_ref(&self) -> MonitorRef {
        MonitorRef(self.inner.next_ref.fetch_add(1, Ordering::Relaxed))
    }
}
