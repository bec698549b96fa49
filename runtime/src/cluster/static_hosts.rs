//! A fixed list of nodes (libcluster's `Epmd` strategy, Erlang's `sync_nodes_optional` and
//! `sync_nodes_mandatory`).

use std::time::Duration;

use futures::future::BoxFuture;

use super::{ClusterStrategy, Discover, Polling, SyncNodes, Topology};
use crate::node::{Node, NodeName};

/// How long [`StaticHosts`] waits at start for the nodes it syncs on, unless told otherwise.
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to a fixed list of nodes, and keeps reconnecting when they drop.
///
/// With [`sync_optional`](Self::sync_optional) or [`sync_mandatory`](Self::sync_mandatory),
/// [`ClusterBuilder::start`](super::ClusterBuilder::start) waits up to the
/// [`sync_timeout`](Self::sync_timeout) for those nodes; a mandatory node still missing
/// then fails the start with [`ClusterError::MandatoryNodesDown`](super::ClusterError).
///
/// ```no_run
/// use std::time::Duration;
/// use locus::{Node, NodeName};
/// use locus::cluster::{Cluster, StaticHosts};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = Node::builder().name("a@10.0.0.1").start().await?;
/// let db: NodeName = "db@10.0.0.9".parse()?;
/// let peers = StaticHosts::new(["b@10.0.0.2".parse()?, "c@10.0.0.3".parse()?])
///     .sync_optional(["b@10.0.0.2".parse()?])
///     .sync_mandatory([db])
///     .sync_timeout(Duration::from_secs(10));
/// Cluster::builder().topology("hosts", peers).start(&node).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct StaticHosts {
    hosts: Vec<NodeName>,
    optional: Vec<NodeName>,
    mandatory: Vec<NodeName>,
    timeout: Duration,
    interval: Duration,
}

impl StaticHosts {
    /// Connects to `hosts`, checking every second.
    pub fn new(hosts: impl IntoIterator<Item = NodeName>) -> Self {
        Self {
            hosts: hosts.into_iter().collect(),
            optional: Vec::new(),
            mandatory: Vec::new(),
            timeout: DEFAULT_SYNC_TIMEOUT,
            interval: Duration::from_secs(1),
        }
    }

    /// Nodes to wait for at start, going on without them at the timeout. They are connected
    /// like the hosts.
    pub fn sync_optional(mut self, nodes: impl IntoIterator<Item = NodeName>) -> Self {
        self.optional.extend(nodes);
        self
    }

    /// Nodes that must be connected at start: the start fails if one is missing at the
    /// timeout. They are connected like the hosts.
    pub fn sync_mandatory(mut self, nodes: impl IntoIterator<Item = NodeName>) -> Self {
        self.mandatory.extend(nodes);
        self
    }

    /// How long to wait for the sync nodes (default [`DEFAULT_SYNC_TIMEOUT`]).
    pub fn sync_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often to check that every node is connected (default 1 s; failed connects are
    /// retried with their own backoff).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    fn candidates(&self) -> Vec<NodeName> {
        let mut all: Vec<NodeName> = self
            .hosts
            .iter()
            .chain(&self.optional)
            .chain(&self.mandatory)
            .cloned()
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// The fixed list, as a [`Discover`].
struct Fixed(Vec<NodeName>);

impl Discover for Fixed {
    async fn discover(&self, _node: &Node) -> Result<Vec<NodeName>, String> {
        Ok(self.0.clone())
    }
}

impl ClusterStrategy for StaticHosts {
    fn run(&self, topology: Topology) -> BoxFuture<'static, ()> {
        Polling::new(Fixed(self.candidates()))
            .interval(self.interval)
            .run(topology)
    }

    fn sync(&self) -> Option<SyncNodes> {
        if self.optional.is_empty() && self.mandatory.is_empty() {
            return None;
        }
        Some(SyncNodes {
            optional: self.optional.clone(),
            mandatory: self.mandatory.clone(),
            timeout: self.timeout,
        })
    }
}
