//! Partitions made on purpose, for tests (feature `test-hooks`): a node cut off from a peer
//! drops the connection and refuses to connect again until healed. The checks live in the
//! router (`route.rs`) and the acceptor (`accept.rs`); these are the switches.

use std::sync::atomic::Ordering;

use super::{ConnectError, Dist};
use crate::node::{Node, NodeDownReason, NodeName};

impl Node {
    /// Cuts this node off from `peer` and keeps it cut: the connection drops (both sides
    /// see `NodeDown`) and neither side reconnects until [`heal_with`](Self::heal_with).
    /// A test hook (feature `test-hooks`) for partitions.
    pub fn partition_from(&self, peer: &NodeName) {
        if let Some(d) = self.try_extension::<Dist>() {
            d.blocked.insert(peer.clone());
            d.any_blocked.store(true, Ordering::SeqCst);
            if let Some(c) = d.existing(peer) {
                c.close(NodeDownReason::Disconnect);
                if !c.is_listed() {
                    c.fail(ConnectError::ShuttingDown);
                }
            }
        }
    }

    /// Ends a partition made with [`partition_from`](Self::partition_from); the nodes
    /// connect again at the next message or [`connect`](Self::connect) (once both sides
    /// have healed).
    pub fn heal_with(&self, peer: &NodeName) {
        if let Some(d) = self.try_extension::<Dist>() {
            d.blocked.remove(peer);
            if d.blocked.is_empty() {
                d.any_blocked.store(false, Ordering::SeqCst);
            }
        }
    }
}
