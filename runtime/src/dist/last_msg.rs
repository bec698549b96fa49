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

use super::frame::{self, FrameError, MsgHead, WireDest};
use crate::node::IncomingDest;
use crate::node::NodeName;
use crate::process::{Pid, WireKind};

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

    /// Remembers a parsed message header (reusing the buffers of the last one). `me` is
    /// this node's name and creation (a pid destination of another incarnation is gone);
    /// `peer` is the node on the other end, whose name most senders carry.
    pub(crate) fn remember(
        &mut self,
        me: (&NodeName, u32),
        peer: &NodeName,
        head: &MsgHead<'_>,
    ) -> Result<(), FrameError> {
        let MsgHead {
            kind,
            from,
            to,
            type_name,
            bytes,
        } = *head;
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
            WireDest::Pid(p) if p.is_of(me.0, me.1) => Dest::Local(p.id),
            WireDest::Pid(_) => Dest::Gone,
        };
        self.type_name.clear();
        self.type_name.push_str(type_name);
        self.head.extend_from_slice(bytes);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::frame::{self, DEFAULT_MAX_FRAME, Frame, MsgOut};
    use crate::node::Addressee;
    use crate::process::Pid;

    fn name(s: &str) -> NodeName {
        NodeName::new(s).unwrap()
    }

    fn msg_frame(from: &Pid, to: Addressee<'_>, type_name: &str, call_ref: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        frame::msg(
            &mut buf,
            DEFAULT_MAX_FRAME,
            &MsgOut {
                kind: WireKind::Call,
                from: Some(from),
                to,
                type_name,
                call_ref,
            },
            |b| rmp_serde::encode::write(b, &call_ref),
        )
        .unwrap();
        buf
    }

    /// Parses `buf` (a message frame) into `last`, as the reader does.
    fn remember(last: &mut LastMsg, me: (&NodeName, u32), peer: &NodeName, buf: &[u8]) {
        let Frame::Msg { head, .. } = frame::parse(buf).unwrap() else {
            panic!("not a message")
        };
        last.remember(me, peer, &head).unwrap();
    }

    /// This node, its peer, a process of the peer's, and an empty memory.
    fn fixture() -> (NodeName, NodeName, Pid, LastMsg) {
        let (me, peer) = (name("me@h"), name("peer@h"));
        let sender = Pid::new(peer.clone(), 7, 3);
        (me, peer, sender, LastMsg::default())
    }

    #[test]
    fn a_repeated_header_keeps_sender_destination_and_type() {
        let (me, peer, sender, mut last) = fixture();
        assert!(
            last.repeat(&msg_frame(&sender, Addressee::Name("ping"), "T", 1))
                .is_none()
        );
        remember(
            &mut last,
            (&me, 9),
            &peer,
            &msg_frame(&sender, Addressee::Name("ping"), "T", 1),
        );
        let next = msg_frame(&sender, Addressee::Name("ping"), "T", 300);
        let (call_ref, payload) = last.repeat(&next).unwrap().unwrap();
        assert_eq!(call_ref, 300);
        assert_eq!(rmp_serde::from_slice::<u64>(payload).unwrap(), 300);
        assert_eq!(
            (last.kind, last.from.as_ref(), last.type_name()),
            (WireKind::Call, Some(&sender), "T")
        );
        assert!(matches!(last.dest(), Some(IncomingDest::Name("ping"))));
        // Another sender, destination or type is not a repeat.
        let other = Pid::new(peer.clone(), 8, 3);
        assert!(
            last.repeat(&msg_frame(&other, Addressee::Name("ping"), "T", 2))
                .is_none()
        );
        assert!(
            last.repeat(&msg_frame(&sender, Addressee::Name("pong"), "T", 2))
                .is_none()
        );
        assert!(
            last.repeat(&msg_frame(&sender, Addressee::Name("ping"), "U", 2))
                .is_none()
        );
    }

    #[test]
    fn a_pid_destination_is_local_only_in_this_incarnation() {
        let (me, peer, sender, mut last) = fixture();
        let here = Pid::new(me.clone(), 42, 9);
        remember(
            &mut last,
            (&me, 9),
            &peer,
            &msg_frame(&sender, Addressee::Pid(&here), "T", 1),
        );
        assert!(matches!(last.dest(), Some(IncomingDest::Id(42))));
        let earlier = Pid::new(me.clone(), 42, 8);
        remember(
            &mut last,
            (&me, 9),
            &peer,
            &msg_frame(&sender, Addressee::Pid(&earlier), "T", 1),
        );
        assert!(last.dest().is_none());
        let elsewhere = Pid::new(name("third@h"), 42, 9);
        remember(
            &mut last,
            (&me, 9),
            &peer,
            &msg_frame(&sender, Addressee::Pid(&elsewhere), "T", 1),
        );
        assert!(last.dest().is_none());
    }

    #[test]
    fn a_huge_header_is_not_kept_past_the_next_one() {
        let (me, peer, sender, mut last) = fixture();
        let huge = "T".repeat(64 * 1024);
        remember(
            &mut last,
            (&me, 9),
            &peer,
            &msg_frame(&sender, Addressee::Name("ping"), &huge, 1),
        );
        assert_eq!(last.type_name(), huge);
        remember(
            &mut last,
            (&me, 9),
            &peer,
            &msg_frame(&sender, Addressee::Name("ping"), "T", 1),
        );
        assert!(last.head.capacity() <= MAX_KEPT && last.type_name.capacity() <= MAX_KEPT);
        assert!(
            last.repeat(&msg_frame(&sender, Addressee::Name("ping"), "T", 5))
                .is_some()
        );
    }

    #[test]
    fn a_sender_that_does_not_resolve_leaves_nothing_remembered() {
        let (me, peer, sender, mut last) = fixture();
        remember(
            &mut last,
            (&me, 9),
            &peer,
            &msg_frame(&sender, Addressee::Name("ping"), "T", 1),
        );
        // A sender whose node name is not a valid name.
        let bad = frame::WirePid {
            node: "no at sign",
            id: 1,
            creation: 1,
        };
        let head = frame::MsgHead {
            kind: WireKind::Cast,
            from: Some(bad),
            to: frame::WireDest::Name("ping"),
            type_name: "T",
            bytes: b"head",
        };
        let err = last.remember((&me, 9), &peer, &head);
        assert!(err.is_err());
        assert!(
            last.repeat(&msg_frame(&sender, Addressee::Name("ping"), "T", 2))
                .is_none()
        );
    }
}
