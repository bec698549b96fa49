//! Which connection carries a message for a node: the distribution side of the node
//! core's [`Router`] seam.
//!
//! The first message for a node that has no connection creates its entry in the table and
//! starts dialling it (`dial`); messages queue in the entry's output buffer meanwhile. A
//! peer cut off on purpose ([`Node::partition_from`](crate::Node::partition_from)) has no
//! route: what is sent to it is dropped, and links and monitors fire `NoConnection`.

use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use futures::future::BoxFuture;

use super::connection::{Conn, Wire};
use super::{Dist, DistProtocol, Ports};
use crate::node::{Route, Router};
use crate::process::{NodeName, Pid};

impl Router for Dist {
    fn route(&self, node: &NodeName) -> Option<Arc<dyn Route>> {
        self.conn_for(node, None).map(|c| c as Arc<dyn Route>)
    }

    fn existing(&self, node: &NodeName) -> Option<Arc<dyn Route>> {
        self.existing(node).map(|c| c as Arc<dyn Route>)
    }

    fn monitor_nodes(&self, pid: &Pid, on: bool) {
        let mut monitors = self.node_monitors.lock();
        monitors.retain(|p| p != pid);
        if on {
            monitors.push(pid.clone());
        }
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(Dist::shutdown(self))
    }

    fn halt(&self) {
        Dist::halt(self);
    }
}

impl Dist {
    /// The protocol of a connection this node starts, before dialling tells more: known
    /// when the setting or the node says so, otherwise learnt from the port mapper (frames
    /// queued meanwhile are encoded both ways).
    fn dial_wire(&self) -> Wire {
        match (self.config.erlang, self.config.protocol, self.config.ports) {
            (false, _, _) | (_, DistProtocol::Locus, _) => Wire::Locus,
            (true, DistProtocol::Erlang, _) => Wire::Erlang,
            (true, DistProtocol::Auto, Ports::Fixed(_)) => Wire::Locus,
            (true, DistProtocol::Auto, _) => Wire::Unknown,
        }
    }

    /// The connection to `peer`, starting one if there is none.
    pub(crate) fn conn_for(&self, peer: &NodeName, port_hint: Option<u16>) -> Option<Arc<Conn>> {
        if !peer.is_routable() {
            return None;
        }
        if self.any_blocked.load(std::sync::atomic::Ordering::Relaxed)
            && self.blocked.contains(peer)
        {
            return None;
        }
        if let Some(c) = self.peers.get(peer) {
            return Some(c.clone());
        }
        let dist = self.arc()?;
        if self.cancel.is_cancelled() {
            return None;
        }
        let (conn, created) = match self.peers.entry(peer.clone()) {
            Entry::Occupied(o) => (o.get().clone(), false),
            Entry::Vacant(v) => {
                let c = Conn::new(&dist, peer.clone(), self.dial_wire());
                c.set_outgoing();
                v.insert(c.clone());
                (c, true)
            }
        };
        if created {
            tokio::spawn(dist.initiate(conn.clone(), port_hint));
        }
        Some(conn)
    }

    /// The connection to `peer` if one exists (never starts one).
    pub(crate) fn existing(&self, peer: &NodeName) -> Option<Arc<Conn>> {
        self.peers.get(peer).map(|c| c.clone())
    }
}
