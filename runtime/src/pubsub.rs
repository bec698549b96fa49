//! Publish/subscribe across the cluster (Phoenix.PubSub), on top of process groups.
//!
//! A process subscribes to a topic; [`PubSub::broadcast`] delivers a message to every
//! subscriber on every connected node, [`PubSub::local_broadcast`] to those on this node.
//! A broadcast is encoded once and sent once per node, then fanned out there.
//!
//! # Guarantees
//!
//! Broadcasts from one process to one subscriber arrive in the order sent. A subscriber
//! leaves its topics when it exits. As with process groups, a node that just connected may
//! miss a broadcast sent before the groups synced.
//!
//! ```
//! use locus::{Ctx, Node, Signal};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder().start().await?;
//! let (tx, rx) = tokio::sync::oneshot::channel();
//! let sub = node.spawn(move |mut ctx: Ctx<String>| async move {
//!     if let Signal::Message(m) = ctx.recv().await { let _ = tx.send(m); }
//! });
//! node.pubsub().subscribe("news", sub.pid()).await?;
//! node.pubsub().broadcast("news", &"hello".to_string());
//! assert_eq!(rx.await?, "hello");
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::gen_server::{Client, Flow, GenServer, RemoteCodec, ServerCtx, StartError};
use crate::kernel::{Service, ensure_started, nothing_to_install};
use crate::node::{IncomingDest, Node, NodeName};
use crate::pg::{Pg, PgError};
use crate::process::{Incoming, Message, Pid, Signal, WireBytes, WireKind, wire_name};

/// The pg scope that holds topics.
pub(crate) const SCOPE: &str = "locus.pubsub";
/// The relay on each node that fans broadcasts out to its local subscribers.
const RELAY: &str = "locus.pubsub.relay";

/// Pub/sub on a node. From [`Node::pubsub`].
#[derive(Clone)]
pub struct PubSub {
    node: Node,
}

impl fmt::Debug for PubSub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubSub")
            .field("node", self.node.name())
            .finish()
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Relay {
    topic: String,
    type_name: String,
    #[serde(with = "serde_bytes")]
    payload: Vec<u8>,
}

/// Delivers broadcasts from other nodes to this node's subscribers.
pub(crate) struct RelayServer;

impl GenServer for RelayServer {
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = Relay;

    fn remote() -> Option<RemoteCodec<Self>> {
        Some(RemoteCodec::serde().named(
            "locus.pubsub.call",
            "locus.pubsub.cast",
            "locus.pubsub.relay",
        ))
    }

    async fn handle_info(&mut self, info: Signal<Relay>, ctx: &mut ServerCtx<Self>) -> Flow {
        if let Signal::Message(r) = info {
            let node = ctx.node();
            for pid in node.pg_scope(SCOPE).local_members(&r.topic) {
                node.deliver_encoded(&pid, &r.type_name, &r.payload);
            }
        }
        Flow::Continue
    }
}

/// Pubsub as the kernel boots it: on a distributed node, its topics' process group scope
/// and the relay.
pub(crate) const SERVICE: Service = Service {
    name: "pubsub",
    install: nothing_to_install,
    start: Some(|node| Box::pin(start(node))),
};

async fn start(node: &Node) -> Result<(), StartError> {
    crate::pg::start_scope(node, SCOPE).await?;
    ensure_started(node, RELAY, || async {
        RelayServer::start(node, RelayServer)
            .register(RELAY)
            .await
            .map(drop)
    })
    .await
}

impl Node {
    /// Pub/sub across the cluster.
    pub fn pubsub(&self) -> PubSub {
        PubSub { node: self.clone() }
    }

    /// Offers pre-encoded bytes to a local process, as if they came from another node.
    fn deliver_encoded(&self, pid: &Pid, type_name: &str, payload: &[u8]) {
        if !self.is_local(pid) {
            return;
        }
        let msg = Incoming {
            kind: WireKind::Send,
            type_name,
            payload: WireBytes::msgpack(payload),
            from: None,
            reply_to: None,
        };
        let _ = self.deliver_incoming(IncomingDest::Id(pid.id()), msg);
    }
}

impl PubSub {
    fn topics(&self) -> Pg {
        self.node.pg_scope(SCOPE)
    }

    /// Subscribes `pid` (a process of this node) to `topic`. Its messages must be of the
    /// type broadcast on that topic.
    ///
    /// # Errors
    ///
    /// As [`Pg::join`].
    pub async fn subscribe(&self, topic: &str, pid: &Pid) -> Result<(), PgError> {
        start(&self.node).await?;
        self.topics().join(topic, pid).await
    }

    /// Unsubscribes one subscription of `pid`; whether it had one.
    ///
    /// # Errors
    ///
    /// As [`Pg::leave`].
    pub async fn unsubscribe(&self, topic: &str, pid: &Pid) -> Result<bool, PgError> {
        self.topics().leave(topic, pid).await
    }

    /// The subscribers of `topic` on every connected node.
    pub fn subscribers(&self, topic: &str) -> Vec<Pid> {
        self.topics().members(topic)
    }

    /// Sends `msg` to every subscriber of `topic` in the cluster. Returns how many
    /// subscribers it was addressed to.
    pub fn broadcast<T: Message + Clone>(&self, topic: &str, msg: &T) -> usize {
        let members = self.topics().members(topic);
        let mut remote: BTreeMap<NodeName, usize> = BTreeMap::new();
        for pid in &members {
            if self.node.is_local(pid) {
                let _ = self.node.send(pid, msg.clone());
            } else {
                *remote.entry(pid.node().clone()).or_default() += 1;
            }
        }
        if !remote.is_empty() {
            match rmp_serde::to_vec(msg) {
                Ok(payload) => {
                    for peer in remote.keys() {
                        let relay = Relay {
                            topic: topic.to_owned(),
                            type_name: wire_name::<T>().to_owned(),
                            payload: payload.clone(),
                        };
                        let _ = Client::<RelayServer>::new(&self.node, (RELAY, peer)).send(relay);
                    }
                }
                Err(e) => {
                    tracing::warn!(%topic, error = %e, "broadcast does not encode; other nodes skipped")
                }
            }
        }
        members.len()
    }

    /// Sends `msg` to the subscribers of `topic` on this node only.
    pub fn local_broadcast<T: Message + Clone>(&self, topic: &str, msg: &T) -> usize {
        let members = self.topics().local_members(topic);
        for pid in &members {
            let _ = self.node.send(pid, msg.clone());
        }
        members.len()
    }
}
