//! What a strategy acts through: a topology's connect, disconnect and list (replaceable, as
//! libcluster's options), with the bookkeeping every strategy needs: which candidates it
//! has seen, retry with backoff per node, and one log line per change of state.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::node::{Node, NodeName};

pub(super) type ConnectFn =
    Arc<dyn Fn(Node, NodeName) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;
pub(super) type DisconnectFn = Arc<dyn Fn(&Node, &NodeName) -> bool + Send + Sync>;
pub(super) type ListFn = Arc<dyn Fn(&Node) -> Vec<NodeName> + Send + Sync>;

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
    pub(super) fn new(name: &str, node: &Node, fns: &Fns) -> Self {
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
    pub(super) fn ours(&self) -> Vec<NodeName> {
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

/// The replaceable functions of a topology.
#[derive(Clone)]
pub(super) struct Fns {
    pub(super) connect: ConnectFn,
    pub(super) disconnect: DisconnectFn,
    pub(super) list: ListFn,
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
