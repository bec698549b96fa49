//! Frames: the unit of everything sent between connected nodes.
//!
//! ```text
//! frame   = length:u32 (big-endian, bytes that follow) header payload
//! header  = MessagePack array, first element the frame tag
//! payload = MessagePack value (a message, a reply, an exit reason...), may be empty
//! ```
//!
//! [`check`] tells cheaply whether a whole frame is buffered (`Ok(None)`: read more; never
//! an error); [`parse`] decodes a whole frame into a [`Frame`] that borrows from the buffer.
//! Encoding appends straight into a connection's output buffer and rolls back on failure, so
//! a frame is either written whole or not at all. Every decode path returns an error, never
//! panics; frames have a size limit.

use rmp::Marker;

use crate::node::Addressee;
use crate::process::{EncodeError, ExitReason, MonitorRef, NodeName, Pid, WireKind};

/// The default largest frame, header and payload (Erlang has no limit; a limit is what keeps
/// a hostile peer from making this node allocate without bound).
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;

const TICK: u8 = 0;
const MSG: u8 = 1;
const REPLY: u8 = 2;
const LINK: u8 = 3;
const UNLINK: u8 = 4;
const EXIT: u8 = 5;
const MONITOR: u8 = 6;
const DEMONITOR: u8 = 7;
const DOWN: u8 = 8;
const PEERS: u8 = 9;
const BYE: u8 = 10;

/// A frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("frame of {0} bytes is over the limit of {1}")]
    TooLarge(usize, usize),
    #[error("malformed frame: {0}")]
    Malformed(String),
}

fn bad(what: impl Into<String>) -> FrameError {
    FrameError::Malformed(what.into())
}

/// A pid as it appears in a header, borrowing its node name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WirePid<'a> {
    pub(crate) node: &'a str,
    pub(crate) id: u64,
    pub(crate) creation: u32,
}

impl WirePid<'_> {
    /// Whether this is a pid of node `name` in its incarnation `creation`.
    pub(crate) fn is_of(&self, name: &NodeName, creation: u32) -> bool {
        self.node == name.as_str() && self.creation == creation
    }

    /// An owned pid, reusing `known`'s allocation when the node is that one.
    pub(crate) fn to_pid(self, known: &NodeName) -> Result<Pid, FrameError> {
        let node = if known.as_str() == self.node {
            known.clone()
        } else {
            NodeName::new(self.node).map_err(|e| bad(e.to_string()))?
        };
        Ok(Pid::new(node, self.id, self.creation))
    }
}

/// The destination of a message frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireDest<'a> {
    Pid(WirePid<'a>),
    Name(&'a str),
}

/// The header of a message frame as parsed, borrowing from the read buffer: everything
/// before its call reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MsgHead<'a> {
    pub(crate) kind: WireKind,
    pub(crate) from: Option<WirePid<'a>>,
    pub(crate) to: WireDest<'a>,
    pub(crate) type_name: &'a str,
    /// The header's bytes: messages between the same two processes repeat them exactly
    /// (see [`repeated_msg`]).
    pub(crate) bytes: &'a [u8],
}

/// The header of a message frame to encode.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MsgOut<'a> {
    pub(crate) kind: WireKind,
    pub(crate) from: Option<&'a Pid>,
    pub(crate) to: Addressee<'a>,
    pub(crate) type_name: &'a str,
    /// Which call a reply answers; 0 for a message that is not a call.
    pub(crate) call_ref: u64,
}

/// A decoded frame, borrowing from the read buffer.
#[derive(Debug, PartialEq)]
pub(crate) enum Frame<'a> {
    Tick,
    Msg {
        head: MsgHead<'a>,
        call_ref: u64,
        payload: &'a [u8],
    },
    Reply {
        call_ref: u64,
        ok: bool,
        payload: &'a [u8],
    },
    Link {
        from: WirePid<'a>,
        to: WirePid<'a>,
    },
    Unlink {
        from: WirePid<'a>,
        to: WirePid<'a>,
    },
    Exit {
        from: WirePid<'a>,
        to: WirePid<'a>,
        via_link: bool,
        reason: ExitReason,
    },
    Monitor {
        watcher: WirePid<'a>,
        target: WirePid<'a>,
        monitor: MonitorRef,
    },
    Demonitor {
        watcher: WirePid<'a>,
        target: WirePid<'a>,
        monitor: MonitorRef,
    },
    Down {
        watcher: WirePid<'a>,
        pid: WirePid<'a>,
        monitor: MonitorRef,
        reason: ExitReason,
    },
    /// The sender's other visible nodes and their listen ports, so the receiver meshes.
    Peers(Vec<(NodeName, u16)>),
    /// The sender is leaving the cluster cleanly.
    Bye,
}

/// Whether `buf` starts with a whole frame: `Ok(Some(len))` with the frame's total length,
/// `Ok(None)` if more bytes are needed.
pub(crate) fn check(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    let Some(total) = declared_len(buf) else {
        return Ok(None);
    };
    let len = total - 4;
    if len > max {
        return Err(FrameError::TooLarge(len, max));
    }
    if len == 0 {
        return Err(bad("empty frame"));
    }
    Ok((buf.len() >= 4 + len).then_some(4 + len))
}

/// The whole length (prefix included) that the frame at the front of `buf` declares, once
/// its length prefix is buffered; not checked against any limit (see [`check`]).
pub(crate) fn declared_len(buf: &[u8]) -> Option<usize> {
    let p = buf.get(..4)?;
    Some(4 + u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize)
}

/// Reads header fields from a slice that it advances.
struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn peek(&self) -> Option<Marker> {
        self.0.first().map(|&b| Marker::from_u8(b))
    }

    fn array(&mut self) -> Result<u32, FrameError> {
        rmp::decode::read_array_len(&mut self.0).map_err(|e| bad(format!("array: {e}")))
    }

    fn uint<T: num_from_u64::FromU64>(&mut self) -> Result<T, FrameError> {
        let v: u64 =
            rmp::decode::read_int(&mut self.0).map_err(|e| bad(format!("integer: {e}")))?;
        T::from_u64(v).ok_or_else(|| bad("integer out of range"))
    }

    fn bool(&mut self) -> Result<bool, FrameError> {
        rmp::decode::read_bool(&mut self.0).map_err(|e| bad(format!("bool: {e}")))
    }

    fn str(&mut self) -> Result<&'a str, FrameError> {
        let (s, rest) =
            rmp::decode::read_str_from_slice(self.0).map_err(|e| bad(format!("string: {e}")))?;
        self.0 = rest;
        Ok(s)
    }

    fn nil(&mut self) -> Result<(), FrameError> {
        rmp::decode::read_nil(&mut self.0).map_err(|e| bad(format!("nil: {e}")))
    }

    fn pid(&mut self) -> Result<WirePid<'a>, FrameError> {
        if self.array()? != 3 {
            return Err(bad("a pid is [node, id, creation]"));
        }
        Ok(WirePid {
            node: self.str()?,
            id: self.uint()?,
            creation: self.uint()?,
        })
    }

    fn opt_pid(&mut self) -> Result<Option<WirePid<'a>>, FrameError> {
        if self.peek() == Some(Marker::Null) {
            self.nil()?;
            Ok(None)
        } else {
            self.pid().map(Some)
        }
    }

    fn dest(&mut self) -> Result<WireDest<'a>, FrameError> {
        match self.peek() {
            Some(Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32) => {
                self.str().map(WireDest::Name)
            }
            _ => self.pid().map(WireDest::Pid),
        }
    }

    fn expect_len(&mut self, tag: u8, len: u32, want: u32) -> Result<(), FrameError> {
        if len == want {
            Ok(())
        } else {
            Err(bad(format!(
                "frame tag {tag} has {len} fields, expected {want}"
            )))
        }
    }
}

mod num_from_u64 {
    pub(crate) trait FromU64: Sized {
        fn from_u64(v: u64) -> Option<Self>;
    }
    impl FromU64 for u64 {
        fn from_u64(v: u64) -> Option<Self> {
            Some(v)
        }
    }
    impl FromU64 for u32 {
        fn from_u64(v: u64) -> Option<Self> {
            u32::try_from(v).ok()
        }
    }
    impl FromU64 for u8 {
        fn from_u64(v: u64) -> Option<Self> {
            u8::try_from(v).ok()
        }
    }
}

fn reason(payload: &[u8]) -> Result<ExitReason, FrameError> {
    rmp_serde::from_slice(payload).map_err(|e| bad(format!("exit reason: {e}")))
}

/// The call reference and payload of a message frame whose header starts with `head`, the
/// `head` of an earlier [`Frame::Msg`]; `None` if it does not start so.
///
/// Parsing reads a header front to back, so a frame that starts with the same bytes holds
/// the same kind, pids, destination and type name: only the call reference is left to read.
/// A stream of messages between two processes skips the parse and checks of the rest.
pub(crate) fn repeated_msg<'a>(
    frame: &'a [u8],
    head: &[u8],
) -> Option<Result<(u64, &'a [u8]), FrameError>> {
    let rest = frame.get(4..)?.strip_prefix(head)?;
    let mut rd = Rd(rest);
    Some(rd.uint().map(|call_ref| (call_ref, rd.0)))
}

/// Decodes a whole frame (as returned by [`check`], length prefix included).
pub(crate) fn parse(frame: &[u8]) -> Result<Frame<'_>, FrameError> {
    let body = frame.get(4..).ok_or_else(|| bad("no length prefix"))?;
    let mut rd = Rd(body);
    let len = rd.array()?;
    if len == 0 {
        return Err(bad("empty header"));
    }
    let tag: u8 = rd.uint()?;
    let frame = match tag {
        TICK => {
            rd.expect_len(tag, len, 1)?;
            Frame::Tick
        }
        MSG => {
            rd.expect_len(tag, len, 6)?;
            let kind =
                WireKind::from_code(rd.uint()?).ok_or_else(|| bad("unknown message kind"))?;
            let from = rd.opt_pid()?;
            let to = rd.dest()?;
            let type_name = rd.str()?;
            let bytes = &body[..body.len() - rd.0.len()];
            let call_ref = rd.uint()?;
            Frame::Msg {
                head: MsgHead {
                    kind,
                    from,
                    to,
                    type_name,
                    bytes,
                },
                call_ref,
                payload: rd.0,
            }
        }
        REPLY => {
            rd.expect_len(tag, len, 3)?;
            let call_ref = rd.uint()?;
            let ok = rd.bool()?;
            Frame::Reply {
                call_ref,
                ok,
                payload: rd.0,
            }
        }
        LINK | UNLINK => {
            rd.expect_len(tag, len, 3)?;
            let from = rd.pid()?;
            let to = rd.pid()?;
            if tag == LINK {
                Frame::Link { from, to }
            } else {
                Frame::Unlink { from, to }
            }
        }
        EXIT => {
            rd.expect_len(tag, len, 4)?;
            let from = rd.pid()?;
            let to = rd.pid()?;
            let via_link = rd.bool()?;
            Frame::Exit {
                from,
                to,
                via_link,
                reason: reason(rd.0)?,
            }
        }
        MONITOR | DEMONITOR => {
            rd.expect_len(tag, len, 4)?;
            let watcher = rd.pid()?;
            let target = rd.pid()?;
            let monitor = MonitorRef(rd.uint()?);
            if tag == MONITOR {
                Frame::Monitor {
                    watcher,
                    target,
                    monitor,
                }
            } else {
                Frame::Demonitor {
                    watcher,
                    target,
                    monitor,
                }
            }
        }
        DOWN => {
            rd.expect_len(tag, len, 4)?;
            let watcher = rd.pid()?;
            let pid = rd.pid()?;
            let monitor = MonitorRef(rd.uint()?);
            Frame::Down {
                watcher,
                pid,
                monitor,
                reason: reason(rd.0)?,
            }
        }
        PEERS => {
            rd.expect_len(tag, len, 1)?;
            let peers = rmp_serde::from_slice(rd.0).map_err(|e| bad(format!("peers: {e}")))?;
            Frame::Peers(peers)
        }
        BYE => {
            rd.expect_len(tag, len, 1)?;
            Frame::Bye
        }
        other => return Err(bad(format!("unknown frame tag {other}"))),
    };
    Ok(frame)
}

/// Why a frame could not be encoded. The buffer is left as it was.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EncodeFrameError {
    #[error("the message does not serialize: {0}")]
    Payload(#[from] EncodeError),
    #[error("frame of {0} bytes is over the limit of {1}")]
    TooLarge(usize, usize),
}

/// Builds one frame at the end of `buf`.
pub(crate) struct FrameWriter<'b> {
    buf: &'b mut Vec<u8>,
    start: usize,
}

// Writing MessagePack into a Vec cannot fail.
fn w<T, E>(r: Result<T, E>) {
    let _ = r;
}

impl<'b> FrameWriter<'b> {
    /// Starts a frame whose header has `fields` elements, the tag first.
    fn begin(buf: &'b mut Vec<u8>, fields: u32, tag: u8) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&[0; 4]);
        w(rmp::encode::write_array_len(buf, fields));
        w(rmp::encode::write_uint(buf, u64::from(tag)));
        Self { buf, start }
    }

    fn uint(&mut self, v: u64) -> &mut Self {
        w(rmp::encode::write_uint(self.buf, v));
        self
    }

    fn bool(&mut self, v: bool) -> &mut Self {
        w(rmp::encode::write_bool(self.buf, v));
        self
    }

    fn str(&mut self, v: &str) -> &mut Self {
        w(rmp::encode::write_str(self.buf, v));
        self
    }

    fn pid(&mut self, p: &Pid) -> &mut Self {
        w(rmp::encode::write_array_len(self.buf, 3));
        self.str(p.node().as_str())
            .uint(p.id())
            .uint(u64::from(p.creation()))
    }

    fn nil(&mut self) -> &mut Self {
        w(rmp::encode::write_nil(self.buf));
        self
    }

    /// Appends the payload and seals the frame, or restores the buffer on failure.
    fn finish(
        self,
        max: usize,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeFrameError> {
        let undo = |buf: &mut Vec<u8>| {
            buf.truncate(self.start);
            crate::process::unshare_after(self.start);
        };
        if let Err(e) = payload(self.buf) {
            undo(self.buf);
            return Err(e.into());
        }
        // Large blobs in the payload may follow by reference (see `Blob`): they count.
        let len = self.buf.len() - self.start - 4 + crate::process::shared_len_after(self.start);
        if len > max {
            undo(self.buf);
            return Err(EncodeFrameError::TooLarge(len, max));
        }
        self.buf[self.start..self.start + 4].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }
}

fn no_payload(_: &mut Vec<u8>) -> Result<(), EncodeError> {
    Ok(())
}

pub(crate) fn tick(buf: &mut Vec<u8>) {
    let _ = FrameWriter::begin(buf, 1, TICK).finish(usize::MAX, no_payload);
}

pub(crate) fn bye(buf: &mut Vec<u8>) {
    let _ = FrameWriter::begin(buf, 1, BYE).finish(usize::MAX, no_payload);
}

pub(crate) fn msg(
    buf: &mut Vec<u8>,
    max: usize,
    msg: &MsgOut<'_>,
    payload: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeFrameError> {
    let mut f = FrameWriter::begin(buf, 6, MSG);
    f.uint(u64::from(msg.kind.code()));
    match msg.from {
        Some(p) => f.pid(p),
        None => f.nil(),
    };
    match msg.to {
        Addressee::Pid(p) => f.pid(p),
        Addressee::Name(n) => f.str(n),
    };
    f.str(msg.type_name).uint(msg.call_ref);
    f.finish(max, payload)
}

pub(crate) fn reply(
    buf: &mut Vec<u8>,
    max: usize,
    call_ref: u64,
    ok: bool,
    payload: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeFrameError> {
    let mut f = FrameWriter::begin(buf, 3, REPLY);
    f.uint(call_ref).bool(ok);
    f.finish(max, payload)
}

pub(crate) fn link(buf: &mut Vec<u8>, from: &Pid, to: &Pid, unlink: bool) {
    let mut f = FrameWriter::begin(buf, 3, if unlink { UNLINK } else { LINK });
    f.pid(from).pid(to);
    let _ = f.finish(usize::MAX, no_payload);
}

/// The longest exit reason text sent to another node; longer ones are cut, so that a huge
/// panic message cannot push a frame over the limit.
const MAX_REASON_TEXT: usize = 16 * 1024;

fn bounded(reason: &ExitReason) -> std::borrow::Cow<'_, ExitReason> {
    let cut = |text: &str| {
        let mut end = MAX_REASON_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}... ({} bytes, cut)", &text[..end], text.len())
    };
    match reason {
        ExitReason::Error(t) if t.len() > MAX_REASON_TEXT => {
            std::borrow::Cow::Owned(ExitReason::Error(cut(t)))
        }
        ExitReason::Panic(t) if t.len() > MAX_REASON_TEXT => {
            std::borrow::Cow::Owned(ExitReason::Panic(cut(t)))
        }
        other => std::borrow::Cow::Borrowed(other),
    }
}

pub(crate) fn exit(buf: &mut Vec<u8>, from: &Pid, to: &Pid, via_link: bool, reason: &ExitReason) {
    let mut f = FrameWriter::begin(buf, 4, EXIT);
    f.pid(from).pid(to).bool(via_link);
    let reason = bounded(reason);
    let _ = f.finish(usize::MAX, |b| rmp_serde::encode::write(b, &*reason));
}

pub(crate) fn monitor(
    buf: &mut Vec<u8>,
    watcher: &Pid,
    target: &Pid,
    monitor: MonitorRef,
    demonitor: bool,
) {
    let mut f = FrameWriter::begin(buf, 4, if demonitor { DEMONITOR } else { MONITOR });
    f.pid(watcher).pid(target).uint(monitor.0);
    let _ = f.finish(usize::MAX, no_payload);
}

pub(crate) fn down(
    buf: &mut Vec<u8>,
    watcher: &Pid,
    pid: &Pid,
    monitor: MonitorRef,
    reason: &ExitReason,
) {
    let mut f = FrameWriter::begin(buf, 4, DOWN);
    f.pid(watcher).pid(pid).uint(monitor.0);
    let reason = bounded(reason);
    let _ = f.finish(usize::MAX, |b| rmp_serde::encode::write(b, &*reason));
}

pub(crate) fn peers(buf: &mut Vec<u8>, peers: &[(NodeName, u16)]) {
    let _ = FrameWriter::begin(buf, 1, PEERS)
        .finish(usize::MAX, |b| rmp_serde::encode::write(b, peers));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(node: &str, id: u64, creation: u32) -> Pid {
        Pid::new(NodeName::new(node).unwrap(), id, creation)
    }

    fn one(buf: &[u8]) -> Frame<'_> {
        let len = check(buf, DEFAULT_MAX_FRAME).unwrap().unwrap();
        assert_eq!(len, buf.len(), "exactly one frame");
        parse(buf).unwrap()
    }

    fn wp(p: &Pid) -> WirePid<'_> {
        WirePid {
            node: p.node().as_str(),
            id: p.id(),
            creation: p.creation(),
        }
    }

    type Case<'a> = (Box<dyn Fn(&mut Vec<u8>) + 'a>, Frame<'a>);

    #[test]
    fn every_frame_round_trips() {
        let a = pid("a@h", 1, 7);
        let b = pid("b@h", 2, 9);
        let mut buf = Vec::new();

        msg(
            &mut buf,
            DEFAULT_MAX_FRAME,
            &MsgOut {
                kind: WireKind::Call,
                from: Some(&a),
                to: Addressee::Name("ping"),
                type_name: "T",
                call_ref: 42,
            },
            |b| rmp_serde::encode::write(b, &"hello"),
        )
        .unwrap();
        let Frame::Msg {
            head,
            call_ref,
            payload,
        } = one(&buf)
        else {
            panic!()
        };
        assert_eq!(
            (head.kind, head.from, head.to, head.type_name, call_ref),
            (
                WireKind::Call,
                Some(wp(&a)),
                WireDest::Name("ping"),
                "T",
                42
            )
        );
        assert_eq!(rmp_serde::from_slice::<String>(payload).unwrap(), "hello");

        buf.clear();
        msg(
            &mut buf,
            DEFAULT_MAX_FRAME,
            &MsgOut {
                kind: WireKind::Send,
                from: None,
                to: Addressee::Pid(&b),
                type_name: "U",
                call_ref: 0,
            },
            |_| Ok(()),
        )
        .unwrap();
        assert!(
            matches!(one(&buf), Frame::Msg { head: MsgHead { from: None, to: WireDest::Pid(p), .. }, payload: &[], .. } if p == wp(&b))
        );

        let cases: Vec<Case<'_>> = vec![
            (Box::new(tick), Frame::Tick),
            (Box::new(bye), Frame::Bye),
            (
                Box::new(|buf| link(buf, &a, &b, false)),
                Frame::Link {
                    from: wp(&a),
                    to: wp(&b),
                },
            ),
            (
                Box::new(|buf| link(buf, &a, &b, true)),
                Frame::Unlink {
                    from: wp(&a),
                    to: wp(&b),
                },
            ),
            (
                Box::new(|buf| exit(buf, &a, &b, true, &ExitReason::Panic("x".into()))),
                Frame::Exit {
                    from: wp(&a),
                    to: wp(&b),
                    via_link: true,
                    reason: ExitReason::Panic("x".into()),
                },
            ),
            (
                Box::new(|buf| monitor(buf, &a, &b, MonitorRef(5), false)),
                Frame::Monitor {
                    watcher: wp(&a),
                    target: wp(&b),
                    monitor: MonitorRef(5),
                },
            ),
            (
                Box::new(|buf| monitor(buf, &a, &b, MonitorRef(5), true)),
                Frame::Demonitor {
                    watcher: wp(&a),
                    target: wp(&b),
                    monitor: MonitorRef(5),
                },
            ),
            (
                Box::new(|buf| down(buf, &a, &b, MonitorRef(6), &ExitReason::NoConnection)),
                Frame::Down {
                    watcher: wp(&a),
                    pid: wp(&b),
                    monitor: MonitorRef(6),
                    reason: ExitReason::NoConnection,
                },
            ),
            (
                Box::new(|buf| peers(buf, &[(NodeName::new("c@h").unwrap(), 9)])),
                Frame::Peers(vec![(NodeName::new("c@h").unwrap(), 9)]),
            ),
        ];
        for (write, want) in cases {
            let mut buf = Vec::new();
            write(&mut buf);
            assert_eq!(one(&buf), want);
        }

        buf.clear();
        reply(&mut buf, DEFAULT_MAX_FRAME, 9, false, |b| {
            rmp_serde::encode::write(b, &1u8)
        })
        .unwrap();
        assert!(matches!(
            one(&buf),
            Frame::Reply {
                call_ref: 9,
                ok: false,
                ..
            }
        ));
    }

    #[test]
    fn huge_exit_reasons_are_cut_to_fit() {
        let a = pid("a@h", 1, 1);
        let mut buf = Vec::new();
        exit(
            &mut buf,
            &a,
            &a,
            false,
            &ExitReason::Panic("é".repeat(100_000)),
        );
        let Frame::Exit {
            reason: ExitReason::Panic(text),
            ..
        } = one(&buf)
        else {
            panic!()
        };
        assert!(
            text.len() < 20_000 && text.ends_with("200000 bytes, cut)"),
            "{}",
            text.len()
        );
    }

    #[test]
    fn check_asks_for_more_until_a_frame_is_whole() {
        let mut buf = Vec::new();
        tick(&mut buf);
        tick(&mut buf);
        let one_len = buf.len() / 2;
        for cut in 0..one_len {
            assert_eq!(check(&buf[..cut], DEFAULT_MAX_FRAME), Ok(None), "cut {cut}");
        }
        assert_eq!(check(&buf, DEFAULT_MAX_FRAME), Ok(Some(one_len)));
    }

    #[test]
    fn oversized_empty_and_garbage_frames_are_errors() {
        assert_eq!(
            check(&[0, 0, 0, 100], 10),
            Err(FrameError::TooLarge(100, 10))
        );
        assert!(check(&[0, 0, 0, 0], 10).is_err());
        for garbage in [
            &[0u8, 0, 0, 1, 0xc1][..],
            &[0, 0, 0, 2, 0x91, 99],
            &[0, 0, 0, 3, 0x92, 1, 1],
            &[0, 0, 0, 1, 0x90],
        ] {
            assert!(parse(garbage).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn a_failed_payload_or_an_oversized_frame_leaves_the_buffer_as_it_was() {
        let a = pid("a@h", 1, 1);
        let mut buf = vec![1, 2, 3];
        let r = msg(
            &mut buf,
            DEFAULT_MAX_FRAME,
            &MsgOut {
                kind: WireKind::Send,
                from: None,
                to: Addressee::Pid(&a),
                type_name: "T",
                call_ref: 0,
            },
            |_| Err(rmp_serde::encode::Error::Syntax("no".into())),
        );
        assert!(matches!(r, Err(EncodeFrameError::Payload(_))));
        assert_eq!(buf, vec![1, 2, 3]);
        let r = msg(
            &mut buf,
            64,
            &MsgOut {
                kind: WireKind::Send,
                from: None,
                to: Addressee::Pid(&a),
                type_name: "T",
                call_ref: 0,
            },
            |b| rmp_serde::encode::write(b, &vec![0u8; 100]),
        );
        assert!(matches!(r, Err(EncodeFrameError::TooLarge(..))));
        assert_eq!(buf, vec![1, 2, 3]);
    }

    /// Node names as the wire carries them.
    fn arb_node() -> impl proptest::strategy::Strategy<Value = String> {
        "[a-z][a-z0-9_-]{0,15}@[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,2}"
    }

    proptest::proptest! {
        #[test]
        fn messages_round_trip(
            from_node in arb_node(),
            to_node in arb_node(),
            ids in (proptest::prelude::any::<u64>(), proptest::prelude::any::<u64>()),
            creations in (proptest::prelude::any::<u32>(), proptest::prelude::any::<u32>()),
            type_name in ".{0,40}",
            call_ref in proptest::prelude::any::<u64>(),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let a = pid(&from_node, ids.0, creations.0);
            let b = pid(&to_node, ids.1, creations.1);
            let mut buf = Vec::new();
            msg(&mut buf, DEFAULT_MAX_FRAME, &MsgOut { kind: WireKind::Send, from: Some(&a), to: Addressee::Pid(&b), type_name: &type_name, call_ref }, |out| {
                rmp_serde::encode::write(out, &serde_bytes::Bytes::new(&payload))
            })
            .unwrap();
            let Frame::Msg { head: MsgHead { from, to, type_name: t, .. }, call_ref: r, payload: p } = one(&buf) else {
                panic!("not a message")
            };
            proptest::prop_assert_eq!(from, Some(wp(&a)));
            proptest::prop_assert_eq!(to, WireDest::Pid(wp(&b)));
            proptest::prop_assert_eq!(t, type_name.as_str());
            proptest::prop_assert_eq!(r, call_ref);
            let back: serde_bytes::ByteBuf = rmp_serde::from_slice(p).unwrap();
            proptest::prop_assert_eq!(back.as_slice(), payload.as_slice());
            // And the pids resolve to what was sent.
            proptest::prop_assert_eq!(from.unwrap().to_pid(a.node()).unwrap(), a);
        }

        #[test]
        fn a_repeated_header_reads_as_a_parse_does(
            to_node in arb_node(),
            type_name in ".{0,40}",
            refs in (proptest::prelude::any::<u64>(), proptest::prelude::any::<u64>()),
            payloads in (proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)),
            other_id in 6u64..,
        ) {
            let a = pid("a@h", 1, 7);
            let b = pid(&to_node, 5, 9);
            let encode = |call_ref: u64, to: &Pid, payload: &[u8]| {
                let mut buf = Vec::new();
                msg(&mut buf, DEFAULT_MAX_FRAME, &MsgOut { kind: WireKind::Call, from: Some(&a), to: Addressee::Pid(to), type_name: &type_name, call_ref }, |out| {
                    rmp_serde::encode::write(out, &serde_bytes::Bytes::new(payload))
                })
                .unwrap();
                buf
            };
            let first = encode(refs.0, &b, &payloads.0);
            let Frame::Msg { head, .. } = one(&first) else { panic!("not a message") };
            // The next message between the same processes: read from the head alone.
            let second = encode(refs.1, &b, &payloads.1);
            let Frame::Msg { call_ref, payload, head: again, .. } = one(&second) else { panic!("not a message") };
            proptest::prop_assert_eq!(head, again);
            let (r, p) = repeated_msg(&second, head.bytes).expect("same head").unwrap();
            proptest::prop_assert_eq!((r, p), (call_ref, payload));
            // A message to another process does not start with that head.
            let other = encode(refs.1, &pid(&to_node, other_id, 9), &payloads.1);
            proptest::prop_assert!(repeated_msg(&other, head.bytes).is_none());
        }

        #[test]
        fn exit_reasons_round_trip(text in ".{0,200}", id in proptest::prelude::any::<u64>()) {
            let a = pid("a@h", id, 1);
            let b = pid("b@h", 2, 3);
            let mut buf = Vec::new();
            exit(&mut buf, &a, &b, true, &ExitReason::Error(text.clone()));
            let Frame::Exit { reason, via_link, .. } = one(&buf) else { panic!("not an exit") };
            proptest::prop_assert!(via_link);
            proptest::prop_assert_eq!(reason, ExitReason::Error(text));
        }

        #[test]
        fn garbage_streams_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
            crate::fuzzing::frames(&bytes);
        }

        #[test]
        fn a_truncated_frame_asks_for_more(cut in 0usize..64) {
            let mut buf = Vec::new();
            link(&mut buf, &pid("a@h", 1, 1), &pid("b@h", 2, 2), false);
            let cut = cut.min(buf.len() - 1);
            proptest::prop_assert_eq!(check(&buf[..cut], DEFAULT_MAX_FRAME).unwrap(), None);
        }
    }
}
