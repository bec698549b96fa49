//! Process identifiers and references.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::NodeName;

/// The identifier of a process, on this node or another: node name, local id and the
/// node's creation (its incarnation number).
///
/// A `Pid` is untyped: it can be stored, compared, hashed, put inside messages and sent to
/// other nodes. A pid whose creation differs from its node's current creation belongs to an
/// earlier incarnation of that node: messages to it are dropped, like messages to any dead
/// process.
///
/// It prints as `<id.creation@node>`, for example `<42.1@n1@127.0.0.1>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pid {
    // Field order matters: derived comparisons check the cheap integers first.
    id: u64,
    creation: u32,
    node: NodeName,
}

impl Pid {
    pub(crate) fn new(node: NodeName, id: u64, creation: u32) -> Self {
        Self { id, creation, node }
    }

    /// The node this process runs on.
    pub fn node(&self) -> &NodeName {
        &self.node
    }

    /// The process's number on its node. Never reused within one incarnation of a node.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The creation (incarnation) of the node that made this pid.
    pub fn creation(&self) -> u32 {
        self.creation
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}.{}@{}>", self.id, self.creation, self.node)
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Identifies one monitor, as returned by [`Ctx::monitor`](crate::Ctx::monitor); the same value
/// comes back in the [`Down`](crate::Down) signal it produces.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MonitorRef(pub(crate) u64);

impl fmt::Display for MonitorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#Ref<{}>", self.0)
    }
}

impl fmt::Debug for MonitorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
