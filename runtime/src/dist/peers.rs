//! The connection table: one entry per peer, connecting, disconnecting, listing, replacing
//! connections of restarted peers, and connect-all.
//!
//! Each peer has at most one entry. An entry is created by the first message to an
//! unconnected node (or by an incoming hello) and goes `Connecting` → `Up` → `Down`.
//! Messages sent while it connects wait in its buffer.
//!
//! An incoming connection from a node that already has an `Up` entry (it restarted, or lost
//! its side) replaces the entry only after it has authenticated: a stranger cannot tear
//! connections down by claiming a name.

use std::sync::Arc;
use std::time::Duration;

use dashmap::mapref::entry::Entry;

use super::connection::{Conn, PeerState, Phase, Wire};
use super::frame;
use super::handshake::PeerInfo;
use super::transport::Transport;
use super::{ConnectError, Dist};
use crate::node::{NodeDownReason, NodeName};

impl Dist {
    /// Notes a handshake failure with `peer`; true if it differs from the last one (log it).
    pub(super) fn failure_changed(&self, peer: &str, error: &str) -> bool {
        // Bounded: strangers cannot grow the table without bound.
        if self.failures.len() >= 4096 && !self.failures.contains_key(peer) {
            return false;
        }
        self.failures
            .insert(peer.to_owned(), error.to_owned())
            .is_none_or(|last| last != error)
    }

    pub(crate) fn arc(&self) -> Option<Arc<Dist>> {
        self.this.upgrade()
    }

    pub(crate) async fn connect(&self, peer: &NodeName) -> Result<(), ConnectError> {
        let mut conn = self
            .conn_for(peer, None)
            .ok_or(ConnectError::ShuttingDown)?;
        // The entry of a connection that just went down is not an answer to a new connect:
        // once it is torn down (its NodeDown delivered), try afresh.
        if matches!(conn.phase(), Phase::Down(_)) {
            conn.torn_down().await;
            self.forget(&conn);
            conn = self
                .conn_for(peer, None)
                .ok_or(ConnectError::ShuttingDown)?;
        }
        let mut phase = conn.subscribe();
        loop {
            match phase.borrow_and_update().clone() {
                Phase::Up => return Ok(()),
                Phase::Failed(e) => return Err((*e).clone()),
                Phase::Down(r) => return Err(ConnectError::Closed(r)),
                Phase::Connecting => {}
            }
            if phase.changed().await.is_err() {
                return Err(ConnectError::ShuttingDown);
            }
        }
    }

    pub(crate) fn disconnect(&self, peer: &NodeName) -> bool {
        match self.existing(peer) {
            // Listed but not yet up: `NodeUp` is going out. Closing fails the attempt, and
            // the task bringing it up then delivers `NodeDown(Disconnect)` (what
            // `Node::nodes` showed is what can be cut).
            Some(c) if c.is_up() || c.is_listed() => {
                c.close(NodeDownReason::Disconnect);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn nodes(&self, hidden: bool) -> Vec<NodeName> {
        let mut out: Vec<NodeName> = self
            .peers
            .iter()
            .filter(|e| {
                let c = e.value();
                c.is_listed() && c.is_visible(self.me.hidden) != hidden
            })
            .map(|e| e.key().clone())
            .collect();
        out.sort();
        out
    }

    /// Removes a connection from the table if it is still the current one.
    pub(crate) fn forget(&self, conn: &Arc<Conn>) {
        self.peers
            .remove_if(&conn.peer, |_, c| Arc::ptr_eq(c, conn));
    }

    /// Connects to nodes a peer told us about (connect-all).
    /// A port of 0 names a peer whose port this node must ask the port mapper for (a BEAM
    /// node).
    pub(crate) fn mesh_with(&self, peers: Vec<(NodeName, u16)>) {
        if self.me.hidden {
            return;
        }
        for (name, port) in peers {
            if name != self.me.name && !self.peers.contains_key(&name) {
                tracing::debug!(peer = %name, "meshing");
                let _ = self.conn_for(&name, (port != 0).then_some(port));
            }
        }
    }

    /// An authenticated connection: into the table (replacing an older one), node monitors
    /// told, then reading and writing start.
    pub(super) async fn conn_up(
        self: &Arc<Self>,
        conn: Arc<Conn>,
        stream: Transport,
        peer: PeerInfo,
    ) {
        if conn.phase() != Phase::Connecting {
            // Another attempt for the same entry won.
            return;
        }
        let Some(node) = self.node() else { return };
        // A later failure with this peer is news again.
        self.failures.remove(peer.name.as_str());
        let old = match self.peers.entry(peer.name.clone()) {
            Entry::Occupied(mut o) if !Arc::ptr_eq(o.get(), &conn) => Some(o.insert(conn.clone())),
            Entry::Occupied(_) => None,
            Entry::Vacant(v) => {
                v.insert(conn.clone());
                None
            }
        };
        if let Some(old) = old {
            // The old connection's NodeDown comes before the new one's NodeUp.
            let reason = match old.peer_state() {
                Some(s) if s.creation != peer.creation => NodeDownReason::Restarted,
                _ => NodeDownReason::ConnectionClosed,
            };
            old.close(reason);
            old.torn_down().await;
        }
        let (rd, wr) = stream.split();
        let state = PeerState {
            creation: peer.creation,
            hidden: peer.hidden,
            listen_port: peer.listen_port,
        };
        // Order: listed in `nodes()`, then `NodeUp` delivered, then `connect()` returns, then
        // frames are read (so `NodeUp` comes before any message from the connection).
        conn.list(state);
        let visible = conn.is_visible(self.me.hidden);
        if visible {
            self.node_up(&peer.name);
        }
        if !conn.mark_up() {
            // Failed or closed meanwhile (shutdown, a lost simultaneous race, a disconnect):
            // the `NodeUp` just delivered gets its `NodeDown` here, with the closing reason.
            if visible {
                self.node_down(&peer.name, conn.closed_reason());
            }
            self.forget(&conn);
            return;
        }
        tracing::info!(peer = %peer.name, hidden = !visible, "node up");
        if visible && conn.wire() == Wire::Locus {
            let others: Vec<(NodeName, u16)> = self
                .peers
                .iter()
                .filter(|e| e.key() != &peer.name && e.value().is_visible(self.me.hidden))
                .filter_map(|e| {
                    e.value()
                        .peer_state()
                        .map(|s| (e.key().clone(), s.listen_port))
                })
                .collect();
            let _ = conn.push(|_, buf| {
                frame::peers(buf, &others);
                Ok(())
            });
        }
        conn.spawn_io(
            &node,
            rd,
            wr,
            self.config.tick_time,
            self.config.tick_interval(),
        );
    }

    /// Drops out of the cluster at once: every connection closed with no goodbye (peers
    /// see it lost), the listener and the port mapper registration stopped.
    pub(crate) fn halt(&self) {
        self.cancel.cancel();
        let conns: Vec<Arc<Conn>> = self.peers.iter().map(|e| e.value().clone()).collect();
        for c in conns {
            c.close(NodeDownReason::Shutdown);
            c.fail(ConnectError::ShuttingDown);
        }
    }

    /// Leaves the cluster: goodbyes to peers, then the listener and port mapper stop.
    pub(crate) async fn shutdown(&self) {
        self.cancel.cancel();
        let conns: Vec<Arc<Conn>> = self.peers.iter().map(|e| e.value().clone()).collect();
        for c in &conns {
            if c.is_up() {
                c.leave();
            } else {
                c.fail(ConnectError::ShuttingDown);
            }
        }
        for c in conns {
            let mut phase = c.subscribe();
            let _ =
                tokio::time::timeout(Duration::from_secs(1), phase.wait_for(|p| *p != Phase::Up))
                    .await;
        }
    }
}
