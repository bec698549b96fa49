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
mod static_hosts;

pub use dns::DEFAULT_DNS_INTERVAL;
pub use dns::{DnsPoll, DnsSrv};
pub use epmd_hosts::{EpmdHosts, LocalEpmd};
pub use gossip::{
    DEFAULT_GOSSIP_GROUP, DEFAULT_GOSSIP_INTERVAL, DEFAULT_GOSSIP_PORT, Gossip, GossipStats,
};
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use gossip::{fuzz_heartbeat, fuzz_seed_heartbeat};
pub use static_hosts::{DEFAULT_SYNC_TIMEOUT, StaticHosts};

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::gen_server::StartError;
use crate::node::Ctx;
use crate::node::{Node, NodeName};
use crate::process::Pid;
use crate::supervisor::{ChildSpec, ChildStart, Supervisor, SupervisorRef};

type ConnectFn =
    Arc<dyn Fn(Node, NodeName) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;
type DisconnectFn = Arc<dyn Fn(&Node, &NodeName) -> bool + Send + Sync>;
type ListFn = Arc<dyn Fn(&Node) -> Vec<NodeName> + Send + Sync>;

/// What a strategy acts through: connect, disconnect, list (replaceable, as libcluster's
/// `connect`/`disconnect`/`list_nodes` options), with retry and logging bookkeeping.
#[derive(Clone)]
pub struct Topology {
    name: Arc<str>,
    node: Node,
    connect: ConnectFn,
    disconnect: DisconnectFn,
    list: ListFn,
    state: Arc<Mutex<HashMap<NodeName, PeerState>>>,
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topology")
            .field("name", &self.name)
            .field("node", self.node.name())
            .finish_non_exhaustive()
    }
}

/// What a topology knows of one candidate.
#[derive(Debug, Clone)]
struct PeerState {
    /// The last outcome, to log only changes.
    last: Option<Result<(), String>>,
    /// No attempt before this.
    next_try: Instant,
    backoff: Duration,
    /// Whether this topology's own connect brought it up (only those are pruned).
    ours: bool,
    /// When discovery last named it (candidates not named for long are forgotten).
    seen: Instant,
}

impl PeerState {
    fn new(now: Instant) -> Self {
        Self {
            last: None,
            next_try: now,
            backoff: MIN_BACKOFF,
            ours: false,
            seen: now,
        }
    }
}

/// How long an attempt in progress holds off others on the same node (longer than any
/// connection setup takes).
const IN_FLIGHT: Duration = Duration::from_secs(60);

/// The first retry after a failed connect; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between attempts on one node.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A candidate no discovery has named for this long is forgotten (unless connected).
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// At most this many candidates are remembered: discovery answers (a gossip network, DNS)
/// cannot make a node's memory grow without bound.
const MAX_CANDIDATES: usize = 4096;

impl Topology {
    fn new(name: &str, node: &Node, fns: &Fns) -> Self {
        Self {
            name: Arc::from(name),
            node: node.clone(),
            connect: fns.connect.clone(),
            disconnect: fns.disconnect.clone(),
            list: fns.list.clone(),
            state: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The topology's name (in its log lines: `[locus:<name>]`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node this topology runs on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The nodes currently connected (through the `list_nodes` function).
    pub fn list_nodes(&self) -> Vec<NodeName> {
        (self.list)(&self.node)
    }

    /// Whether `peer` is among [`list_nodes`](Self::list_nodes).
    pub fn is_connected(&self, peer: &NodeName) -> bool {
        self.list_nodes().contains(peer)
    }

    /// Whether [`connect_all`](Self::connect_all) would try `peer` now: not this node, not
    /// connected, no attempt in progress, backoff passed.
    pub fn is_due(&self, peer: &NodeName) -> bool {
        !self.is_self(peer)
            && !self.is_connected(peer)
            && self
                .state
                .lock()
                .get(peer)
                .is_none_or(|s| Instant::now() >= s.next_try)
    }

    /// Whether `peer` names this node: the same name, or the same `alive` part on an IP
    /// address of this host (DNS and port mappers name nodes by address).
    fn is_self(&self, peer: &NodeName) -> bool {
        let me = self.node.name();
        if peer == me {
            return true;
        }
        if peer.alive() != me.alive() {
            return false;
        }
        let Ok(ip) = peer.host().parse::<std::net::IpAddr>() else {
            return false;
        };
        if me
            .host()
            .parse::<std::net::IpAddr>()
            .is_ok_and(|mine| mine == ip)
        {
            return true;
        }
        // Binding succeeds only for addresses of this host.
        ip.is_loopback() || std::net::UdpSocket::bind((ip, 0)).is_ok()
    }

    /// Connects, concurrently, to every candidate that is not connected and whose backoff
    /// has passed; logs `connected to` / `unable to connect to` once per change.
    pub async fn connect_all(&self, candidates: &[NodeName]) {
        let connected: HashSet<NodeName> = self.list_nodes().into_iter().collect();
        let candidates: Vec<&NodeName> = candidates.iter().filter(|p| !self.is_self(p)).collect();
        let mut due = Vec::new();
        let mut up = Vec::new();
        {
            let now = Instant::now();
            let mut states = self.state.lock();
            forget_stale(&mut states, &connected, now);
            for peer in candidates {
                if connected.contains(peer) {
                    up.push(peer);
                    if let Some(s) = states.get_mut(peer) {
                        s.seen = now;
                    }
                    continue;
                }
                if states.len() >= MAX_CANDIDATES && !states.contains_key(peer) {
                    tracing::debug!("[locus:{}] too many candidates; ignoring {peer}", self.name);
                    continue;
                }
                let state = states
                    .entry(peer.clone())
                    .or_insert_with(|| PeerState::new(now));
                state.seen = now;
                if now >= state.next_try {
                    // Reserved: a concurrent caller does not start a second attempt.
                    state.next_try = now + IN_FLIGHT;
                    due.push(peer.clone());
                }
            }
        }
        for peer in up {
            self.record(peer, Ok(()), false);
        }
        let attempts = due.into_iter().map(|peer| async move {
            let outcome = (self.connect)(self.node.clone(), peer.clone()).await;
            self.record(&peer, outcome, true);
        });
        futures::future::join_all(attempts).await;
    }

    /// Disconnects `peer` (through the `disconnect` function).
    pub fn disconnect(&self, peer: &NodeName) -> bool {
        self.state.lock().remove(peer);
        let done = (self.disconnect)(&self.node, peer);
        if done {
            tracing::info!("[locus:{}] disconnected from {peer}", self.name);
        }
        done
    }

    /// Notes an outcome; `attempted`: this topology's own connect produced it.
    fn record(&self, peer: &NodeName, outcome: Result<(), String>, attempted: bool) {
        let mut states = self.state.lock();
        let now = Instant::now();
        let state = states
            .entry(peer.clone())
            .or_insert_with(|| PeerState::new(now));
        if state.last.as_ref() != Some(&outcome) {
            match &outcome {
                Ok(()) => tracing::info!("[locus:{}] connected to {peer}", self.name),
                Err(e) => tracing::warn!("[locus:{}] unable to connect to {peer}: {e}", self.name),
            }
        }
        match &outcome {
            Ok(()) => {
                state.backoff = MIN_BACKOFF;
                state.next_try = now;
                state.ours |= attempted;
            }
            Err(_) => {
                state.next_try = now + state.backoff;
                state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
            }
        }
        state.last = Some(outcome);
    }

    /// The nodes this topology itself connected (pruning disconnects only those).
    fn ours(&self) -> Vec<NodeName> {
        self.state
            .lock()
            .iter()
            .filter(|(_, s)| s.ours)
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// Drops candidates not named for [`FORGET_AFTER`] that are not connected.
fn forget_stale(
    states: &mut HashMap<NodeName, PeerState>,
    connected: &HashSet<NodeName>,
    now: Instant,
) {
    states.retain(|peer, s| connected.contains(peer) || now.duration_since(s.seen) < FORGET_AFTER);
}

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

/// Discovery by polling: the common shape of strategies (a host list, a port mapper, DNS,
/// an HTTP registry). Wrap it in [`Polling`] to get a [`ClusterStrategy`].
pub trait Discover: Send + Sync + 'static {
    /// The candidate nodes now. An error is logged (once per change) and changes nothing.
    fn discover(&self, node: &Node) -> impl Future<Output = Result<Vec<NodeName>, String>> + Send;
}

/// A [`Discover`] run every `interval`: candidates are connected (with backoff); with
/// [`prune`](Self::prune), nodes it connected and that left discovery are disconnected.
#[derive(Debug, Clone)]
pub struct Polling<D> {
    discover: Arc<D>,
    interval: Duration,
    prune: bool,
    sync: Option<SyncNodes>,
}

impl<D: Discover> Polling<D> {
    /// Polls `discover` every 5 seconds.
    pub fn new(discover: D) -> Self {
        Self {
            discover: Arc::new(discover),
            interval: Duration::from_secs(5),
            prune: false,
            sync: None,
        }
    }

    /// How often to discover.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.clamp(Duration::from_millis(10), Duration::from_secs(24 * 3600));
        self
    }

    /// Disconnect nodes this topology connected once they are no longer discovered (as
    /// libcluster's DNSPoll and Eureka do). Off by default: a failed or empty discovery
    /// then never costs a connection.
    pub fn prune(mut self, prune: bool) -> Self {
        self.prune = prune;
        self
    }

    /// Nodes to wait for when the cluster starts (see [`ClusterStrategy::sync`]).
    pub fn sync_nodes(mut self, sync: SyncNodes) -> Self {
        self.sync = Some(sync);
        self
    }
}

impl<D: Discover> ClusterStrategy for Polling<D> {
    fn run(&self, topology: Topology) -> BoxFuture<'static, ()> {
        let discover = self.discover.clone();
        let interval = self.interval;
        let prune = self.prune;
        Box::pin(async move {
            let mut last_err: Option<String> = None;
            loop {
                match discover.discover(topology.node()).await {
                    Ok(found) => {
                        if last_err.take().is_some() {
                            tracing::info!("[locus:{}] discovery works again", topology.name());
                        }
                        topology.connect_all(&found).await;
                        if prune {
                            let keep: HashSet<&NodeName> = found.iter().collect();
                            for peer in topology.ours() {
                                if !keep.contains(&peer) {
                                    topology.disconnect(&peer);
                                }
                            }
                        }
                    }
                    Err(e) => {
                        if last_err.as_ref() != Some(&e) {
                            tracing::warn!("[locus:{}] discovery failed: {e}", topology.name());
                            last_err = Some(e);
                        }
                    }
                }
                tokio::time::sleep(interval).await;
            }
        })
    }

    fn sync(&self) -> Option<SyncNodes> {
        self.sync.clone()
    }
}

/// The replaceable functions of a topology.
#[derive(Clone)]
struct Fns {
    connect: ConnectFn,
    disconnect: DisconnectFn,
    list: ListFn,
}

impl Default for Fns {
    fn default() -> Self {
        Self {
            connect: Arc::new(|node: Node, peer: NodeName| {
                Box::pin(async move { node.connect(&peer).await.map_err(|e| e.to_string()) })
            }),
            disconnect: Arc::new(|node: &Node, peer: &NodeName| node.disconnect(peer)),
            // Hidden nodes' connections are hidden: list both kinds.
            list: Arc::new(|node: &Node| {
                let mut all = node.nodes();
                all.extend(node.hidden_nodes());
                all
            }),
        }
    }
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
