//! Nodes: the runtime that processes live in, with a name other nodes reach it by.
//!
//! A [`Node`] is a value, not a global: several nodes can run in one OS process (tests and
//! benches rely on this). Cloning a `Node` is cheap and every clone is the same node.
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
pub(crate) use wire::{CallTable, PendingCall, Remote, RemoteTarget};

// The process layer's identifiers, re-exported where users of a node look for them.
pub use crate::process::{NodeDownReason, NodeName, NodeNameError};

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::dist::Dist;
use crate::process::{ExitReason, MonitorRef, ProcessTable};
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
    /// Set when the node is distributed.
    remote: std::sync::OnceLock<Arc<dyn Remote>>,
    dist: std::sync::OnceLock<Arc<Dist>>,
    /// Messages from other nodes that no process could take.
    undeliverable: AtomicU64,
    overload_drops: AtomicU64,
    rpc: crate::rpc::Registry,
    kinds: crate::remote_spawn::Kinds,
    pg: crate::pg::Scopes,
    global: crate::global::Table,
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
    pub(crate) fn from_parts(
        name: NodeName,
        creation: u32,
        runtime: tokio::runtime::Handle,
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
                remote: std::sync::OnceLock::new(),
                dist: std::sync::OnceLock::new(),
                undeliverable: AtomicU64::new(0),
                overload_drops: AtomicU64::new(0),
                rpc: crate::rpc::Registry::new(),
                kinds: crate::remote_spawn::Kinds::default(),
                pg: crate::pg::Scopes::default(),
                global: crate::global::Table::default(),
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
        let cells = self.inner.procs.all();
        let watches: Vec<_> = cells.iter().map(|c| self.watch(c.core().pid())).collect();
        for cell in &cells {
            cell.core().kill(ExitReason::Shutdown);
        }
        for w in watches {
            w.await;
        }
        if let Some(dist) = self.dist_handle() {
            dist.shutdown().await;
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

    /// The distribution layer, if this node is distributed.
    pub(crate) fn remote(&self) -> Option<&Arc<dyn Remote>> {
        self.inner.remote.get()
    }

    pub(crate) fn set_dist(&self, dist: Arc<Dist>) {
        let _ = self.inner.remote.set(dist.clone());
        let _ = self.inner.dist.set(dist);
    }

    pub(crate) fn dist_handle(&self) -> Option<&Arc<Dist>> {
        self.inner.dist.get()
    }

    pub(crate) fn downgrade(&self) -> WeakNode {
        WeakNode(Arc::downgrade(&self.inner))
    }

    pub(crate) fn global_table(&self) -> &crate::global::Table {
        &self.inner.global
    }

    pub(crate) fn pg_scopes(&self) -> &crate::pg::Scopes {
        &self.inner.pg
    }

    pub(crate) fn kinds_registry(&self) -> &crate::remote_spawn::Kinds {
        &self.inner.kinds
    }

    pub(crate) fn rpc_registry(&self) -> &crate::rpc::Registry {
        &self.inner.rpc
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
