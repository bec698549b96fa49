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

mod builder;
mod deadlines;
mod name;

pub use builder::{NodeBuilder, NodeError};
pub(crate) use deadlines::Deadlines;
pub use name::{NodeName, NodeNameError};

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::process::{ExitReason, MonitorRef, ProcessTable};
use crate::registry::Registry;

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

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Node {}

impl Node {
    /// Starts configuring a node. See [`NodeBuilder`].
    pub fn builder() -> NodeBuilder {
        NodeBuilder::new()
    }

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

    /// Stops every process with [`ExitReason::Shutdown`] (killing those that trap exits
    /// and linger) and waits until they are gone.
    pub async fn shutdown(&self) {
        let cells = self.inner.procs.all();
        let watches: Vec<_> = cells.iter().map(|c| self.watch(c.core().pid())).collect();
        for cell in &cells {
            cell.core().kill(ExitReason::Shutdown);
        }
        for w in watches {
            w.await;
        }
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
