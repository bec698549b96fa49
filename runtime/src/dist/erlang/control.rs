//! Control messages: what a frame between Erlang nodes says (a send, a link, a monitor...),
//! parsed from and encoded into pass-through frames, socket-free.
//!
//! ```text
//! frame = length:u32 (0 = a tick)  112  131 control-tuple  [131 message]
//! ```
//!
//! The control tuple's first element is the operation (`{2, '', To}` + message is a send,
//! `{19, From, To, Ref}` a monitor...; `erl_dist_protocol.md`). An unknown operation or a
//! tuple of the wrong shape is a protocol error that closes the connection. Trace-token
//! forms (`*_TT`) are read, the token ignored.

use crate::dist::frame::{EncodeFrameError, FrameError};
use crate::etf::{self, Atom, ErlPid, ErlRef, Term, write};
use crate::process::{EncodeError, MonitorRef, NodeName, Pid};

/// The tag of a pass-through frame (no distribution header).
pub(crate) const PASS_THROUGH: u8 = 112;

mod op {
    pub(super) const LINK: i64 = 1;
    pub(super) const SEND: i64 = 2;
    pub(super) const EXIT: i64 = 3;
    pub(super) const UNLINK: i64 = 4;
    pub(super) const REG_SEND: i64 = 6;
    pub(super) const GROUP_LEADER: i64 = 7;
    pub(super) const EXIT2: i64 = 8;
    pub(super) const SEND_TT: i64 = 12;
    pub(super) const EXIT_TT: i64 = 13;
    pub(super) const REG_SEND_TT: i64 = 16;
    pub(super) const EXIT2_TT: i64 = 18;
    pub(super) const MONITOR_P: i64 = 19;
    pub(super) const DEMONITOR_P: i64 = 20;
    pub(super) const MONITOR_P_EXIT: i64 = 21;
    pub(super) const SEND_SENDER: i64 = 22;
    pub(super) const SEND_SENDER_TT: i64 = 23;
    pub(super) const PAYLOAD_EXIT: i64 = 24;
    pub(super) const PAYLOAD_EXIT_TT: i64 = 25;
    pub(super) const PAYLOAD_EXIT2: i64 = 26;
    pub(super) const PAYLOAD_EXIT2_TT: i64 = 27;
    pub(super) const PAYLOAD_MONITOR_P_EXIT: i64 = 28;
    pub(super) const SPAWN_REQUEST: i64 = 29;
    pub(super) const SPAWN_REQUEST_TT: i64 = 30;
    pub(super) const SPAWN_REPLY: i64 = 31;
    pub(super) const SPAWN_REPLY_TT: i64 = 32;
    pub(super) const ALIAS_SEND: i64 = 33;
    pub(super) const ALIAS_SEND_TT: i64 = 34;
    pub(super) const UNLINK_ID: i64 = 35;
    pub(super) const UNLINK_ID_ACK: i64 = 36;
}

/// A process as a monitor names it: by pid, or by registered name (echoed back in the
/// monitor's exit message).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Proc {
    Pid(ErlPid),
    Name(Atom),
}

impl Proc {
    fn from_term(t: Term) -> Result<Proc, FrameError> {
        match t {
            Term::Pid(p) => Ok(Proc::Pid(p)),
            Term::Atom(a) => Ok(Proc::Name(a)),
            // `{Name, Node}` as some versions write a remote name.
            Term::Tuple(mut items) if items.len() == 2 => match items.swap_remove(0) {
                Term::Atom(a) => Ok(Proc::Name(a)),
                _ => Err(bad("a monitored process is a pid or a name")),
            },
            _ => Err(bad("a monitored process is a pid or a name")),
        }
    }

    pub(crate) fn to_term(&self) -> Term {
        match self {
            Proc::Pid(p) => Term::Pid(p.clone()),
            Proc::Name(a) => Term::Atom(a.clone()),
        }
    }
}

/// A control message from a BEAM peer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Control {
    Link {
        from: ErlPid,
        to: ErlPid,
    },
    /// `UNLINK_ID` (with its id, to acknowledge) or the old `UNLINK`.
    Unlink {
        id: Option<Term>,
        from: ErlPid,
        to: ErlPid,
    },
    UnlinkAck,
    /// `SEND` (no sender) or `SEND_SENDER`; a message follows.
    Send {
        from: Option<ErlPid>,
        to: ErlPid,
    },
    /// `REG_SEND`; a message follows.
    RegSend {
        from: ErlPid,
        name: Atom,
    },
    /// `ALIAS_SEND`; a message follows.
    AliasSend {
        from: ErlPid,
        alias: ErlRef,
    },
    /// `EXIT`/`EXIT2` and their payload forms (`reason` is `None`: the reason follows as
    /// the message). `via_link`: an exit of a linked process, not `exit/2`.
    Exit {
        from: ErlPid,
        to: ErlPid,
        reason: Option<Term>,
        via_link: bool,
    },
    MonitorP {
        from: ErlPid,
        target: Proc,
        reference: ErlRef,
    },
    DemonitorP {
        from: ErlPid,
        target: Proc,
        reference: ErlRef,
    },
    /// `MONITOR_P_EXIT` (`reason` given) or `PAYLOAD_MONITOR_P_EXIT` (the reason follows).
    MonitorPExit {
        target: Proc,
        to: ErlPid,
        reference: ErlRef,
        reason: Option<Term>,
    },
    /// `SPAWN_REQUEST`; the argument list follows.
    SpawnRequest {
        request: ErlRef,
        from: ErlPid,
        module: Atom,
        function: Atom,
        opts: Term,
    },
    SpawnReply {
        request: ErlRef,
        to: ErlPid,
        result: Term,
    },
    GroupLeader,
}

/// Writes a term (no version byte) into a frame being built: a message, a reason, a reply.
pub(crate) type WriteTerm<'a> = dyn Fn(&mut Vec<u8>) -> Result<(), EncodeError> + 'a;

fn bad(what: impl Into<String>) -> FrameError {
    FrameError::Malformed(what.into())
}

/// A control tuple's elements, taken in order.
struct Fields(std::vec::IntoIter<Term>);

impl Fields {
    fn next(&mut self) -> Result<Term, FrameError> {
        self.0
            .next()
            .ok_or_else(|| bad("a control message ends early"))
    }

    fn pid(&mut self) -> Result<ErlPid, FrameError> {
        match self.next()? {
            Term::Pid(p) => Ok(p),
            other => Err(bad(format!("expected a pid, got {other}"))),
        }
    }

    fn reference(&mut self) -> Result<ErlRef, FrameError> {
        match self.next()? {
            Term::Ref(r) => Ok(r),
            other => Err(bad(format!("expected a reference, got {other}"))),
        }
    }

    fn atom(&mut self) -> Result<Atom, FrameError> {
        match self.next()? {
            Term::Atom(a) => Ok(a),
            other => Err(bad(format!("expected an atom, got {other}"))),
        }
    }
}

/// Parses a frame's body (after its length): the control message, and the message term
/// after it (without its version byte) when the operation carries one.
pub(crate) fn parse(body: &[u8]) -> Result<(Control, Option<&[u8]>), FrameError> {
    let rest = match body {
        [PASS_THROUGH, etf::VERSION, rest @ ..] => rest,
        [PASS_THROUGH, ..] => return Err(bad("a control message without its version byte")),
        [131, 68, ..] => {
            return Err(bad(
                "a distribution header (atom cache), which this node did not negotiate",
            ));
        }
        [other, ..] => return Err(bad(format!("unknown frame type {other}"))),
        [] => return Err(bad("an empty frame")),
    };
    let etf_err = |e: etf::EtfError| bad(format!("control message: {e}"));
    let (control, after) = etf::decode_prefix(rest).map_err(etf_err)?;
    let Term::Tuple(items) = control else {
        return Err(bad("a control message is a tuple"));
    };
    let arity = items.len();
    let mut f = Fields(items.into_iter());
    let code = f
        .next()?
        .as_int()
        .ok_or_else(|| bad("a control message starts with its operation"))?;
    let shape = |want: usize| {
        if arity == want {
            Ok(())
        } else {
            Err(bad(format!(
                "operation {code} has {arity} elements, not {want}"
            )))
        }
    };
    let control = match code {
        op::LINK => {
            shape(3)?;
            Control::Link {
                from: f.pid()?,
                to: f.pid()?,
            }
        }
        op::UNLINK => {
            shape(3)?;
            Control::Unlink {
                id: None,
                from: f.pid()?,
                to: f.pid()?,
            }
        }
        op::UNLINK_ID => {
            shape(4)?;
            Control::Unlink {
                id: Some(f.next()?),
                from: f.pid()?,
                to: f.pid()?,
            }
        }
        op::UNLINK_ID_ACK => {
            shape(4)?;
            Control::UnlinkAck
        }
        op::SEND | op::SEND_TT => {
            shape(if code == op::SEND { 3 } else { 4 })?;
            f.next()?;
            Control::Send {
                from: None,
                to: f.pid()?,
            }
        }
        op::SEND_SENDER | op::SEND_SENDER_TT => {
            shape(if code == op::SEND_SENDER { 3 } else { 4 })?;
            Control::Send {
                from: Some(f.pid()?),
                to: f.pid()?,
            }
        }
        op::REG_SEND | op::REG_SEND_TT => {
            shape(if code == op::REG_SEND { 4 } else { 5 })?;
            let from = f.pid()?;
            f.next()?;
            Control::RegSend {
                from,
                name: f.atom()?,
            }
        }
        op::ALIAS_SEND | op::ALIAS_SEND_TT => {
            shape(if code == op::ALIAS_SEND { 3 } else { 4 })?;
            Control::AliasSend {
                from: f.pid()?,
                alias: f.reference()?,
            }
        }
        op::EXIT | op::EXIT2 => {
            shape(4)?;
            Control::Exit {
                from: f.pid()?,
                to: f.pid()?,
                reason: Some(f.next()?),
                via_link: code == op::EXIT,
            }
        }
        op::EXIT_TT | op::EXIT2_TT => {
            shape(5)?;
            let (from, to) = (f.pid()?, f.pid()?);
            f.next()?;
            Control::Exit {
                from,
                to,
                reason: Some(f.next()?),
                via_link: code == op::EXIT_TT,
            }
        }
        op::PAYLOAD_EXIT | op::PAYLOAD_EXIT2 | op::PAYLOAD_EXIT_TT | op::PAYLOAD_EXIT2_TT => {
            let traced = matches!(code, op::PAYLOAD_EXIT_TT | op::PAYLOAD_EXIT2_TT);
            shape(if traced { 4 } else { 3 })?;
            Control::Exit {
                from: f.pid()?,
                to: f.pid()?,
                reason: None,
                via_link: matches!(code, op::PAYLOAD_EXIT | op::PAYLOAD_EXIT_TT),
            }
        }
        op::MONITOR_P | op::DEMONITOR_P => {
            shape(4)?;
            let from = f.pid()?;
            let target = Proc::from_term(f.next()?)?;
            let reference = f.reference()?;
            if code == op::MONITOR_P {
                Control::MonitorP {
                    from,
                    target,
                    reference,
                }
            } else {
                Control::DemonitorP {
                    from,
                    target,
                    reference,
                }
            }
        }
        op::MONITOR_P_EXIT => {
            shape(5)?;
            Control::MonitorPExit {
                target: Proc::from_term(f.next()?)?,
                to: f.pid()?,
                reference: f.reference()?,
                reason: Some(f.next()?),
            }
        }
        op::PAYLOAD_MONITOR_P_EXIT => {
            shape(4)?;
            Control::MonitorPExit {
                target: Proc::from_term(f.next()?)?,
                to: f.pid()?,
                reference: f.reference()?,
                reason: None,
            }
        }
        op::SPAWN_REQUEST | op::SPAWN_REQUEST_TT => {
            shape(if code == op::SPAWN_REQUEST { 6 } else { 7 })?;
            let request = f.reference()?;
            let from = f.pid()?;
            f.next()?;
            let Term::Tuple(mfa) = f.next()? else {
                return Err(bad("a spawn request names {Module, Function, Arity}"));
            };
            let [Term::Atom(module), Term::Atom(function), Term::Int(_)] = mfa.as_slice() else {
                return Err(bad("a spawn request names {Module, Function, Arity}"));
            };
            Control::SpawnRequest {
                request,
                from,
                module: module.clone(),
                function: function.clone(),
                opts: f.next()?,
            }
        }
        op::SPAWN_REPLY | op::SPAWN_REPLY_TT => {
            shape(if code == op::SPAWN_REPLY { 5 } else { 6 })?;
            let request = f.reference()?;
            let to = f.pid()?;
            f.next()?;
            Control::SpawnReply {
                request,
                to,
                result: f.next()?,
            }
        }
        op::GROUP_LEADER => {
            shape(3)?;
            Control::GroupLeader
        }
        other => return Err(bad(format!("unknown operation {other}"))),
    };
    let carries = matches!(
        (&control, code),
        (
            Control::Send { .. } | Control::RegSend { .. } | Control::AliasSend { .. },
            _
        ) | (Control::Exit { reason: None, .. }, _)
            | (Control::MonitorPExit { reason: None, .. }, _)
            | (Control::SpawnRequest { .. }, _)
    );
    let message = match (carries, after) {
        (false, []) => None,
        (false, _) => return Err(bad(format!("operation {code} carries no message"))),
        (true, [etf::VERSION, msg @ ..]) => Some(msg),
        (true, _) => return Err(bad(format!("operation {code} carries a message term"))),
    };
    Ok((control, message))
}

// Our own pids and references.

/// A locus pid as Erlang writes it: the id's low 32 bits, then its high 32 as the serial.
pub(crate) fn write_pid(out: &mut Vec<u8>, pid: &Pid) {
    write::pid_parts(
        out,
        pid.node().as_str(),
        pid.id() as u32,
        (pid.id() >> 32) as u32,
        pid.creation(),
    );
}

/// The locus pid of an Erlang pid.
pub(crate) fn to_pid(p: &ErlPid, known: &NodeName) -> Result<Pid, FrameError> {
    let node = if p.node.as_str() == known.as_str() {
        known.clone()
    } else {
        NodeName::new(p.node.as_str()).map_err(|e| bad(e.to_string()))?
    };
    Ok(Pid::new(
        node,
        (u64::from(p.serial) << 32) | u64::from(p.id),
        p.creation,
    ))
}

/// What a reference this node made stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OurRef {
    /// A monitor a local process holds.
    Monitor(MonitorRef),
    /// A call (or rpc) waiting in a connection's table.
    Call(u64),
}

const MONITOR_TAG: u32 = 0x6c6f_6d6f;
const CALL_TAG: u32 = 0x6c6f_6361;

/// Writes `r` as a reference of this node (`me`, `creation`).
pub(crate) fn write_ref(out: &mut Vec<u8>, me: &NodeName, creation: u32, r: OurRef) {
    let (v, tag) = match r {
        OurRef::Monitor(m) => (m.0, MONITOR_TAG),
        OurRef::Call(c) => (c, CALL_TAG),
    };
    write::reference_parts(
        out,
        me.as_str(),
        creation,
        &[v as u32, (v >> 32) as u32, tag],
    );
}

/// What `r` stands for, if this node made it (in this incarnation).
pub(crate) fn our_ref(r: &ErlRef, me: &NodeName, creation: u32) -> Option<OurRef> {
    if r.node.as_str() != me.as_str() || r.creation != creation {
        return None;
    }
    match r.ids.as_slice() {
        [lo, hi, tag] => {
            let v = u64::from(*lo) | (u64::from(*hi) << 32);
            match *tag {
                MONITOR_TAG => Some(OurRef::Monitor(MonitorRef(v))),
                CALL_TAG => Some(OurRef::Call(v)),
                _ => None,
            }
        }
        _ => None,
    }
}

// Encoding frames.

/// Builds one pass-through frame at the end of a buffer, or leaves it as it was.
pub(crate) struct ErlFrame<'b> {
    buf: &'b mut Vec<u8>,
    start: usize,
}

impl<'b> ErlFrame<'b> {
    /// Starts a frame whose control tuple has `arity` elements, `code` first.
    fn begin(buf: &'b mut Vec<u8>, arity: usize, code: i64) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&[0, 0, 0, 0, PASS_THROUGH, etf::VERSION]);
        // Arity is a small constant here.
        let _ = write::tuple_header(buf, arity);
        write::int(buf, code);
        Self { buf, start }
    }

    fn pid(&mut self, p: &Pid) -> &mut Self {
        write_pid(self.buf, p);
        self
    }

    fn atom(&mut self, name: &str) -> &mut Self {
        write::atom(self.buf, name);
        self
    }

    fn term(&mut self, t: &Term) -> &mut Self {
        // A term built here always encodes.
        let _ = etf::encode_term(t, self.buf);
        self
    }

    fn our_ref(&mut self, me: &NodeName, creation: u32, r: OurRef) -> &mut Self {
        write_ref(self.buf, me, creation, r);
        self
    }

    fn erl_ref(&mut self, r: &ErlRef) -> &mut Self {
        write::reference_parts(self.buf, r.node.as_str(), r.creation, &r.ids);
        self
    }

    /// Appends the message term (if any) and seals the frame; on failure, or over `max`,
    /// the buffer is restored.
    fn finish(self, max: usize, message: Option<&WriteTerm<'_>>) -> Result<(), EncodeFrameError> {
        if let Some(write_message) = message {
            self.buf.push(etf::VERSION);
            if let Err(e) = write_message(self.buf) {
                self.buf.truncate(self.start);
                return Err(e.into());
            }
        }
        let len = self.buf.len() - self.start - 4;
        if len > max {
            self.buf.truncate(self.start);
            return Err(EncodeFrameError::TooLarge(len, max));
        }
        self.buf[self.start..self.start + 4].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }
}

/// What a message is addressed to: a pid, or a name on the peer.
pub(crate) enum To<'a> {
    Pid(&'a Pid),
    Name(&'a str),
}

/// A message: `SEND_SENDER` to a pid, `REG_SEND` to a name.
pub(crate) fn send(
    buf: &mut Vec<u8>,
    max: usize,
    from: &Pid,
    to: To<'_>,
    message: &WriteTerm<'_>,
) -> Result<(), EncodeFrameError> {
    match to {
        To::Pid(p) => {
            let mut f = ErlFrame::begin(buf, 3, op::SEND_SENDER);
            f.pid(from).pid(p);
            f.finish(max, Some(message))
        }
        To::Name(n) => {
            let mut f = ErlFrame::begin(buf, 4, op::REG_SEND);
            f.pid(from).atom("").atom(n);
            f.finish(max, Some(message))
        }
    }
}

/// A message to an alias (a reply to a call made with one).
pub(crate) fn alias_send(
    buf: &mut Vec<u8>,
    max: usize,
    from: &Pid,
    alias: &ErlRef,
    message: &WriteTerm<'_>,
) -> Result<(), EncodeFrameError> {
    let mut f = ErlFrame::begin(buf, 3, op::ALIAS_SEND);
    f.pid(from).erl_ref(alias);
    f.finish(max, Some(message))
}

/// A link from `from` (here) to `to` (there).
pub(crate) fn link(buf: &mut Vec<u8>, from: &Pid, to: &Pid) {
    let mut f = ErlFrame::begin(buf, 3, op::LINK);
    f.pid(from).pid(to);
    let _ = f.finish(usize::MAX, None);
}

/// `UNLINK_ID` (`ack`: its acknowledgement, `UNLINK_ID_ACK`).
pub(crate) fn unlink_id(buf: &mut Vec<u8>, id: &Term, from: &Pid, to: &Pid, ack: bool) {
    let mut f = ErlFrame::begin(
        buf,
        4,
        if ack {
            op::UNLINK_ID_ACK
        } else {
            op::UNLINK_ID
        },
    );
    f.term(id).pid(from).pid(to);
    let _ = f.finish(usize::MAX, None);
}

/// An exit signal, its reason as the payload (`PAYLOAD_EXIT` when a linked process ended,
/// `PAYLOAD_EXIT2` for `exit/2`).
pub(crate) fn exit(buf: &mut Vec<u8>, from: &Pid, to: &Pid, reason: &Term, via_link: bool) {
    let code = if via_link {
        op::PAYLOAD_EXIT
    } else {
        op::PAYLOAD_EXIT2
    };
    let mut f = ErlFrame::begin(buf, 3, code);
    f.pid(from).pid(to);
    let _ = f.finish(
        usize::MAX,
        Some(&|b: &mut Vec<u8>| {
            let _ = etf::encode_term(reason, b);
            Ok(())
        }),
    );
}

/// `MONITOR_P` (or `DEMONITOR_P`): `from` (here) monitors `target` (there, by pid or name).
pub(crate) fn monitor(
    buf: &mut Vec<u8>,
    me: (&NodeName, u32),
    from: &Pid,
    target: To<'_>,
    r: OurRef,
    demonitor: bool,
) {
    let code = if demonitor {
        op::DEMONITOR_P
    } else {
        op::MONITOR_P
    };
    let mut f = ErlFrame::begin(buf, 4, code);
    f.pid(from);
    match target {
        To::Pid(p) => f.pid(p),
        To::Name(n) => f.atom(n),
    };
    f.our_ref(me.0, me.1, r);
    let _ = f.finish(usize::MAX, None);
}

/// `PAYLOAD_MONITOR_P_EXIT`: a process the peer's `to` monitors (named as the monitor named
/// it) ended with `reason`.
pub(crate) fn monitor_exit(buf: &mut Vec<u8>, target: &Term, to: &Term, r: &ErlRef, reason: &Term) {
    let _ = monitor_exit_with(buf, usize::MAX, target, to, r, &|b: &mut Vec<u8>| {
        let _ = etf::encode_term(reason, b);
        Ok(())
    });
}

/// [`monitor_exit`] with the reason written by `reason`.
pub(crate) fn monitor_exit_with(
    buf: &mut Vec<u8>,
    max: usize,
    target: &Term,
    to: &Term,
    r: &ErlRef,
    reason: &WriteTerm<'_>,
) -> Result<(), EncodeFrameError> {
    let mut f = ErlFrame::begin(buf, 4, op::PAYLOAD_MONITOR_P_EXIT);
    f.term(target).term(to).erl_ref(r);
    f.finish(max, Some(reason))
}

/// `SPAWN_REPLY`: the pid spawned for `request`, or an error atom (`notsup`).
pub(crate) fn spawn_reply(
    buf: &mut Vec<u8>,
    request: &ErlRef,
    to: &Term,
    flags: i64,
    result: &Term,
) {
    let mut f = ErlFrame::begin(buf, 5, op::SPAWN_REPLY);
    f.erl_ref(request).term(to);
    write::int(f.buf, flags);
    f.term(result);
    let _ = f.finish(usize::MAX, None);
}

/// A tick: an empty frame.
pub(crate) fn tick(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&[0, 0, 0, 0]);
}

// Message shapes.

/// How a message to a local process reads, for the process it goes to.
#[derive(Debug, PartialEq)]
pub(crate) enum Shape<'a> {
    /// `{'$gen_call', {From, Tag}, Request}`.
    Call {
        from: ErlPid,
        tag: Term,
        request: &'a [u8],
    },
    /// `{'$gen_cast', Request}`.
    Cast { request: &'a [u8] },
    /// Anything else: a plain message.
    Plain,
}

/// Reads how `message` (a term, no version byte) is shaped, without decoding the request.
pub(crate) fn shape(message: &[u8]) -> Result<Shape<'_>, FrameError> {
    let etf_err = |e: etf::EtfError| bad(format!("message: {e}"));
    let (arity, mut rest) = match message {
        [etf::tag::SMALL_TUPLE, n @ (2 | 3), rest @ ..] => (*n, rest),
        _ => return Ok(Shape::Plain),
    };
    let tag = match etf::decode_prefix(rest).map_err(etf_err)? {
        (Term::Atom(a), after) => {
            rest = after;
            a
        }
        _ => return Ok(Shape::Plain),
    };
    match (tag.as_str(), arity) {
        ("$gen_cast", 2) => Ok(Shape::Cast { request: rest }),
        ("$gen_call", 3) => {
            let (from, request) = etf::decode_prefix(rest).map_err(etf_err)?;
            // A `$gen_call` whose From is not `{Pid, Tag}` is a plain message (any process
            // may send one): the process gets it as it is, the connection stays.
            let Term::Tuple(mut pair) = from else {
                return Ok(Shape::Plain);
            };
            let (Some(tag), Some(Term::Pid(from)), None) = (pair.pop(), pair.pop(), pair.pop())
            else {
                return Ok(Shape::Plain);
            };
            Ok(Shape::Call { from, tag, request })
        }
        _ => Ok(Shape::Plain),
    }
}

/// Writes `{Tag, Reply}`, the answer to a `$gen_call` tagged `tag`.
pub(crate) fn write_reply(
    out: &mut Vec<u8>,
    tag: &Term,
    reply: &WriteTerm<'_>,
) -> Result<(), EncodeError> {
    let _ = write::tuple_header(out, 2);
    let _ = etf::encode_term(tag, out);
    reply(out)
}

/// The alias a `$gen_call` tag names (`[alias | Ref]`), if it is one.
pub(crate) fn alias_of(tag: &Term) -> Option<&ErlRef> {
    match tag {
        Term::Improper(head, tail) => match (head.as_slice(), &**tail) {
            ([Term::Atom(a)], Term::Ref(r)) if a.as_str() == "alias" => Some(r),
            _ => None,
        },
        _ => None,
    }
}

/// Writes `{'$gen_call', {From, [alias | Ref]}, Request}`: a call, answered through the
/// alias `r`.
pub(crate) fn write_gen_call(
    out: &mut Vec<u8>,
    me: (&NodeName, u32),
    from: &Pid,
    r: OurRef,
    request: &WriteTerm<'_>,
) -> Result<(), EncodeError> {
    let _ = write::tuple_header(out, 3);
    write::atom(out, "$gen_call");
    let _ = write::tuple_header(out, 2);
    write_pid(out, from);
    out.extend_from_slice(&[etf::tag::LIST, 0, 0, 0, 1]);
    write::atom(out, "alias");
    write_ref(out, me.0, me.1, r);
    request(out)
}

/// Writes `{'$gen_cast', Request}`.
pub(crate) fn write_gen_cast(
    out: &mut Vec<u8>,
    request: &WriteTerm<'_>,
) -> Result<(), EncodeError> {
    let _ = write::tuple_header(out, 2);
    write::atom(out, "$gen_cast");
    request(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> NodeName {
        NodeName::new("me@h").unwrap()
    }

    fn body(frame: &[u8]) -> &[u8] {
        let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(frame.len(), 4 + len);
        &frame[4..]
    }

    #[test]
    fn what_this_node_sends_parses_as_the_beam_would_read_it() {
        let a = Pid::new(me(), (3 << 32) | 9, 5);
        let b = Pid::new(NodeName::new("peer@h").unwrap(), 7, 8);
        let mut buf = Vec::new();
        send(&mut buf, usize::MAX, &a, To::Name("echo"), &|out| {
            write_gen_cast(out, &|o| {
                etf::write_term("hi", o).map_err(|e| EncodeError::Syntax(e.to_string()))
            })
        })
        .unwrap();
        let (c, msg) = parse(body(&buf)).unwrap();
        let Control::RegSend { from, name } = c else {
            panic!("{c:?}")
        };
        assert_eq!(to_pid(&from, &me()).unwrap(), a);
        assert_eq!(name.as_str(), "echo");
        assert_eq!(
            shape(msg.unwrap()).unwrap(),
            Shape::Cast {
                request: &[109, 0, 0, 0, 2, b'h', b'i']
            }
        );

        buf.clear();
        monitor(
            &mut buf,
            (&me(), 5),
            &a,
            To::Pid(&b),
            OurRef::Monitor(MonitorRef(1 << 40)),
            false,
        );
        let (c, msg) = parse(body(&buf)).unwrap();
        assert!(msg.is_none());
        let Control::MonitorP { reference, .. } = c else {
            panic!("{c:?}")
        };
        assert_eq!(
            our_ref(&reference, &me(), 5),
            Some(OurRef::Monitor(MonitorRef(1 << 40)))
        );
        assert_eq!(our_ref(&reference, &me(), 6), None, "another incarnation's");

        buf.clear();
        exit(&mut buf, &a, &b, &Term::Int(1), true);
        let (c, msg) = parse(body(&buf)).unwrap();
        assert!(matches!(
            c,
            Control::Exit {
                reason: None,
                via_link: true,
                ..
            }
        ));
        assert_eq!(etf::decode_term(msg.unwrap()).unwrap(), Term::Int(1));
    }

    #[test]
    fn calls_carry_an_alias_and_replies_name_it() {
        let a = Pid::new(me(), 1, 5);
        let mut out = Vec::new();
        write_gen_call(&mut out, (&me(), 5), &a, OurRef::Call(77), &|o| {
            etf::write_term(&1u8, o).map_err(|e| EncodeError::Syntax(e.to_string()))
        })
        .unwrap();
        let Shape::Call { from, tag, request } = shape(&out).unwrap() else {
            panic!()
        };
        assert_eq!(to_pid(&from, &me()).unwrap(), a);
        assert_eq!(request, &[97, 1]);
        let alias = alias_of(&tag).unwrap();
        assert_eq!(our_ref(alias, &me(), 5), Some(OurRef::Call(77)));
    }

    #[test]
    fn garbage_frames_are_errors() {
        for bad in [
            &[][..],
            &[112],
            &[112, 131, 104, 1, 97, 99],
            &[112, 131, 104, 1, 100],
            &[113, 131, 104, 1, 97, 1],
            &[131, 68, 0],
            // A send without its message, and a link with one.
            &[112, 131, 104, 3, 97, 2, 106, 106],
            &[112, 131, 104, 1, 97, 7, 131, 97, 1],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = parse(&bytes);
            let _ = shape(&bytes);
        }
    }
}
