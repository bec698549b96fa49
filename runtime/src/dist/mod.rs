//! Distribution: named nodes that find each other through a port mapper, authenticate with
//! a shared cookie, and form a full mesh of TCP connections over which `send`, `call`,
//! links and monitors reach processes on any node.
//!
//! The parts, in the order a connection meets them:
//! 1. `listen`: the listener, and the registration with the port mapper ([`epmd`]) of
//!    this host (serving one if none runs); a peer asks that port mapper where to connect.
//! 2. `route`: the first message for a node finds its connection, or starts one.
//! 3. `dial` and `accept`: the two sides of a connection attempt, with the
//!    simultaneous-connect rule; `transport` (TCP or TLS) underneath.
//! 4. `handshake`: version, names, flags, creation, then a mutual HMAC-SHA256
//!    challenge-response over the cookie (which never crosses the wire).
//! 5. `peers`: the connection table; an authenticated connection joins it, `NodeUp` goes
//!    out, and connect-all meshes (a node that joins one member meets them all).
//! 6. `connection`: one connection per node pair: its output (a buffer and a writer that
//!    batches frames), its input (a reader that dispatches them in order), ticks, and what a
//!    lost connection means; `frame` is what crosses it.
//!
//! # Guarantees
//!
//! - One connection per node pair, so messages from one process to another arrive in the
//!   order sent, across nodes too.
//! - Nothing from a peer is acted on before the handshake has authenticated it.
//! - `NodeUp` is delivered before any message from the new connection; `NodeDown` after the
//!   last message that arrived on it, and after the node has left [`Node::nodes`].
//! - A node that restarts under the same name has a new creation: pids of the old
//!   incarnation never reach the new one.
//!
//! # Failure
//!
//! When a connection is lost, every call waiting on it fails at once with
//! [`CallError::NodeDown`](crate::CallError::NodeDown), linked processes get an exit signal
//! with [`ExitReason::NoConnection`](crate::ExitReason::NoConnection), monitors get
//! `Down(NoConnection)`, and node monitors get [`Signal::NodeDown`](crate::Signal::NodeDown)
//! with the reason. Messages in flight may be lost; nothing is retransmitted (as in Erlang).
//! A peer that sends garbage costs one closed connection and a log line.
//!
//! # Implementation notes
//!
//! These may change. Each connection has one output buffer that senders encode frames
//! into under a lock, and one writer task that swaps the buffer out and writes it whole, so
//! under load many frames share a syscall. Its reader task cuts frames from large reads
//! and hands each to its process at once; a message whose header repeats the last one's
//! is read from its call reference on. Right after traffic the reader polls its socket
//! for a short window (the spin) before it parks, one connection per node at a time.
//! Calls waiting for replies are kept in a table per connection, so a lost connection
//! fails them all at once.
//!
//! # Example
//!
//! ```
//! use locus::Node;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let epmd_port = { let l = std::net::TcpListener::bind("127.0.0.1:0")?; l.local_addr()?.port() };
//! let a = Node::builder().name("a@127.0.0.1").cookie("secret").epmd_port(epmd_port).start().await?;
//! let b = Node::builder().name("b@127.0.0.1").cookie("secret").epmd_port(epmd_port).start().await?;
//! a.connect(b.name()).await?;
//! assert_eq!(a.nodes(), vec![b.name().clone()]);
//! # Ok(()) }
//! ```

mod accept;
pub(crate) mod allow;
mod connection;
mod dial;
pub mod epmd;
pub(crate) mod erlang;
pub(crate) mod frame;
pub(crate) mod handshake;
mod last_msg;
mod listen;
#[cfg(feature = "test-hooks")]
mod partition;
mod peers;
mod route;
mod settings;
#[cfg(test)]
mod tests;
pub(crate) mod tls;
mod transport;

pub use frame::DEFAULT_MAX_FRAME;
pub use handshake::HandshakeError;
pub(crate) use listen::start;
pub use settings::DistProtocol;
pub use settings::{DEFAULT_MAX_MAILBOX, DEFAULT_SPIN, DEFAULT_TICK_TIME};
pub(crate) use settings::{DistConfig, Ports, cookie_from_file, validate_cookie};

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::connection::Conn;
use self::handshake::Identity;
use crate::node::{Node, NodeDownReason, NodeName, WeakNode};
use crate::process::{IntoNodeName, Pid, SysSignal};

/// A connection could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// This node was started without a name.
    #[error("this node is not distributed: start it with a name to connect to others")]
    NotDistributed,
    /// The node name is malformed.
    #[error(transparent)]
    Name(#[from] crate::node::NodeNameError),
    /// The peer's port mapper could not be asked.
    #[error("cannot find {node}: {error}")]
    Epmd {
        /// The node asked for.
        node: String,
        /// What went wrong.
        error: epmd::EpmdError,
    },
    /// The peer's host answers, but no node of that name is registered there.
    #[error("no node {0} is registered on its host's port mapper (not started yet, or a typo?)")]
    NotRegistered(String),
    /// The TCP connection failed, or broke during the setup.
    #[error("cannot connect to {node} at {addr}: {error}")]
    Io {
        /// The node.
        node: String,
        /// The address tried.
        addr: String,
        /// The I/O error.
        #[source]
        error: IoError,
    },
    /// The operating system's random source failed, so no handshake challenge could be
    /// drawn; nothing is sent without one.
    #[error("no random source for the handshake challenge: {0}")]
    NoRandomness(String),
    /// The handshake failed (wrong cookie, refused, not a locus node...).
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// A step of the setup took longer than the setup time.
    #[error("connecting to {0} timed out")]
    Timeout(String),
    /// TLS could not be set up with the peer (no TLS on one side, a certificate that does
    /// not verify, a name the certificate does not carry).
    #[error("TLS with {node} failed: {error}")]
    Tls {
        /// The node.
        node: String,
        /// What went wrong, and what to check.
        error: String,
    },
    /// This node's allow-list does not include the peer (`net_kernel:allow`).
    #[error("{0} is not in this node's allow-list")]
    NotAllowed(String),
    /// The connection closed during setup.
    #[error("the connection closed during setup: {0}")]
    Closed(NodeDownReason),
    /// This node is shutting down.
    #[error("this node is shutting down")]
    ShuttingDown,
    /// The peer is an Erlang/Elixir node, and this node does not speak Erlang distribution.
    #[error(
        "{0} is an Erlang/Elixir node: start this node with erlang_dist to connect to BEAM nodes"
    )]
    ErlangDisabled(String),
}

/// Distribution could not start: the listener or the port mapper registration failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ListenError {
    /// The listen address or port cannot be used; the text says which and why.
    #[error("{0}")]
    Bind(String),
    /// The port mapper could not be reached or refused the registration.
    #[error(transparent)]
    Epmd(epmd::EpmdError),
}

/// An I/O error kept as the source of a [`ConnectError`]: cheap to clone, and equal to
/// another with the same kind and message.
#[derive(Debug, Clone)]
pub struct IoError(Arc<std::io::Error>);

impl IoError {
    /// The kind of the error.
    pub fn kind(&self) -> std::io::ErrorKind {
        self.0.kind()
    }

    /// The error itself.
    pub fn get_ref(&self) -> &std::io::Error {
        &self.0
    }
}

impl From<std::io::Error> for IoError {
    fn from(e: std::io::Error) -> Self {
        Self(Arc::new(e))
    }
}

impl PartialEq for IoError {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind() == other.0.kind() && self.0.to_string() == other.0.to_string()
    }
}

impl Eq for IoError {}

impl std::fmt::Display for IoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// A fresh handshake challenge from the operating system's random source.
fn fresh_challenge() -> Result<handshake::Challenge32, ConnectError> {
    let mut c = [0u8; 32];
    getrandom::fill(&mut c).map_err(|e| ConnectError::NoRandomness(e.to_string()))?;
    Ok(c)
}

/// A change in the set of connected nodes, as seen through [`Node::node_events`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// A visible node connected.
    Up(NodeName),
    /// A visible node's connection was lost.
    Down(NodeName, NodeDownReason),
}

/// A stream of [`NodeEvent`]s. Unbounded: events are kept until read.
#[derive(Debug)]
pub struct NodeEvents {
    rx: mpsc::UnboundedReceiver<NodeEvent>,
}

impl NodeEvents {
    /// The next event; `None` once the node has stopped.
    pub async fn recv(&mut self) -> Option<NodeEvent> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<NodeEvent> {
        self.rx.try_recv().ok()
    }
}

/// How many node events a node remembers.
pub const MAX_EVENTS: usize = 100;

/// A node up or down event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NodeEventRecord {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The node that came up or went down.
    pub peer: NodeName,
    /// Up (true) or down.
    pub up: bool,
    /// Why it went down.
    pub reason: Option<String>,
}

impl NodeEventRecord {
    fn now(peer: &NodeName, up: bool, reason: Option<String>) -> Self {
        Self {
            at_ms: epoch_ms(SystemTime::now()),
            peer: peer.clone(),
            up,
            reason,
        }
    }
}

/// Milliseconds since the Unix epoch (0 for times before it).
pub(crate) fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The distribution state of one node.
pub(crate) struct Dist {
    this: std::sync::Weak<Dist>,
    node: WeakNode,
    pub(crate) me: Identity,
    pub(crate) config: DistConfig,
    peers: DashMap<NodeName, Arc<Conn>, rustc_hash::FxBuildHasher>,
    node_monitors: Mutex<Vec<Pid>>,
    events: Mutex<Vec<mpsc::UnboundedSender<NodeEvent>>>,
    /// Stops the listener, the port mapper registration and a port mapper this node serves.
    cancel: CancellationToken,
    /// Peers this node will not talk to (a partition made on purpose, for tests).
    blocked: dashmap::DashSet<NodeName>,
    /// Whether `blocked` has any entry: the per-message check costs a load, not a hash.
    any_blocked: std::sync::atomic::AtomicBool,
    /// The last handshake failure logged per peer: a peer that keeps failing the same way
    /// (another cookie, retried by discovery) is logged once, not at every attempt.
    failures: DashMap<String, String>,
    /// Which of this node's connections may spin (one at a time).
    spin_claim: Arc<connection::SpinClaim>,
    /// The latest node up/down events, oldest first, for introspection.
    history: Mutex<std::collections::VecDeque<NodeEventRecord>>,
}

impl Dist {
    pub(crate) fn node(&self) -> Option<Node> {
        self.node.upgrade()
    }

    /// Keeps the latest events (bounded).
    fn remember(&self, peer: &NodeName, up: bool, reason: Option<String>) {
        let mut h = self.history.lock();
        if h.len() >= MAX_EVENTS {
            h.pop_front();
        }
        h.push_back(NodeEventRecord::now(peer, up, reason));
    }

    /// The connections that are up: peer, hidden, connection.
    pub(crate) fn up_connections(&self) -> Vec<(NodeName, bool, Arc<Conn>)> {
        self.peers
            .iter()
            .filter(|e| e.value().is_listed())
            .filter_map(|e| {
                let state = e.value().peer_state()?;
                Some((e.key().clone(), state.hidden, e.value().clone()))
            })
            .collect()
    }

    /// The latest node events, oldest first.
    pub(crate) fn history(&self) -> Vec<NodeEventRecord> {
        self.history.lock().iter().cloned().collect()
    }

    /// Tells node monitors and event subscribers that a node connected.
    fn node_up(&self, peer: &NodeName) {
        self.remember(peer, true, None);
        let Some(node) = self.node() else { return };
        // Processes that ended are dropped from the list as it is walked.
        self.node_monitors
            .lock()
            .retain(|pid| node.push_signal(pid, SysSignal::NodeUp(peer.clone())));
        self.events
            .lock()
            .retain(|tx| tx.send(NodeEvent::Up(peer.clone())).is_ok());
    }

    fn node_down(&self, peer: &NodeName, reason: NodeDownReason) {
        self.remember(peer, false, Some(reason.to_string()));
        let Some(node) = self.node() else { return };
        self.node_monitors
            .lock()
            .retain(|pid| node.push_signal(pid, SysSignal::NodeDown(peer.clone(), reason.clone())));
        self.events.lock().retain(|tx| {
            tx.send(NodeEvent::Down(peer.clone(), reason.clone()))
                .is_ok()
        });
    }
}

impl Node {
    fn dist(&self) -> Option<Arc<Dist>> {
        self.try_extension::<Dist>()
    }

    /// Whether this node was started with a name.
    pub fn is_distributed(&self) -> bool {
        self.dist().is_some()
    }

    /// Whether this node speaks Erlang distribution too (`erlang_dist`).
    pub(crate) fn speaks_erlang(&self) -> bool {
        self.dist().is_some_and(|d| d.config.erlang)
    }

    /// Whether this node meshes with BEAM nodes: distributed, visible, with `erlang_dist`.
    pub(crate) fn meshes_with_beam(&self) -> bool {
        self.dist().is_some_and(|d| d.config.erlang && !d.me.hidden)
    }

    /// The port distribution listens on, if distributed.
    pub fn listen_port(&self) -> Option<u16> {
        self.dist().map(|d| d.me.listen_port)
    }

    /// The port of the port mapper this node registers with, if distributed (peers are
    /// looked up on the same port of their hosts).
    pub fn epmd_port(&self) -> Option<u16> {
        self.dist().map(|d| d.config.epmd_port)
    }

    /// Connects to `peer` (Erlang's `Node.connect/1`) and, through it, to every node it is
    /// connected to. Returns once the connection is up; connecting to a connected node or to
    /// this node succeeds at once.
    ///
    /// # Errors
    ///
    /// [`ConnectError`] says why: not distributed, no such node registered, wrong cookie,
    /// unreachable, timed out.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not stop the attempt; the connection may still come up.
    pub async fn connect(&self, peer: impl IntoNodeName) -> Result<(), ConnectError> {
        let dist = self.dist().ok_or(ConnectError::NotDistributed)?;
        let peer = peer.into_node_name()?;
        if &peer == self.name() {
            return Ok(());
        }
        dist.connect(&peer).await
    }

    /// Drops the connection to `peer` (Erlang's `disconnect_node/1`); node monitors here get
    /// `NodeDown` with [`NodeDownReason::Disconnect`]. Returns whether it was connected. A
    /// later message to `peer` connects again.
    ///
    /// A string that is not a node name is logged and gives `false`.
    pub fn disconnect(&self, peer: impl IntoNodeName) -> bool {
        match peer.into_node_name() {
            Ok(peer) => self.dist().is_some_and(|d| d.disconnect(&peer)),
            Err(e) => {
                tracing::warn!(error = %e, "disconnect: not a node name");
                false
            }
        }
    }

    /// The visible nodes this node is connected to, sorted (Erlang's `Node.list/0`): never
    /// this node, never hidden ones.
    pub fn nodes(&self) -> Vec<NodeName> {
        self.dist().map(|d| d.nodes(false)).unwrap_or_default()
    }

    /// The nodes connected through hidden connections (Erlang's `Node.list(:hidden)`).
    pub fn hidden_nodes(&self) -> Vec<NodeName> {
        self.dist().map(|d| d.nodes(true)).unwrap_or_default()
    }

    /// Subscribes to node up/down events (a non-process form of
    /// [`Ctx::monitor_nodes`](crate::Ctx::monitor_nodes)). Visible nodes only.
    pub fn node_events(&self) -> NodeEvents {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(d) = self.dist() {
            d.events.lock().push(tx);
        }
        NodeEvents { rx }
    }
}
