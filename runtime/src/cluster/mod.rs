//! Automatic cluster formation (libcluster): topologies, each run by a strategy that
//! discovers candidate nodes and connects to them.
//!
//! A [`ClusterStrategy`] finds nodes; a [`Topology`] is what it acts through: `connect`,
//! `disconnect` and `list_nodes`, replaceable as in libcluster, plus the bookkeeping every
//! strategy needs (retry with backoff, one log line per state change, not per attempt).
//! [`Cluster`] runs named topologies under a supervisor on the node, so a strategy that
//! fails is restarted.
//!
//! Strategies: [`StaticHosts`] (a node list, with `sync_nodes_optional`/`mandatory`
//! behaviour at start), [`LocalEpmd`] (every node on this host's port mapper),
//! [`EpmdHosts`] (every node on listed hosts), [`Gossip`] (UDP multicast heartbeats,
//! optionally encrypted), [`DnsPoll`] (A/AAAA records), [`DnsSrv`] (SRV records), or your
//! own: implement [`Discover`] for a polling strategy or [`ClusterStrategy`] for anything else.
//!
//! # Guarantees
//!
//! - Discovery heals: nodes that drop while still discovered are connected again, with
//!   backoff (100 ms doubling to 10 s per node). An empty or failed discovery never
//!   disconnects anyone; pruning nodes that leave discovery is opt-in ([`Polling::prune`])
//!   and touches only nodes the topology itself connected.
//! - Failures are logged once per change of state, not per attempt: `unable to connect
//!   to` a node, a failing discovery, a socket that cannot open.
//! - A node with another cookie never joins: its handshake fails, logged once per peer.
//! - This node is never a candidate, even when discovery names it by an address.
//! - With sync nodes ([`SyncNodes`], [`ClusterBuilder::sync`], [`StaticHosts`]),
//!   [`ClusterBuilder::start`] returns once they are connected; a mandatory one missing at
//!   the timeout fails it ([`ClusterError::MandatoryNodesDown`]).
//!
//! # Failure
//!
//! - A strategy that panics is restarted by the cluster supervisor; one that returns runs
//!   again a second later. Nodes already connected stay connected meanwhile.
//! - A discovery that fails (DNS unreachable, a socket that cannot open) is logged once and
//!   retried at the next interval; it never disconnects anyone.
//! - A candidate that cannot be connected (down, another cookie, refused) is retried with
//!   backoff and logged once per change (`unable to connect to`).
//! - [`ClusterBuilder::start`] fails with [`ClusterError::MandatoryNodesDown`] when
//!   mandatory sync nodes are missing at the timeout, and with [`ClusterError::Start`] when
//!   the supervisor cannot start; optional sync nodes that are missing are logged only.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use locus::Node;
//! use locus::cluster::{Cluster, StaticHosts};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder().name("a@10.0.0.1").cookie("secret").start().await?;
//! let peers = ["b@10.0.0.2".parse()?, "c@10.0.0.3".parse()?];
//! let hosts = StaticHosts::new(peers.clone())
//!     .sync_optional(peers)
//!     .sync_timeout(Duration::from_secs(30));
//! Cluster::builder().topology("hosts", hosts).start(&node).await?;
//! # Ok(()) }
//! ```

mod dns;
mod epmd_hosts;
mod gossip;
mod polling;
mod static_hosts;
mod topology;

pub use dns::DEFAULT_DNS_INTERVAL;
pub use dns::{DnsPoll, DnsSrv};
pub use epmd_hosts::{EpmdHosts, LocalEpmd};
pub use gossip::{
    DEFAULT_GOSSIP_GROUP, DEFAULT_GOSSIP_INTERVAL, DEFAULT_GOSSIP_PORT, Gossip, GossipStats,
};
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use gossip::{fuzz_heartbeat, fuzz_seed_heartbeat};
pub use polling::{Discover, Polling};
pub use static_hosts::{DEFAULT_SYNC_TIMEOUT, StaticHosts};
pub use topology::Topology;
use topology::{Fns, ListFn};

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

use crate::gen_server::StartError;
use crate::node::Ctx;
use crate::node::{Node, NodeName};
use crate::process::Pid;
use crate::supervisor::{ChildSpec, ChildStart, Supervisor, SupervisorRef};

/// A cluster formation strategy: runs for as long as its topology does, finding nodes and
/// connecting to them through the [`Topology`].
pub trait ClusterStrategy: Send + Sync + 'static {
    /// Runs the strategy; it should run forever. If it returns, that is logged and it runs
    /// again a second later; if it panics, the cluster supervisor restarts it.
    fn run(&self, topology: Topology) -> BoxFuture<'static, ()>;

    /// Nodes this strategy must see connected before [`ClusterBuilder::start`] returns, with the
    /// deadline (Erlang's `sync_nodes_*`): `(optional, mandatory, timeout)`.
    fn sync(&self) -> Option<SyncNodes> {
        None
    }
}

/// Nodes to wait for at start (Erlang's `sync_nodes_optional`, `sync_nodes_mandatory`,
/// `sync_nodes_timeout`).
#[derive(Debug, Clone, Default)]
pub struct SyncNodes {
    /// Waited for, but start goes on without them.
    pub optional: Vec<NodeName>,
    /// Start fails if any is missing at the timeout.
    pub mandatory: Vec<NodeName>,
    /// How long to wait.
    pub timeout: Duration,
}

struct TopologySpec {
    name: String,
    strategy: Arc<dyn ClusterStrategy>,
    fns: Fns,
}

/// Configures the cluster supervisor and its topologies.
#[must_use = "a cluster starts only when .start(&node) is awaited"]
pub struct ClusterBuilder {
    topologies: Vec<TopologySpec>,
    sync: Option<SyncNodes>,
}

impl fmt::Debug for ClusterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.topologies.iter().map(|t| &t.name))
            .finish()
    }
}

/// A cluster could not form as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Mandatory nodes were not connected within the sync timeout (Erlang's
    /// `{mandatory_nodes_down, Nodes}`).
    #[error(
        "mandatory nodes did not connect within {timeout:?}: {missing:?} (check that they run, their cookie, and the network)"
    )]
    MandatoryNodesDown {
        /// The nodes missing.
        missing: Vec<NodeName>,
        /// The timeout waited.
        timeout: Duration,
    },
    /// The cluster supervisor could not start.
    #[error(transparent)]
    Start(#[from] StartError),
}

/// Entry point: [`Cluster::builder`].
#[derive(Debug)]
pub struct Cluster {
    supervisor: SupervisorRef,
}

impl Cluster {
    /// A cluster with no topology yet.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            topologies: Vec::new(),
            sync: None,
        }
    }

    /// The supervisor running the topologies.
    pub fn supervisor(&self) -> &SupervisorRef {
        &self.supervisor
    }
}

impl ClusterBuilder {
    /// Adds a topology named `name` run by `strategy`.
    pub fn topology(mut self, name: impl Into<String>, strategy: impl ClusterStrategy) -> Self {
        self.topologies.push(TopologySpec {
            name: name.into(),
            strategy: Arc::new(strategy),
            fns: Fns::default(),
        });
        self
    }

    /// Nodes to wait for before [`start`](Self::start) returns, whatever the strategies
    /// (Erlang's `sync_nodes_optional` / `sync_nodes_mandatory` / `sync_nodes_timeout`).
    pub fn sync(mut self, sync: SyncNodes) -> Self {
        self.sync = Some(sync);
        self
    }

    /// Replaces how the last topology added connects (libcluster's `connect` option).
    pub fn connect_with<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Node, NodeName) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        if let Some(t) = self.topologies.last_mut() {
            t.fns.connect = Arc::new(move |n, p| Box::pin(f(n, p)));
        }
        self
    }

    /// Replaces how the last topology added disconnects (libcluster's `disconnect`).
    pub fn disconnect_with(
        mut self,
        f: impl Fn(&Node, &NodeName) -> bool + Send + Sync + 'static,
    ) -> Self {
        if let Some(t) = self.topologies.last_mut() {
            t.fns.disconnect = Arc::new(f);
        }
        self
    }

    /// Replaces how the last topology added lists nodes (libcluster's `list_nodes`).
    pub fn list_nodes_with(
        mut self,
        f: impl Fn(&Node) -> Vec<NodeName> + Send + Sync + 'static,
    ) -> Self {
        if let Some(t) = self.topologies.last_mut() {
            t.fns.list = Arc::new(f);
        }
        self
    }

    /// Starts the topologies under a supervisor on `node`, then waits for the nodes the
    /// strategies sync on.
    ///
    /// # Errors
    ///
    /// [`ClusterError::MandatoryNodesDown`] if mandatory nodes did not connect in time (the
    /// topologies are stopped then).
    pub async fn start(self, node: &Node) -> Result<Cluster, ClusterError> {
        let mut syncs = self.sync.into_iter().collect::<Vec<_>>();
        let mut list: Option<ListFn> = None;
        let mut sup = Supervisor::builder().intensity(10, Duration::from_secs(10));
        for t in self.topologies {
            if let Some(s) = t.strategy.sync() {
                syncs.push(s);
            }
            list.get_or_insert_with(|| t.fns.list.clone());
            let name = t.name.clone();
            let strategy = t.strategy.clone();
            let fns = t.fns.clone();
            sup = sup.child(ChildSpec::new(
                format!("topology:{name}"),
                move |s: ChildStart| {
                    let topology = Topology::new(&name, s.node(), &fns);
                    let strategy = strategy.clone();
                    async move {
                        let pid = run_topology(&s, topology, strategy)?;
                        Ok(pid)
                    }
                },
            ));
        }
        let supervisor = sup.start(node).await?;
        let list = list.unwrap_or_else(|| Fns::default().list);
        if let Err(e) = wait_for(node, &syncs, &list).await {
            let _ = supervisor.stop(crate::ExitReason::Shutdown).await;
            return Err(e);
        }
        Ok(Cluster { supervisor })
    }
}

/// Runs the strategy in a process linked to the cluster supervisor. A strategy that
/// returns is run again after a pause, so one that keeps ending cannot exhaust the
/// supervisor's restart intensity and stop clustering for good.
fn run_topology(
    start: &ChildStart,
    topology: Topology,
    strategy: Arc<dyn ClusterStrategy>,
) -> Result<Pid, StartError> {
    let opts = crate::SpawnOpts::new().link(start.parent());
    let addr = start
        .node()
        .spawn_local_only(opts, move |_ctx: Ctx<()>| async move {
            loop {
                strategy.run(topology.clone()).await;
                tracing::warn!(
                    "[locus:{}] strategy ended; running it again in {RERUN_PAUSE:?}",
                    topology.name()
                );
                tokio::time::sleep(RERUN_PAUSE).await;
            }
        })?;
    Ok(addr.pid().clone())
}

/// How long a strategy that returned waits before it runs again.
const RERUN_PAUSE: Duration = Duration::from_secs(1);

/// Waits, against one deadline per sync, until the sync nodes are listed (through `list`)
/// or their timeout passes. This node itself counts as present.
async fn wait_for(node: &Node, syncs: &[SyncNodes], list: &ListFn) -> Result<(), ClusterError> {
    let start = Instant::now();
    // Far enough to mean "no deadline" without overflowing.
    let far = Duration::from_secs(100 * 365 * 24 * 3600);
    let mut events = node.node_events();
    loop {
        let connected: HashSet<NodeName> = list(node).into_iter().collect();
        let present = |n: &NodeName| n == node.name() || connected.contains(n);
        let mut waiting = false;
        let mut missing = Vec::new();
        for sync in syncs {
            let over = start.elapsed() >= sync.timeout;
            let absent_mandatory: Vec<NodeName> = sync
                .mandatory
                .iter()
                .filter(|n| !present(n))
                .cloned()
                .collect();
            let absent_optional = sync.optional.iter().any(|n| !present(n));
            if over {
                if !absent_mandatory.is_empty() {
                    missing.push((absent_mandatory, sync.timeout));
                } else if absent_optional {
                    tracing::debug!("sync timeout: going on without some optional nodes");
                }
            } else if !absent_mandatory.is_empty() || absent_optional {
                waiting = true;
            }
        }
        if let Some((missing, timeout)) = missing.into_iter().next() {
            return Err(ClusterError::MandatoryNodesDown { missing, timeout });
        }
        if !waiting {
            return Ok(());
        }
        let next_deadline = syncs
            .iter()
            .map(|s| start.checked_add(s.timeout.min(far)).unwrap_or(start + far))
            .filter(|d| *d > Instant::now())
            .min()
            .unwrap_or_else(Instant::now);
        // Node events wake us at once; the short cap covers hidden nodes and replaced
        // list functions, which events do not report.
        let wake = next_deadline.min(Instant::now() + Duration::from_millis(100));
        let _ = tokio::time::timeout_at(wake, events.recv()).await;
    }
}
