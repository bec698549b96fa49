//! The services every node boots, and where the kernel is given them.
//!
//! The kernel sits below the services it boots and imports none of them; this list, at the
//! top of the crate, hands them to it through [`Node::builder`]. Order matters: a service
//! starts after those it uses (pubsub after process groups).

use crate::kernel::{NodeBuilder, Service};
use crate::node::Node;

/// Booted by every node, in this order.
const DEFAULT: &[Service] = &[
    crate::rpc::SERVICE,
    crate::remote_spawn::SERVICE,
    crate::pg::SERVICE,
    crate::pubsub::SERVICE,
    crate::global::SERVICE,
    crate::introspect::SERVICE,
    crate::beam_mesh::SERVICE,
];

impl Node {
    /// Starts configuring a node. See [`NodeBuilder`].
    pub fn builder() -> NodeBuilder {
        NodeBuilder::with_services(DEFAULT)
    }
}

impl Default for NodeBuilder {
    /// The same as [`Node::builder`].
    fn default() -> Self {
        Node::builder()
    }
}
