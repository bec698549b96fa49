//! What a node tells about itself (Erlang's `:observer` and LiveDashboard read the same):
//! its processes, names, busiest mailboxes, memory, connections with their traffic, global
//! names, process groups, and its latest node events.
//!
//! [`Node::info`] takes a snapshot on this node; every distributed node answers the
//! built-in rpc function `locus.info` with its own, which is what `locus info NODE` prints
//! and what the observer dashboard polls. A snapshot is bounded whatever the node's size:
//! the busiest [`BUSIEST`] processes, at most [`MAX_NAMES`] names, the last [`MAX_EVENTS`]
//! events.
//!
//! ```
//! use locus::Node;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder().start().await?;
//! let info = node.info();
//! assert_eq!(info.node, *node.name());
//! assert!(info.workers.is_some_and(|n| n >= 1));
//! assert!(info.processes < 100);
//! # Ok(()) }
//! ```

use crate::dist::epoch_ms;

use serde::{Deserialize, Serialize};

use crate::kernel::Service;
use crate::node::{Node, NodeName};
use crate::process::Pid;

/// How many of the busiest processes a snapshot lists.
pub const BUSIEST: usize = 20;
/// How many registered names, global names or groups a snapshot lists at most.
pub const MAX_NAMES: usize = 1000;
pub use crate::dist::{MAX_EVENTS, NodeEventRecord};

/// A snapshot of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NodeInfo {
    /// The node.
    pub node: NodeName,
    /// The locus version it runs.
    pub version: String,
    /// How long it has run, in milliseconds.
    pub uptime_ms: u64,
    /// Live processes.
    pub processes: usize,
    /// Resident memory of the OS process, in bytes (where the OS tells).
    pub memory_bytes: Option<u64>,
    /// Registered names (sorted; at most [`MAX_NAMES`]) and their total count.
    pub registered: Vec<String>,
    /// How many names are registered.
    pub registered_count: usize,
    /// The processes with the longest mailboxes, longest first.
    pub busiest: Vec<ProcessSummary>,
    /// Messages from other nodes dropped because a mailbox was full.
    pub overload_drops: u64,
    /// Connections to other nodes that are up.
    pub connections: Vec<ConnectionInfo>,
    /// Global names as this node sees them (sorted).
    pub global: Vec<(String, Pid)>,
    /// Process groups and pubsub topics, with their member counts.
    pub groups: Vec<GroupInfo>,
    /// The latest node up/down events, oldest first.
    pub events: Vec<NodeEventRecord>,
    /// The worker threads of the node's tokio runtime (Erlang's
    /// `erlang:system_info(schedulers_online)`). `None` from a node older than this field:
    /// it is the last field so that a newer reader takes an older node's snapshot (an
    /// older reader cannot take a newer node's: rpc results are positional).
    #[serde(default)]
    pub workers: Option<usize>,
}

/// One process in [`NodeInfo::busiest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProcessSummary {
    /// The process.
    pub pid: Pid,
    /// Its registered name, if any.
    pub name: Option<String>,
    /// Messages waiting in its mailbox.
    pub mailbox: usize,
}

/// One connection in [`NodeInfo::connections`]; counters since it came up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The node at the other end.
    pub peer: NodeName,
    /// Whether the peer is hidden.
    pub hidden: bool,
    /// When it came up, in milliseconds since the Unix epoch.
    pub up_since_ms: u64,
    /// Frames received (messages, replies, signals, ticks).
    pub frames_in: u64,
    /// Frames sent.
    pub frames_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
}

/// One group in [`NodeInfo::groups`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupInfo {
    /// The pg scope (`default`, or `locus.pubsub` for pubsub topics).
    pub scope: String,
    /// The group or topic.
    pub group: String,
    /// Members on every node this node sees.
    pub members: usize,
}

/// Resident memory from `/proc/self/statm` (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Introspection as the kernel boots it: `locus.info` on every node.
pub(crate) const SERVICE: Service = Service {
    name: "introspection",
    install,
    start: None,
};

fn install(node: &Node) {
    node.rpc_registry()
        .insert("locus.info", |node: Node, (): ()| async move {
            Ok::<_, String>(node.info())
        });
}

impl Node {
    /// A snapshot of this node: see the [module docs](crate::introspect).
    pub fn info(&self) -> NodeInfo {
        let mut registered = self.names().names();
        registered.sort();
        let registered_count = registered.len();
        registered.truncate(MAX_NAMES);
        let name_of = |pid: &Pid| {
            registered
                .iter()
                .find(|n| self.names().whereis(n).as_ref() == Some(pid))
                .cloned()
        };
        let busiest = self
            .procs()
            .busiest(BUSIEST)
            .into_iter()
            .map(|(pid, mailbox)| ProcessSummary {
                name: name_of(&pid),
                pid,
                mailbox,
            })
            .collect();
        let mut global: Vec<(String, Pid)> = self
            .global()
            .registered()
            .into_iter()
            .filter_map(|n| self.global().whereis(&n).map(|p| (n, p)))
            .collect();
        global.sort();
        global.truncate(MAX_NAMES);
        let mut groups = Vec::new();
        if self.is_distributed() {
            for scope in [crate::pg::DEFAULT_SCOPE, crate::pubsub::SCOPE] {
                let pg = self.pg_scope(scope);
                for group in pg.which_groups() {
                    groups.push(GroupInfo {
                        scope: scope.to_owned(),
                        members: pg.members(&group).len(),
                        group,
                    });
                }
            }
        }
        groups.sort_by(|a, b| (&a.scope, &a.group).cmp(&(&b.scope, &b.group)));
        groups.truncate(MAX_NAMES);
        let (connections, events) = self.dist_introspection();
        NodeInfo {
            node: self.name().clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_ms: self.uptime().as_millis() as u64,
            processes: self.process_count(),
            memory_bytes: resident_bytes(),
            registered,
            registered_count,
            busiest,
            overload_drops: self.overload_drops(),
            connections,
            global,
            groups,
            events,
            workers: Some(self.runtime().metrics().num_workers()),
        }
    }

    fn dist_introspection(&self) -> (Vec<ConnectionInfo>, Vec<NodeEventRecord>) {
        let Some(dist) = self.try_extension::<crate::dist::Dist>() else {
            return (Vec::new(), Vec::new());
        };
        let mut conns: Vec<ConnectionInfo> = dist
            .up_connections()
            .into_iter()
            .map(|(peer, hidden, c)| {
                use std::sync::atomic::Ordering::Relaxed;
                ConnectionInfo {
                    peer,
                    hidden,
                    up_since_ms: c.up_since().map_or(0, epoch_ms),
                    frames_in: c.stats.frames_in.load(Relaxed),
                    frames_out: c.stats.frames_out.load(Relaxed),
                    bytes_in: c.stats.bytes_in.load(Relaxed),
                    bytes_out: c.stats.bytes_out.load(Relaxed),
                }
            })
            .collect();
        conns.sort_by(|a, b| a.peer.cmp(&b.peer));
        (conns, dist.history())
    }
}
