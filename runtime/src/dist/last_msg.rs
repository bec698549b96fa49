//! A connection reader's memory of the last message header it parsed.
//!
//! A stream of messages from one process to another repeats its header byte for byte but
//! for the call reference: the kind, the sender's pid, the destination, the type name. The
//! reader keeps what it made of the last one (the sender as an owned [`Pid`], the
//! destination resolved against this node's incarnation), so such a stream pays for
//! parsing and checking those fields once, not once per message: the next frame only has
//! to start with the same bytes ([`frame::repeated_msg`]).
//!
//! Nothing here outlives a node's incarnation or goes stale: a name destination is kept as
//! the name and looked up at every delivery, and a pid destination is kept as the local id
//! it named (or as gone), which a later registration or exit does not change.
//!
//! ```text
//! frame 1: [MSG, cast, <0.7.peer>, "ping", "Ping", 0] payload   → parsed, remembered
//! frame 2: [MSG, cast, <0.7.peer>, "ping", "Ping", 0] payload   → head matches: call_ref, payload
//! frame 3: [MSG, call, <0.9.peer>, "ping", "Ping", 17] payload  → parsed, remembered instead
//! ```

use super::frame::{self, FrameError, WireDest, WirePid};
use crate::node::{Node, NodeName};
use crate::process::{IncomingDest, Pid, WireKind};

/// Buffers above this size are dropped rather than reused for the next header.
const MAX_KEPT: usize = 4096;

/// Where the remembered message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest {
    /// The registered name in [`LastMsg::name`].
    Name,
    /// A local process of this incarnation.
    Local(u64),
    /// A pid of another node or of an earlier incarnation of this one.
    Gone,
}

/// The last message header a reader parsed, resolved. Empty until the first message.
#[derive(Debug)]
pub(crate) struct LastMsg {
    /// The header's bytes before the call reference; empty when nothing is remembered.
    head: Vec<u8>,
    pub(crate) kind: WireKind,
    pub(crate) from: Option<Pid>,
    dest: Dest,
    name: String,
    type_name: String,
}

impl Default for LastMsg {
    fn default() -> Self {
        LastMsg {
            head: Vec::new(),
            kind: WireKind::Send,
            from: None,
            dest: Dest::Gone,
            name: String::new(),
            type_name: String::new(),
        }
    }
}

impl LastMsg {
    /// The call reference and payload of `frame` if it repeats the remembered header.
    pub(crate) fn repeat<'a>(
        &self,
        frame: &'a [u8],
    ) -> Option<Result<(u64, &'a [u8]), FrameError>> {
        if self.head.is_empty() {
            return None;
        }
        frame::repeated_msg(frame, &self.head)
    }

    /// Remembers a parsed message header (reusing the buffers of the last one). `peer` is
    /// the node on the other end, whose name most senders carry.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn remember(
        &mut self,
        node: &Node,
        peer: &NodeName,
        head: &[u8],
        kind: WireKind,
        from: Option<WirePid<'_>>,
        to: WireDest<'_>,
        type_name: &str,
    ) -> Result<(), FrameError> {
        // Forget first: if the sender's pid does not resolve, nothing stale is left behind.
        // A huge header (names can be as long as a frame) is not kept past the next one.
        if self.head.capacity() > MAX_KEPT {
            *self = LastMsg::default();
        }
        self.head.clear();
        self.from = from.map(|p| p.to_pid(peer)).transpose()?;
        self.kind = kind;
        self.dest = match to {
            WireDest::Name(n) => {
                self.name.clear();
                self.name.push_str(n);
                Dest::Name
            }
            WireDest::Pid(p) if p.node == node.name().as_str() && p.creation == node.creation() => {
                Dest::Local(p.id)
            }
            WireDest::Pid(_) => Dest::Gone,
        };
        self.type_name.clear();
        self.type_name.push_str(type_name);
        self.head.extend_from_slice(head);
        Ok(())
    }

    /// The local destination, or `None` if the message names a process that is gone.
    pub(crate) fn dest(&self) -> Option<IncomingDest<'_>> {
        match self.dest {
            Dest::Name => Some(IncomingDest::Name(&self.name)),
            Dest::Local(id) => Some(IncomingDest::Id(id)),
            Dest::Gone => None,
        }
    }

    pub(crate) fn type_name(&self) -> &str {
        &self.type_name
    }
}
