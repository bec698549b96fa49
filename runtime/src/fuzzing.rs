//! Entry points for the fuzz targets in `fuzz/` (and their regression tests): each feeds
//! arbitrary bytes to one decoder of bytes that come from the network, the way the node
//! does. Not public API.
//!
//! Every function must return normally for every input: an error is fine, a panic, a hang
//! or an unbounded allocation is a bug.

use crate::dist::epmd::proto;
use crate::dist::frame;
use crate::dist::handshake::{self, Acceptor, Identity, Initiator, Status};
use crate::node::NodeName;

/// Erlang's term format as a BEAM peer's bytes reach it: decoded into a term, checked for
/// its length, and decoded into a Rust type through serde. What decodes must encode, and
/// decode again to the same term (the function panics if not: that is a bug to find).
pub fn etf(data: &[u8]) {
    use crate::etf::{self, Term};
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    enum Shape {
        Point,
        Circle(f64),
        Named { name: String, sides: Vec<u8> },
    }
    if let Ok(t) = etf::decode(data) {
        let again = etf::encode(&t).ok().and_then(|b| etf::decode(&b).ok());
        assert_eq!(again.as_ref(), Some(&t), "a decoded term did not re-encode");
    }
    let _ = etf::from_slice::<Term>(data);
    let _ = etf::from_slice::<(String, Option<i64>, Vec<Shape>)>(data);
    let _ = etf::from_slice::<std::collections::HashMap<String, crate::Pid>>(data);
    if let Some(rest) = data.get(1..) {
        let _ = etf::term_len(rest);
    }
}

/// The frame layer as a connection's reader drives it: split a byte stream into frames
/// (with a small limit, so "too large" is reachable), parse each, resolve its pids. A frame
/// that repeats the last message's header must read, through `frame::repeated_msg`, as
/// the full parse reads it (the function panics if not: that is a bug to find).
pub fn frames(data: &[u8]) {
    let known = NodeName::new("peer@127.0.0.1").ok();
    let mut last_head: Vec<u8> = Vec::new();
    let mut rest = data;
    while let Ok(Some(len)) = frame::check(rest, 64 * 1024) {
        let Some(whole) = rest.get(..len) else { return };
        let parsed = frame::parse(whole);
        if let Some(repeated) =
            frame::repeated_msg(whole, &last_head).filter(|_| !last_head.is_empty())
        {
            match (&repeated, &parsed) {
                (
                    Ok((r, p)),
                    Ok(frame::Frame::Msg {
                        call_ref, payload, ..
                    }),
                ) => {
                    assert_eq!(
                        (r, p),
                        (call_ref, payload),
                        "a repeated header read differently"
                    );
                }
                (Err(_), Err(_)) => {}
                _ => panic!("a repeated header read {repeated:?}, the parse {parsed:?}"),
            }
        }
        if let Ok(frame::Frame::Msg { head, .. }) = &parsed {
            last_head = head.bytes.to_vec();
        }
        if let (Ok(parsed), Some(known)) = (&parsed, &known) {
            for pid in pids(parsed) {
                let _ = pid.to_pid(known);
            }
        }
        rest = &rest[len..];
    }
}

/// The pids a frame names.
fn pids<'a>(f: &frame::Frame<'a>) -> Vec<frame::WirePid<'a>> {
    use frame::Frame;
    match f {
        Frame::Msg { head, .. } => head.from.iter().copied().collect(),
        Frame::Link { from, to } | Frame::Unlink { from, to } | Frame::Exit { from, to, .. } => {
            vec![*from, *to]
        }
        Frame::Monitor {
            watcher, target, ..
        }
        | Frame::Demonitor {
            watcher, target, ..
        } => vec![*watcher, *target],
        Frame::Down { watcher, pid, .. } => vec![*watcher, *pid],
        _ => Vec::new(),
    }
}

fn identity(name: &str) -> Option<Identity> {
    Some(Identity {
        name: NodeName::new(name).ok()?,
        creation: 7,
        hidden: false,
        listen_port: 4370,
    })
}

/// Length-prefixed handshake messages, as [`handshake::message_len`] frames them.
fn messages(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(prefix) = rest.get(..4) {
        let prefix = [prefix[0], prefix[1], prefix[2], prefix[3]];
        let Ok(len) = handshake::message_len(prefix) else {
            break;
        };
        let Some(body) = rest.get(4..4 + len) else {
            break;
        };
        out.push(body);
        rest = &rest[4 + len..];
    }
    out
}

/// The accepting side: a hello, then a proof, from the bytes.
pub fn handshake_accept(data: &[u8]) {
    let Some(me) = identity("me@127.0.0.1") else {
        return;
    };
    let mut acc = Acceptor::new(me, b"cookie", [2; 32]);
    let msgs = messages(data);
    let Some(hello) = msgs.first() else { return };
    if acc.receive_hello(hello).is_err() {
        return;
    }
    let _ = acc.challenge(Status::Ok);
    if let Some(proof) = msgs.get(1) {
        let _ = acc.receive_proof(proof);
    }
}

/// The connecting side: a challenge, then an ack, from the bytes.
pub fn handshake_initiate(data: &[u8]) {
    let (Some(me), Ok(peer)) = (identity("me@127.0.0.1"), NodeName::new("peer@127.0.0.1")) else {
        return;
    };
    let (mut init, _hello) = Initiator::new(me, b"cookie", peer, [1; 32]);
    for msg in messages(data) {
        if init.receive(msg).is_err() {
            return;
        }
    }
}

/// Erlang distribution frames (the bytes after a frame's length): the control message, and
/// the shape (`$gen_call`, `$gen_cast`, plain) of the message after it.
pub fn erlang_frames(data: &[u8]) {
    use crate::dist::erlang::control;
    if let Ok((_, Some(message))) = control::parse(data) {
        let _ = control::shape(message);
    }
    let _ = control::shape(data);
}

/// Erlang's handshake, both sides, from messages framed by a one-byte length (each side is
/// fed every message in turn, whatever its state).
pub fn erlang_handshake(data: &[u8]) {
    use crate::dist::erlang::handshake::{ErlAcceptor, ErlInitiator, ErlMe};
    let (Ok(name), Ok(peer)) = (
        NodeName::new("me@127.0.0.1"),
        NodeName::new("peer@127.0.0.1"),
    ) else {
        return;
    };
    let me = ErlMe {
        name,
        creation: 1,
        hidden: false,
    };
    let mut msgs = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        msgs.push(&tail[..len]);
        rest = &tail[len..];
    }
    let mut acc = ErlAcceptor::new(me.clone(), b"cookie", 7);
    if let Some(first) = msgs.first()
        && acc.receive_name(first).is_ok()
    {
        let _ = acc.challenge();
        for m in &msgs[1..] {
            let _ = acc.receive_alive_answer(m);
            let _ = acc.receive_reply(m);
        }
    }
    let (mut init, _name) = ErlInitiator::new(me, b"cookie", peer, 11);
    for m in &msgs {
        let _ = init.receive_status(m);
        let _ = init.receive_challenge(m);
        let _ = init.receive_ack(m);
    }
}

/// Port mapper requests (what its server reads) and replies (what its clients read).
pub fn epmd(data: &[u8]) {
    let _ = proto::Request::decode(data);
    let _ = proto::decode_alive2_resp(data);
    let _ = proto::decode_port2_resp(data);
    let _ = proto::decode_names_resp(data);
}

/// Gossip heartbeats, with and without a secret.
pub fn gossip(data: &[u8]) {
    crate::cluster::fuzz_heartbeat(data);
}

/// Valid inputs for each target (`(target, bytes)`), a starting corpus from which the
/// fuzzer mutates toward the interesting cases.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    use crate::process::{ExitReason, MonitorRef, Pid, WireKind};
    let mut out = Vec::new();
    let (Ok(a), Ok(b)) = (
        NodeName::new("peer@127.0.0.1"),
        NodeName::new("me@127.0.0.1"),
    ) else {
        return out;
    };
    let p1 = Pid::new(a.clone(), 1, 7);
    let p2 = Pid::new(b.clone(), 2, 9);
    let mut stream = Vec::new();
    frame::tick(&mut stream);
    let hello = frame::MsgOut {
        kind: WireKind::Send,
        from: Some(&p1),
        to: crate::node::Addressee::Name("ping"),
        type_name: "ping::PingCall",
        call_ref: 3,
    };
    let _ = frame::msg(&mut stream, 1 << 20, &hello, |b| {
        rmp_serde::encode::write(b, &"hello")
    });
    let _ = frame::reply(&mut stream, 1 << 20, 3, true, |b| {
        rmp_serde::encode::write(b, &42u32)
    });
    frame::link(&mut stream, &p1, &p2, false);
    frame::exit(
        &mut stream,
        &p1,
        &p2,
        true,
        &ExitReason::Error("boom".into()),
    );
    frame::monitor(&mut stream, &p1, &p2, MonitorRef(5), false);
    frame::down(&mut stream, &p1, &p2, MonitorRef(5), &ExitReason::Normal);
    frame::peers(&mut stream, &[(b.clone(), 4370)]);
    frame::bye(&mut stream);
    out.push(("frames", stream));
    // Messages that repeat one header (the reader's shortcut), the call references of
    // different encoded lengths.
    let mut repeated = Vec::new();
    for call_ref in [3, 4, 300, 1 << 40] {
        let call = frame::MsgOut {
            kind: WireKind::Call,
            from: Some(&p1),
            to: crate::node::Addressee::Pid(&p2),
            type_name: "ping::PingCall",
            call_ref,
        };
        let _ = frame::msg(&mut repeated, 1 << 20, &call, |b| {
            rmp_serde::encode::write(b, &call_ref)
        });
    }
    out.push(("frames", repeated));
    // Terms as a BEAM peer sends them: a $gen_call, a map, a pid, a big integer.
    {
        use crate::etf::{self, Atom, ErlPid, ErlRef, Term};
        let atom = |s: &str| Atom::new(s).map(Term::Atom);
        if let (Ok(gen_call), Ok(alias), Ok(ok), Ok(node)) = (
            atom("$gen_call"),
            atom("alias"),
            atom("ok"),
            Atom::new("peer@127.0.0.1"),
        ) {
            let pid = Term::Pid(ErlPid {
                node: node.clone(),
                id: 80,
                serial: 0,
                creation: 7,
            });
            let tag = Term::Improper(
                vec![alias],
                Box::new(Term::Ref(ErlRef {
                    node,
                    creation: 7,
                    ids: vec![1, 2, 3],
                })),
            );
            let terms = [
                Term::Tuple(vec![
                    gen_call,
                    Term::Tuple(vec![pid, tag]),
                    Term::Tuple(vec![ok, Term::Binary(b"hi".to_vec())]),
                ]),
                Term::Map(vec![(Term::Int(1), Term::List(vec![Term::Float(0.5)]))]),
                Term::Big {
                    negative: true,
                    magnitude: vec![1; 12],
                },
            ];
            for t in terms {
                if let Ok(bytes) = etf::encode(&t) {
                    out.push(("etf", bytes));
                }
            }
        }
    }

    // Erlang frames as this node writes them (without their length), and a handshake:
    // the initiator's name, then the acceptor's status and challenge.
    {
        use crate::dist::erlang::control;
        use crate::dist::erlang::handshake::{ErlAcceptor, ErlInitiator, ErlMe};
        if let (Ok(me), Ok(peer)) = (
            NodeName::new("me@127.0.0.1"),
            NodeName::new("peer@127.0.0.1"),
        ) {
            let (a, b) = (Pid::new(me.clone(), 3, 1), Pid::new(peer.clone(), 4, 2));
            let mut buf = Vec::new();
            control::link(&mut buf, &a, &b);
            if buf.len() > 4 {
                out.push(("erlang_frames", buf[4..].to_vec()));
            }
            let erl_me = |name: NodeName| ErlMe {
                name,
                creation: 1,
                hidden: false,
            };
            let (_init, name) = ErlInitiator::new(erl_me(peer), b"cookie", me.clone(), 11);
            let acc = ErlAcceptor::new(erl_me(me), b"cookie", 7);
            let challenge = acc.challenge();
            let mut hs = Vec::new();
            // The handshake module's messages carry their `u16` length; the bodies go here.
            let body = |m: &[u8]| m.get(2..).unwrap_or_default().to_vec();
            for m in [body(&name), b"sok".to_vec(), body(&challenge)] {
                // Each message after its one-byte length (the target's framing).
                let m = m.get(..m.len().min(255)).unwrap_or_default();
                hs.push(m.len() as u8);
                hs.extend_from_slice(m);
            }
            out.push(("erlang_handshake", hs));
        }
    }

    if let (Some(peer), Some(me)) = (identity("peer@127.0.0.1"), identity("me@127.0.0.1")) {
        // What an acceptor reads: the initiator's hello (the proof needs the challenge).
        let (_init, hello) = Initiator::new(peer, b"cookie", me.name.clone(), [1; 32]);
        out.push(("handshake_accept", hello.clone()));
        // What an initiator reads: a challenge, from a real acceptor.
        let mut acc = Acceptor::new(me, b"cookie", [2; 32]);
        if let Some(body) = messages(&hello).first()
            && acc.receive_hello(body).is_ok()
        {
            out.push(("handshake_initiate", acc.challenge(Status::Ok)));
        }
    }

    let reg = proto::Registration::new("node", 4370, false);
    out.push(("epmd", proto::Request::Alive2(reg.clone()).encode()));
    out.push(("epmd", proto::Request::PortPlease2("node".into()).encode()));
    out.push(("epmd", proto::Request::Names.encode()));
    out.push(("epmd", proto::encode_port2_resp(Some(&reg))));
    out.push((
        "epmd",
        proto::encode_names_resp(4369, &[("node".into(), 4370)]),
    ));

    if let Ok(plain) = crate::cluster::fuzz_seed_heartbeat(&b, false) {
        out.push(("gossip", plain));
    }
    if let Ok(sealed) = crate::cluster::fuzz_seed_heartbeat(&b, true) {
        out.push(("gossip", sealed));
    }
    out
}

/// Runs `data` through the named target; false for an unknown target.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "frames" => frames(data),
        "handshake_accept" => handshake_accept(data),
        "handshake_initiate" => handshake_initiate(data),
        "epmd" => epmd(data),
        "gossip" => gossip(data),
        "etf" => etf(data),
        "erlang_frames" => erlang_frames(data),
        "erlang_handshake" => erlang_handshake(data),
        _ => return false,
    }
    true
}
