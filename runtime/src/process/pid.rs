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
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

/// A pid's fields by name, for formats read by people (JSON: `{"id", "creation", "node"}`).
#[derive(Serialize, Deserialize)]
struct PidFields {
    id: u64,
    creation: u32,
    node: NodeName,
}

/// The name under which a pid crosses serde in binary formats, as `(id, creation, node)`:
/// MessagePack writes the tuple (as it wrote the struct before), and Erlang's term format
/// recognises the name and writes a native pid (`crate::etf`).
const PID_NEWTYPE: &str = "$locus::Pid";

impl Serialize for Pid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            PidFields {
                id: self.id,
                creation: self.creation,
                node: self.node.clone(),
            }
            .serialize(s)
        } else {
            s.serialize_newtype_struct(PID_NEWTYPE, &(self.id, self.creation, &self.node))
        }
    }
}

impl<'de> Deserialize<'de> for Pid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let f = PidFields::deserialize(d)?;
            return Ok(Pid::new(f.node, f.id, f.creation));
        }
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Pid;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a pid")
            }
            fn visit_newtype_struct<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Pid, D::Error> {
                let (id, creation, node) = <(u64, u32, NodeName)>::deserialize(d)?;
                Ok(Pid::new(node, id, creation))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Pid, A::Error> {
                let missing = || serde::de::Error::custom("a pid is (id, creation, node)");
                let id = seq.next_element()?.ok_or_else(missing)?;
                let creation = seq.next_element()?.ok_or_else(missing)?;
                let node = seq.next_element()?.ok_or_else(missing)?;
                Ok(Pid::new(node, id, creation))
            }
        }
        d.deserialize_newtype_struct(PID_NEWTYPE, V)
    }
}

/// As an Elixir user reads a pid: `#PID<7.0.512@b@127.0.0.1>`, the id's low and high 32
/// bits (the number and serial a BEAM node shows for it), the creation's last three digits
/// (which incarnation of the node), then the node. `{:?}` shows the whole creation.
impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#PID<{}.{}.{}@{}>",
            self.id & 0xffff_ffff,
            self.id >> 32,
            self.creation % 1000,
            self.node
        )
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#PID<{}.{}@{} creation {}>",
            self.id & 0xffff_ffff,
            self.id >> 32,
            self.node,
            self.creation
        )
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
