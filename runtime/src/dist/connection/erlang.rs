//! A connection to a BEAM node: what the [`Route`](crate::node::Route) seam's operations
//! are in Erlang distribution's control messages, and the reader that turns the peer's
//! frames into deliveries, calls answered, links, monitors and exits.
//!
//! Between a locus process and a BEAM process:
//! - A message is `SEND_SENDER` to a pid or `REG_SEND` to a name, its payload an Erlang term
//!   (serde, the mapping of [`crate::etf`]); a cast is `{'$gen_cast', Msg}`.
//! - A call is a `MONITOR_P` of the server (by pid or name) then `{'$gen_call', {From,
//!   [alias | Ref]}, Req}`, as `gen:call` makes it. The reply comes to the alias; a
//!   `MONITOR_P_EXIT` for the same reference fails the call (`noproc` is
//!   [`CallError::NoProc`]). Either way the monitor is then removed.
//! - A BEAM caller's `$gen_call` reaches a GenServer's `handle_call`; its reply goes back
//!   `{Tag, Reply}` to the alias in the tag (or to the caller's pid without one).
//! - Links, exits and monitors map one to one; a monitor's reference and the name it named
//!   are echoed in its exit message, as the BEAM expects.
//!
//! What the node itself answers for the BEAM: `net_kernel`'s `is_auth` (so `net_adm:ping`
//! gets `pong`), `rex`'s feature request, and nothing to `global_name_server` (locus runs
//! no `global`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use rustc_hash::FxHashMap;
use tokio::io::AsyncReadExt;

use super::super::erlang::control::{self, Control, OurRef, Proc, Shape, To};
use super::super::erlang::reason;
use super::super::erlang::{ErlangRpc, RpcFailure};
use super::super::frame::{EncodeFrameError, FrameError, MsgOut};
use super::super::transport::Reader;
use super::Conn;
use crate::etf::{self, Atom, ErlPid, ErlRef, Term, write};
use crate::node::{Addressee, IncomingDest, Node, NodeDownReason};
use crate::process::{
    CallError, EncodeError, ExitReason, Format, Incoming, MonitorRef, Payload, Pid, RemoteReplyTo,
    ReplySink, WireBytes, WireKind,
};

pub(super) use super::super::erlang::control::{link, tick};

/// `UNLINK_ID` (or its acknowledgement), its id an integer.
pub(super) fn unlink_id(buf: &mut Vec<u8>, id: &u64, from: &Pid, to: &Pid, ack: bool) {
    control::unlink_id(buf, &Term::Int(*id as i64 & i64::MAX), from, to, ack);
}

/// How many functions BEAM callers may run at once through one connection (`:erpc`); more
/// are refused with `system_limit`.
const MAX_RPCS: usize = 1024;

/// A call this node made to a BEAM process, until it is answered.
pub(super) struct ErlCall {
    /// The caller (this node's pid if the call came from no process).
    from: Pid,
    /// The server, as the call named it: its monitor is removed once the call ends.
    target: CallTarget,
}

enum CallTarget {
    Pid(Pid),
    Name(String),
}

/// What a connection to a BEAM node keeps beside what every connection does.
#[derive(Default)]
pub(super) struct ErlState {
    /// Monitors BEAM processes hold on local ones: the local reference → the peer's
    /// reference and the target as its monitor named it (both echoed in its exit).
    in_monitors: FxHashMap<MonitorRef, (ErlRef, Term)>,
    /// The same, by the peer's reference (for `DEMONITOR_P`).
    by_ref: FxHashMap<ErlRef, MonitorRef>,
    /// Calls this node made, by call reference.
    calls: FxHashMap<u64, ErlCall>,
    /// Whether a message that did not fit its process has been logged (once per
    /// connection; each is counted).
    warned: bool,
}

/// A term for a locus pid.
fn pid_term(p: &Pid) -> Term {
    match Atom::new(p.node().as_str()) {
        Ok(node) => Term::Pid(ErlPid {
            node,
            id: p.id() as u32,
            serial: (p.id() >> 32) as u32,
            creation: p.creation(),
        }),
        Err(_) => Term::List(Vec::new()),
    }
}

fn to(a: Addressee<'_>) -> To<'_> {
    match a {
        Addressee::Pid(p) => To::Pid(p),
        Addressee::Name(n) => To::Name(n),
    }
}

impl Conn {
    /// The pid of this node itself, the sender of what comes from no process.
    fn node_pid(&self) -> Pid {
        Pid::new(self.me.clone(), 0, self.creation)
    }

    /// Encodes a message, cast or call for the BEAM (see the module docs).
    pub(super) fn erl_send(
        &self,
        buf: &mut Vec<u8>,
        max: usize,
        msg: &MsgOut<'_>,
        payload: &dyn Payload,
    ) -> Result<(), EncodeFrameError> {
        let node_pid;
        let from = match msg.from {
            Some(p) => p,
            None => {
                node_pid = self.node_pid();
                &node_pid
            }
        };
        match msg.kind {
            WireKind::Send => control::send(buf, max, from, to(msg.to), &|b| payload.encode_etf(b)),
            WireKind::Cast => control::send(buf, max, from, to(msg.to), &|b| {
                control::write_gen_cast(b, &|b| payload.encode_etf(b))
            }),
            WireKind::Call => {
                let me = (&self.me, self.creation);
                let r = OurRef::Call(msg.call_ref);
                let start = buf.len();
                control::monitor(buf, me, from, to(msg.to), r, false);
                let sent = control::send(buf, max, from, to(msg.to), &|b| {
                    control::write_gen_call(b, me, from, r, &|b| payload.encode_etf(b))
                });
                if sent.is_err() {
                    buf.truncate(start);
                    return sent;
                }
                let target = match msg.to {
                    Addressee::Pid(p) => CallTarget::Pid(p.clone()),
                    Addressee::Name(n) => CallTarget::Name(n.to_owned()),
                };
                self.erl.lock().calls.insert(
                    msg.call_ref,
                    ErlCall {
                        from: from.clone(),
                        target,
                    },
                );
                Ok(())
            }
        }
    }

    /// Encodes an exit signal for the BEAM.
    pub(super) fn erl_exit(
        &self,
        buf: &mut Vec<u8>,
        from: &Pid,
        to: &Pid,
        why: &ExitReason,
        via_link: bool,
    ) {
        control::exit(buf, from, to, &reason::to_term(why), via_link);
    }

    /// Encodes a monitor (or its removal) of a BEAM process.
    pub(super) fn erl_monitor(
        &self,
        buf: &mut Vec<u8>,
        watcher: &Pid,
        target: &Pid,
        monitor: MonitorRef,
        demonitor: bool,
    ) {
        let me = (&self.me, self.creation);
        control::monitor(
            buf,
            me,
            watcher,
            To::Pid(target),
            OurRef::Monitor(monitor),
            demonitor,
        );
    }

    /// Encodes the exit message of a BEAM process's monitor on a local one.
    pub(super) fn erl_down(
        &self,
        buf: &mut Vec<u8>,
        to: &Pid,
        r: &ErlRef,
        target: &Term,
        why: &ExitReason,
    ) {
        control::monitor_exit(buf, target, &pid_term(to), r, &reason::to_term(why));
    }

    /// A fresh id for an `UNLINK_ID`.
    pub(super) fn next_unlink_id(&self) -> u64 {
        self.unlink_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// The BEAM's reference and target for a monitor it holds on a local process, taken
    /// out (the monitor is done).
    pub(super) fn take_erl_in_monitor(&self, monitor: MonitorRef) -> Option<(ErlRef, Term)> {
        if !self.erlang.load(Ordering::Relaxed) {
            return None;
        }
        let mut erl = self.erl.lock();
        let (r, target) = erl.in_monitors.remove(&monitor)?;
        erl.by_ref.remove(&r);
        Some((r, target))
    }

    /// Forgets a call to a BEAM process and removes its monitor (the call ended: answered,
    /// timed out, or given up).
    pub(super) fn forget_erl_call(&self, call_ref: u64) {
        if !self.erlang.load(Ordering::Relaxed) {
            return;
        }
        let Some(call) = self.erl.lock().calls.remove(&call_ref) else {
            return;
        };
        let me = (&self.me, self.creation);
        let _ = self.push(|wire, buf| {
            if wire == super::Wire::Erlang {
                let target = match &call.target {
                    CallTarget::Pid(p) => To::Pid(p),
                    CallTarget::Name(n) => To::Name(n),
                };
                control::monitor(buf, me, &call.from, target, OurRef::Call(call_ref), true);
            }
            Ok(())
        });
    }

    /// Forgets every call to a BEAM process (the peer turned out to speak locus).
    pub(super) fn forget_erl_calls(&self) {
        self.erl.lock().calls.clear();
    }

    /// Answers a waiting call (and forgets it).
    fn complete_call(&self, call_ref: u64, result: Result<(Format, Bytes), CallError>) {
        let tx = self.calls.lock().waiting.remove(&call_ref);
        if let Some(tx) = tx {
            let _ = tx.send(result);
        }
        self.forget_erl_call(call_ref);
    }

    pub(super) async fn erlang_read_loop(self: Arc<Self>, mut rd: Reader, node: Node) {
        let mut buf = BytesMut::with_capacity(4096);
        let reason = 'conn: loop {
            let read = tokio::select! {
                biased;
                () = self.cancel.cancelled() => break NodeDownReason::ConnectionClosed,
                r = rd.read_buf(&mut buf) => r,
            };
            match read {
                Ok(0) | Err(_) => break NodeDownReason::ConnectionClosed,
                Ok(n) => {
                    self.touch_rx();
                    self.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
            while let Some(prefix) = buf.get(..4) {
                let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
                if len > self.max_frame {
                    let e = FrameError::TooLarge(len, self.max_frame);
                    tracing::warn!(peer = %self.peer, error = %e, "closing the connection: bad frame");
                    break 'conn NodeDownReason::ProtocolError(e.to_string());
                }
                if buf.len() < 4 + len {
                    buf.reserve(4 + len - buf.len());
                    break;
                }
                if self.cancel.is_cancelled() {
                    break 'conn NodeDownReason::ConnectionClosed;
                }
                let frame = buf.split_to(4 + len).freeze();
                self.stats.frames_in.fetch_add(1, Ordering::Relaxed);
                if len == 0 {
                    continue; // a tick
                }
                if let Err(e) = self.erl_dispatch(&node, &frame) {
                    tracing::warn!(peer = %self.peer, error = %e, "closing the connection: bad frame");
                    break 'conn NodeDownReason::ProtocolError(e.to_string());
                }
            }
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(4096);
            }
        };
        self.close(reason);
        self.teardown();
    }

    /// A pid the peer names as its own: it must be of the peer node.
    fn erl_peer_pid(&self, p: &ErlPid) -> Result<Pid, FrameError> {
        if p.node.as_str() != self.peer.as_str() {
            return Err(FrameError::Malformed(format!(
                "the peer sent a signal from {}, a process of another node",
                p.node.as_str()
            )));
        }
        control::to_pid(p, &self.peer)
    }

    /// A pid of this node's incarnation, if `p` is one.
    fn erl_local(&self, p: &ErlPid) -> Option<Pid> {
        (p.node.as_str() == self.me.as_str() && p.creation == self.creation).then(|| {
            Pid::new(
                self.me.clone(),
                (u64::from(p.serial) << 32) | u64::from(p.id),
                self.creation,
            )
        })
    }

    fn erl_dispatch(self: &Arc<Self>, node: &Node, frame: &Bytes) -> Result<(), FrameError> {
        let (control, message) = control::parse(&frame[4..])?;
        tracing::trace!(peer = %self.peer, ?control, message = ?message.map(etf::decode_term), "from a BEAM node");
        let reason_of = |given: Option<Term>| -> Result<ExitReason, FrameError> {
            let term = match (given, message) {
                (Some(t), _) => t,
                (None, Some(m)) => etf::decode_term(m)
                    .map_err(|e| FrameError::Malformed(format!("exit reason: {e}")))?,
                (None, None) => Term::List(Vec::new()),
            };
            Ok(reason::from_term(&term))
        };
        match control {
            Control::Send { from, to } => {
                let from = from.map(|p| self.erl_peer_pid(&p)).transpose()?;
                let message = message.unwrap_or_default();
                if self.erl_reply_without_alias(frame, message) {
                    return Ok(());
                }
                match self.erl_local(&to) {
                    Some(pid) => {
                        self.erl_deliver(node, IncomingDest::Id(pid.id()), from, frame, message)?
                    }
                    None => {
                        tracing::debug!(peer = %self.peer, "a message to a pid of another node or incarnation dropped")
                    }
                }
            }
            Control::RegSend { from, name } => {
                let from = self.erl_peer_pid(&from)?;
                let message = message.unwrap_or_default();
                if !self.erl_builtin(&from, name.as_str(), message)? {
                    self.erl_deliver(
                        node,
                        IncomingDest::Name(name.as_str()),
                        Some(from),
                        frame,
                        message,
                    )?;
                }
            }
            Control::AliasSend { from: _, alias } => {
                if let Some(OurRef::Call(c)) = control::our_ref(&alias, &self.me, self.creation) {
                    // Anything but `{Tag, Reply}` fails that call, not the connection.
                    let result = match second_of_pair(message.unwrap_or_default()) {
                        Ok(reply) => Ok((Format::Etf, frame.slice_ref(reply))),
                        Err(e) => Err(CallError::BadType(e.to_string())),
                    };
                    self.complete_call(c, result);
                }
            }
            Control::Link { from, to } => {
                let from = self.erl_peer_pid(&from)?;
                match self.erl_local(&to) {
                    Some(to) if node.add_link_to(&to, &from) => {
                        if !self.add_link(&to, &from) {
                            node.exit_signal(&from, &to, ExitReason::NoConnection, true);
                        }
                    }
                    Some(to) => self.send_exit(&to, &from, &ExitReason::NoProc),
                    None => {
                        let gone = control::to_pid(&to, &self.me)?;
                        self.send_exit(&gone, &from, &ExitReason::NoProc);
                    }
                }
            }
            Control::Unlink { id, from, to } => {
                let from = self.erl_peer_pid(&from)?;
                if let Some(to) = self.erl_local(&to) {
                    self.remove_link(&to, &from);
                    node.remove_link_from(&to, &from);
                    if let Some(id) = id {
                        let _ = self.push(|_, buf| {
                            control::unlink_id(buf, &id, &to, &from, true);
                            Ok(())
                        });
                    }
                }
            }
            Control::UnlinkAck | Control::GroupLeader => {}
            Control::Exit {
                from,
                to,
                reason,
                via_link,
            } => {
                let from = self.erl_peer_pid(&from)?;
                let why = reason_of(reason)?;
                if let Some(to) = self.erl_local(&to) {
                    if via_link {
                        self.remove_link(&to, &from);
                    }
                    node.exit_signal(&from, &to, why, via_link);
                }
            }
            Control::MonitorP {
                from,
                target,
                reference,
            } => {
                let watcher = self.erl_peer_pid(&from)?;
                self.erl_monitored(node, watcher, target, reference);
            }
            Control::DemonitorP {
                from, reference, ..
            } => {
                let watcher = self.erl_peer_pid(&from)?;
                let found = {
                    let mut erl = self.erl.lock();
                    let m = erl.by_ref.remove(&reference);
                    if let Some(m) = m {
                        erl.in_monitors.remove(&m);
                    }
                    m
                };
                if let Some(m) = found {
                    let target = self.rel.lock().in_monitors.remove(&m);
                    if let Some((target, _)) = target {
                        node.forget_monitor(&watcher, &target, m);
                    }
                }
            }
            Control::MonitorPExit {
                target,
                to,
                reference,
                reason,
            } => {
                let why = reason_of(reason)?;
                match control::our_ref(&reference, &self.me, self.creation) {
                    Some(OurRef::Call(c)) => {
                        let err = match why {
                            ExitReason::NoProc => CallError::NoProc,
                            ExitReason::NoConnection => CallError::NodeDown(self.peer.clone()),
                            other => CallError::Exited(other),
                        };
                        self.complete_call(c, Err(err));
                    }
                    Some(OurRef::Monitor(m)) => {
                        self.remove_out_monitor(m);
                        let (Some(watcher), Proc::Pid(p)) = (self.erl_local(&to), &target) else {
                            return Ok(());
                        };
                        let pid = self.erl_peer_pid(p)?;
                        node.remote_down(&watcher, m, &pid, why);
                    }
                    None => {}
                }
            }
            Control::SpawnRequest {
                request,
                from,
                module,
                function,
                opts,
            } => {
                let from = self.erl_peer_pid(&from)?;
                let args = message
                    .map(etf::decode_term)
                    .transpose()
                    .map_err(|e| FrameError::Malformed(format!("spawn request arguments: {e}")))?;
                self.erl_spawn_request(node, request, from, (&module, &function), &opts, args);
            }
            Control::SpawnReply { .. } => {}
        }
        Ok(())
    }

    /// A `SPAWN_REQUEST`: `:erpc`'s `execute_call` and `execute_cast` run a function of the
    /// rpc service (`m:f(args)` runs `"m.f"`); any other spawn is refused with `notsup`.
    /// The "spawned process" is a fresh pid of this node that no process holds: its exit
    /// (`PAYLOAD_MONITOR_P_EXIT`, the monitor `erpc` asked for) carries the result.
    fn erl_spawn_request(
        self: &Arc<Self>,
        node: &Node,
        request: ErlRef,
        from: Pid,
        mfa: (&Atom, &Atom),
        opts: &Term,
        args: Option<Term>,
    ) {
        let caller = pid_term(&from);
        let refuse = |why: &str| {
            let _ = self.push(|_, buf| {
                control::spawn_reply(buf, &request, &caller, 0, &atom(why));
                Ok(())
            });
        };
        let rpc = node.try_extension::<ErlangRpc>();
        let (Some(rpc), ("erpc", call @ ("execute_call" | "execute_cast"))) =
            (rpc, (mfa.0.as_str(), mfa.1.as_str()))
        else {
            return refuse("notsup");
        };
        // `[Ref, M, F, A]` for a call, `[M, F, A]` for a cast.
        let (result_ref, m, f, a) = match (call, args) {
            ("execute_call", Some(Term::List(mut l))) if l.len() == 4 => {
                let a = l.pop();
                let f = l.pop();
                let m = l.pop();
                (l.pop(), m, f, a)
            }
            ("execute_cast", Some(Term::List(mut l))) if l.len() == 3 => {
                let a = l.pop();
                let f = l.pop();
                (None, l.pop(), f, a)
            }
            _ => return refuse("badarg"),
        };
        let (Some(Term::Atom(m)), Some(Term::Atom(f)), Some(a)) = (m, f, a) else {
            return refuse("badarg");
        };
        // Bounded work for a peer: at most MAX_RPCS functions running for one connection.
        if self.rpcs_running.fetch_add(1, Ordering::AcqRel) >= MAX_RPCS {
            self.rpcs_running.fetch_sub(1, Ordering::AcqRel);
            return refuse("system_limit");
        }
        let monitored =
            matches!(opts, Term::List(o) if o.iter().any(|t| t.as_atom() == Some("monitor")));
        let worker = Pid::new(self.me.clone(), node.next_pid_id(), self.creation);
        let worker_term = pid_term(&worker);
        let _ = self.push(|_, buf| {
            let flags = if monitored { 2 } else { 0 };
            control::spawn_reply(buf, &request, &caller, flags, &worker_term);
            Ok(())
        });
        let mut args = Vec::new();
        if let Err(e) = etf::encode_term(&a, &mut args) {
            self.rpcs_running.fetch_sub(1, Ordering::AcqRel);
            tracing::debug!(peer = %self.peer, error = %e, "rpc arguments from a BEAM node do not re-encode");
            return;
        }
        let function = format!("{}.{}", m.as_str(), f.as_str());
        let conn = self.clone();
        let node = node.clone();
        tokio::spawn(async move {
            // The function stops with the connection: its caller is gone.
            let run = (rpc.0)(node, function.clone(), args);
            let result = tokio::select! {
                r = run => r,
                () = conn.cancel.cancelled() => {
                    conn.rpcs_running.fetch_sub(1, Ordering::AcqRel);
                    return;
                }
            };
            conn.rpcs_running.fetch_sub(1, Ordering::AcqRel);
            let (Some(result_ref), true) = (result_ref, monitored) else {
                if let Err(e) = result {
                    tracing::warn!(peer = %conn.peer, %function, error = ?e, "an rpc cast from a BEAM node failed");
                }
                return;
            };
            // erpc's result: `{Ref, return, V}` or `{Ref, error, Reason, Stack}`.
            let outcome = |b: &mut Vec<u8>| -> Result<(), EncodeError> {
                let failed = |b: &mut Vec<u8>, reason: &Term| {
                    let _ = write::tuple_header(b, 4);
                    let _ = etf::encode_term(&result_ref, b);
                    write::atom(b, "error");
                    let _ = etf::encode_term(reason, b);
                    b.push(etf::tag::NIL);
                };
                match &result {
                    Ok(value) => {
                        let _ = write::tuple_header(b, 3);
                        let _ = etf::encode_term(&result_ref, b);
                        write::atom(b, "return");
                        b.extend_from_slice(value);
                    }
                    Err(RpcFailure::Undef) => failed(b, &atom("undef")),
                    Err(RpcFailure::BadArgs(why)) => failed(
                        b,
                        &Term::Tuple(vec![atom("badarg"), Term::Binary(why.clone().into_bytes())]),
                    ),
                    Err(RpcFailure::Failed(why)) => failed(
                        b,
                        &Term::Tuple(vec![
                            atom("locus_error"),
                            Term::Binary(why.clone().into_bytes()),
                        ]),
                    ),
                }
                Ok(())
            };
            let max = conn.max_frame;
            let sent = conn.push(|_, buf| {
                control::monitor_exit_with(buf, max, &worker_term, &caller, &request, &outcome)
            });
            if let Err(e) = sent {
                tracing::warn!(peer = %conn.peer, %function, error = %e, "an rpc result for a BEAM node did not encode; its caller will time out");
            }
        });
    }

    /// A BEAM process monitors a local one (by pid or name): recorded, or answered at once
    /// with `noproc`.
    fn erl_monitored(self: &Arc<Self>, node: &Node, watcher: Pid, target: Proc, reference: ErlRef) {
        let local = match &target {
            Proc::Pid(p) => self.erl_local(p),
            Proc::Name(n) => node.whereis(n.as_str()),
        };
        let echo = target.to_term();
        let added = local.as_ref().is_some_and(|t| {
            let m = node.make_ref();
            let mut rel = self.rel.lock();
            if rel.closed || !node.add_remote_watcher(t, m, &watcher) {
                return false;
            }
            rel.in_monitors.insert(m, (t.clone(), watcher.clone()));
            let mut erl = self.erl.lock();
            erl.in_monitors.insert(m, (reference.clone(), echo.clone()));
            erl.by_ref.insert(reference.clone(), m);
            true
        });
        if !added {
            let why = reason::to_term(&ExitReason::NoProc);
            let to = pid_term(&watcher);
            let _ = self.push(|_, buf| {
                control::monitor_exit(buf, &echo, &to, &reference, &why);
                Ok(())
            });
        }
    }

    /// A reply to a call of this node sent to the caller's pid rather than its alias:
    /// `{Tag, Reply}`, `Tag` the call's reference or `[alias | Ref]`. True if it was one.
    fn erl_reply_without_alias(&self, frame: &Bytes, message: &[u8]) -> bool {
        let [etf::tag::SMALL_TUPLE, 2, rest @ ..] = message else {
            return false;
        };
        // `Ref`, or `[alias | Ref]` sent to the pid (`net_kernel` answers so).
        let (r, reply) = match etf::decode_prefix(rest) {
            Ok((Term::Ref(r), reply)) => (r, reply),
            Ok((Term::Improper(head, tail), reply)) if matches!(head.as_slice(), [Term::Atom(a)] if a.as_str() == "alias") => {
                match *tail {
                    Term::Ref(r) => (r, reply),
                    _ => return false,
                }
            }
            _ => return false,
        };
        let Some(OurRef::Call(c)) = control::our_ref(&r, &self.me, self.creation) else {
            return false;
        };
        self.complete_call(c, Ok((Format::Etf, frame.slice_ref(reply))));
        true
    }

    /// What the node answers itself; true if `name` was one of those.
    fn erl_builtin(
        self: &Arc<Self>,
        from: &Pid,
        name: &str,
        message: &[u8],
    ) -> Result<bool, FrameError> {
        match name {
            "net_kernel" => {
                // `{'$gen_call', From, {is_auth, Node}}`: net_adm:ping's question.
                if let Shape::Call {
                    from: caller,
                    tag,
                    request,
                } = control::shape(message)?
                {
                    let is_auth = matches!(
                        etf::decode_term(request),
                        Ok(Term::Tuple(t)) if t.first().and_then(Term::as_atom) == Some("is_auth")
                    );
                    if is_auth {
                        let caller = control::to_pid(&caller, &self.peer)?;
                        ErlReplyTo::new(self.clone(), caller, tag).answer(&atom("yes"));
                    }
                }
                Ok(true)
            }
            "rex" => {
                // `{Pid, features_request}`: which rpc forms this node serves.
                if let Ok(Term::Tuple(t)) = etf::decode_term(message)
                    && let [Term::Pid(p), Term::Atom(what)] = t.as_slice()
                    && what.as_str() == "features_request"
                {
                    let to = control::to_pid(p, &self.peer)?;
                    let reply = Term::Tuple(vec![
                        atom("features_reply"),
                        pid_node(&self.me),
                        Term::List(vec![atom("erpc")]),
                    ]);
                    let me = self.node_pid();
                    let _ = self.push(|_, buf| {
                        control::send(buf, usize::MAX, &me, To::Pid(&to), &|b| {
                            let _ = etf::encode_term(&reply, b);
                            Ok(())
                        })
                    });
                }
                let _ = from;
                Ok(true)
            }
            // locus runs no `global`: what the BEAM's global sends it is dropped, and its
            // locks leave locus out (see the module docs of `dist::erlang`).
            "global_name_server" => Ok(true),
            _ => Ok(false),
        }
    }

    /// Offers a message from the BEAM to a local process: a call, a cast or a plain
    /// message, by its shape.
    fn erl_deliver(
        self: &Arc<Self>,
        node: &Node,
        dest: IncomingDest<'_>,
        from: Option<Pid>,
        frame: &Bytes,
        message: &[u8],
    ) -> Result<(), FrameError> {
        // Erlang frames' buffers are not sized to them: blobs are copied out (see `Blob`).
        let _ = frame;
        let (kind, payload, reply_to) = match control::shape(message)? {
            Shape::Call {
                from: caller,
                tag,
                request,
            } => {
                let Ok(caller) = control::to_pid(&caller, &self.peer) else {
                    tracing::debug!(peer = %self.peer, "a call from a pid of an unnamable node dropped");
                    return Ok(());
                };
                let sink = ErlReplyTo::new(self.clone(), caller.clone(), tag);
                let reply_to = RemoteReplyTo {
                    sink: Arc::new(sink),
                    call_ref: 0,
                    from: Some(caller),
                };
                (WireKind::Call, request, Some(reply_to))
            }
            Shape::Cast { request } => (WireKind::Cast, request, None),
            Shape::Plain => (WireKind::Send, message, None),
        };
        let msg = Incoming {
            kind,
            type_name: "",
            payload: WireBytes::etf(payload),
            from,
            reply_to,
        };
        if let Err(rejected) = node.deliver_incoming(dest, msg) {
            let first = !std::mem::replace(&mut self.erl.lock().warned, true);
            if first {
                tracing::warn!(peer = %self.peer, error = %rejected.error,
                    "a message from a BEAM node did not fit its process; dropped and counted (logged once per connection)");
            } else {
                tracing::debug!(peer = %self.peer, error = %rejected.error, "a message from a BEAM node dropped");
            }
        }
        Ok(())
    }
}

/// The second element of a pair `{_, X}`: where a reply sits in `{Tag, Reply}`.
fn second_of_pair(message: &[u8]) -> Result<&[u8], FrameError> {
    let bad = || FrameError::Malformed("a reply is {Tag, Reply}".into());
    let [etf::tag::SMALL_TUPLE, 2, rest @ ..] = message else {
        return Err(bad());
    };
    let n = etf::term_len(rest).map_err(|_| bad())?;
    Ok(&rest[n..])
}

fn atom(name: &str) -> Term {
    Atom::new(name).map_or(Term::List(Vec::new()), Term::Atom)
}

/// A node's name as an atom term.
fn pid_node(name: &crate::process::NodeName) -> Term {
    atom(name.as_str())
}

/// The return address of a `$gen_call` from a BEAM process: `{Tag, Reply}` goes to the
/// alias in the tag, or to the caller's pid.
pub(super) struct ErlReplyTo {
    conn: Arc<Conn>,
    caller: Pid,
    tag: Term,
}

impl ErlReplyTo {
    fn new(conn: Arc<Conn>, caller: Pid, tag: Term) -> Self {
        Self { conn, caller, tag }
    }

    fn answer(&self, reply: &Term) {
        self.send(&|b| {
            let _ = etf::encode_term(reply, b);
            Ok(())
        });
    }

    fn send(&self, reply: &control::WriteTerm<'_>) {
        let conn = &self.conn;
        let me = conn.node_pid();
        let max = conn.max_frame;
        let sent = conn.push(|_, buf| {
            let body = |b: &mut Vec<u8>| control::write_reply(b, &self.tag, reply);
            match control::alias_of(&self.tag) {
                Some(alias) => control::alias_send(buf, max, &me, alias, &body),
                None => control::send(buf, max, &me, To::Pid(&self.caller), &body),
            }
        });
        if let Err(e) = sent {
            tracing::warn!(peer = %conn.peer, error = %e, "a reply to a BEAM caller did not encode; the caller will time out");
        }
    }
}

impl ReplySink for ErlReplyTo {
    fn reply(&self, _call_ref: u64, result: Result<&dyn Payload, CallError>) {
        match result {
            Ok(payload) => self.send(&|b| payload.encode_etf(b)),
            // The BEAM has no error reply: its caller times out, or its monitor fires.
            Err(e) => {
                tracing::debug!(peer = %self.conn.peer, error = %e, "a call from a BEAM node got no reply")
            }
        }
    }
}
