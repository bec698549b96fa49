//! The distribution handshake, as state machines over bytes (no sockets, no clock), so tests
//! and fuzzers drive it directly. The connection layer moves the bytes and applies a timeout
//! to every step.
//!
//! Flow, A initiating to B:
//! 1. A → B `Hello`: versions, A's name, creation, flags, listen port.
//! 2. B decides (connection table, simultaneous attempts, allow-list) and answers
//!    `Challenge` with a status, its own identity and a random 32-byte challenge; or
//!    `Refused`.
//! 3. A → B `Proof`: A's own challenge and HMAC-SHA256(cookie, transcript) proving A knows
//!    the cookie. The transcript binds both names, creations, flags, the version, both
//!    challenges and the direction.
//! 4. B checks it and answers `Ack` with its own proof over the same transcript in the other
//!    direction (or `Refused` naming the reason); A checks that. Both are then connected.
//!
//! The cookie never crosses the wire. A proves first, so a stranger connecting to B learns
//! nothing about B's cookie. Messages are length-prefixed (`u32`) MessagePack, at most
//! [`MAX_HANDSHAKE_MSG`] bytes; this module owns that framing ([`read_message`], and every
//! message it returns carries its prefix).
//!
//! Each side's challenge comes from its caller, drawn from the OS random source: the state
//! machines never draw randomness themselves, so they are deterministic under test and a
//! missing random source fails the connection instead of weakening it.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::node::NodeName;

/// Protocol versions this node speaks.
pub(crate) const MIN_VERSION: u16 = 1;
pub(crate) const MAX_VERSION: u16 = 1;
/// Every handshake message starts with this.
const MAGIC: &str = "locus";
/// The largest handshake message accepted.
pub(crate) const MAX_HANDSHAKE_MSG: usize = 4096;
/// Flag: the node is hidden.
const FLAG_HIDDEN: u32 = 1;

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The peer is not a locus node (it may be Erlang, or not distribution at all).
    #[error("the peer is not a locus node (bad magic)")]
    NotLocus,
    /// No protocol version both sides speak.
    #[error(
        "no common protocol version: the peer speaks {peer_min}..={peer_max}, this node {MIN_VERSION}..={MAX_VERSION}"
    )]
    Version {
        /// The peer's oldest version.
        peer_min: u16,
        /// The peer's newest version.
        peer_max: u16,
    },
    /// A message did not decode.
    #[error("malformed handshake message: {0}")]
    Malformed(String),
    /// A message came out of order.
    #[error("unexpected handshake message: expected {expected}, got {got}")]
    Unexpected {
        /// What the protocol expected.
        expected: &'static str,
        /// What came.
        got: &'static str,
    },
    /// The peer's proof did not match: the two nodes have different cookies.
    #[error("node {peer} failed the cookie check: the two nodes have different cookies")]
    BadCookie {
        /// The peer's name.
        peer: String,
    },
    /// The peer is not the node that was asked for.
    #[error("connected to {got} but expected {expected} (a stale port mapper entry?)")]
    WrongPeer {
        /// The node asked for.
        expected: String,
        /// The node that answered.
        got: String,
    },
    /// The peer refused the connection.
    #[error("node {peer} refused the connection: {reason}")]
    Refused {
        /// The peer's name.
        peer: String,
        /// Its reason.
        reason: String,
    },
    /// Both nodes connected to each other at once and the peer keeps its own attempt; the
    /// connection comes up through that one.
    #[error("simultaneous connect: {peer} keeps its own attempt")]
    Simultaneous {
        /// The peer's name.
        peer: String,
    },
    /// The peer's name is not a valid node name.
    #[error("the peer sent an invalid node name: {0}")]
    BadName(String),
    /// A BEAM peer lacks distribution flags locus needs (it runs an OTP older than 25).
    #[error(
        "node {peer} lacks the distribution flags {missing} that locus needs: run OTP 25 or later"
    )]
    Flags {
        /// The peer's name.
        peer: String,
        /// The missing flags, as a bit mask.
        missing: String,
    },
}

/// Who a node says it is during the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) name: NodeName,
    pub(crate) creation: u32,
    pub(crate) hidden: bool,
    pub(crate) listen_port: u16,
}

/// The peer, once the handshake succeeded (or, for the acceptor, once it said hello).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerInfo {
    pub(crate) name: NodeName,
    pub(crate) creation: u32,
    pub(crate) hidden: bool,
    pub(crate) listen_port: u16,
}

/// The acceptor's answer to a hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Status {
    /// Go on.
    Ok,
    /// Go on; the acceptor drops its own attempt to the initiator (the initiator's name is
    /// greater).
    OkSimultaneous,
    /// The acceptor keeps its own attempt (its name is greater); the initiator stops.
    Nok,
    /// The acceptor already has a connection to the initiator. The initiator goes on only if
    /// it knows its side of that connection is gone (Erlang's `alive`); the old connection
    /// is then replaced once this one authenticates.
    Alive,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Hello {
    magic: String,
    min_version: u16,
    max_version: u16,
    name: String,
    creation: u32,
    flags: u32,
    listen_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Challenge {
    status: Status,
    version: u16,
    name: String,
    creation: u32,
    flags: u32,
    listen_port: u16,
    challenge: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Proof {
    challenge: [u8; 32],
    digest: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Ack {
    digest: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Msg {
    Hello(Hello),
    Challenge(Challenge),
    Proof(Proof),
    Ack(Ack),
    Refused(String),
}

impl Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Hello(_) => "hello",
            Msg::Challenge(_) => "challenge",
            Msg::Proof(_) => "proof",
            Msg::Ack(_) => "ack",
            Msg::Refused(_) => "refused",
        }
    }

    /// The message with its `u32` length prefix.
    fn encode(&self) -> Vec<u8> {
        let body = rmp_serde::to_vec(self).unwrap_or_default();
        let mut out = Vec::with_capacity(body.len() + 4);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn decode(body: &[u8]) -> Result<Msg, HandshakeError> {
        if body.len() > MAX_HANDSHAKE_MSG {
            return Err(HandshakeError::Malformed(format!(
                "{} bytes is too long",
                body.len()
            )));
        }
        rmp_serde::from_slice(body).map_err(|e| HandshakeError::Malformed(e.to_string()))
    }
}

/// The length of the next handshake message, from its 4-byte prefix.
pub(crate) fn message_len(prefix: [u8; 4]) -> Result<usize, HandshakeError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len == 0 || len > MAX_HANDSHAKE_MSG {
        return Err(HandshakeError::Malformed(format!("message length {len}")));
    }
    Ok(len)
}

fn flags(hidden: bool) -> u32 {
    if hidden { FLAG_HIDDEN } else { 0 }
}

/// Reads one handshake message from `rd`: its length prefix, checked against
/// [`MAX_HANDSHAKE_MSG`], then the body (returned without the prefix).
pub(crate) async fn read_message<R: AsyncRead + Unpin>(rd: &mut R) -> std::io::Result<Vec<u8>> {
    let mut prefix = [0u8; 4];
    rd.read_exact(&mut prefix).await?;
    let len = message_len(prefix).map_err(std::io::Error::other)?;
    let mut body = vec![0u8; len];
    rd.read_exact(&mut body).await?;
    Ok(body)
}

/// A challenge: 32 bytes the caller draws from the OS random source.
pub(crate) type Challenge32 = [u8; 32];

fn peer_name(name: &str) -> Result<NodeName, HandshakeError> {
    NodeName::new(name).map_err(|e| HandshakeError::BadName(e.to_string()))
}

/// Everything both proofs cover.
struct Transcript<'a> {
    initiator: &'a Identity,
    acceptor: &'a Identity,
    version: u16,
    acceptor_challenge: &'a [u8; 32],
    initiator_challenge: &'a [u8; 32],
}

impl Transcript<'_> {
    fn mac(&self, cookie: &[u8], role: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so the fallback is never taken.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(cookie)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(b"locus-handshake-v1\0");
        mac.update(role);
        for id in [self.initiator, self.acceptor] {
            let name = id.name.as_str().as_bytes();
            mac.update(&(name.len() as u32).to_be_bytes());
            mac.update(name);
            mac.update(&id.creation.to_be_bytes());
            mac.update(&flags(id.hidden).to_be_bytes());
        }
        mac.update(&self.version.to_be_bytes());
        mac.update(self.acceptor_challenge);
        mac.update(self.initiator_challenge);
        mac
    }

    fn digest(&self, cookie: &[u8], role: &[u8]) -> [u8; 32] {
        let out = self.mac(cookie, role).finalize().into_bytes();
        let mut d = [0u8; 32];
        d.copy_from_slice(&out);
        d
    }

    /// Constant-time comparison.
    fn verify(&self, cookie: &[u8], role: &[u8], digest: &[u8; 32]) -> bool {
        self.mac(cookie, role).verify_slice(digest).is_ok()
    }
}

const INITIATOR: &[u8] = b"initiator";
const ACCEPTOR: &[u8] = b"acceptor";

enum InitState {
    AwaitChallenge,
    AwaitAck {
        acceptor: Identity,
        version: u16,
        acceptor_challenge: [u8; 32],
        challenge: [u8; 32],
    },
    Done,
}

/// The connecting side.
pub(crate) struct Initiator {
    me: Identity,
    cookie: Vec<u8>,
    expected: NodeName,
    /// This side's challenge, sent with its proof.
    challenge: Challenge32,
    state: InitState,
}

/// What the initiator does next.
#[derive(Debug)]
pub(crate) enum InitStep {
    /// Send this proof and wait for the ack. `peer_says_connected`: the acceptor answered
    /// [`Status::Alive`]; go on only if this node's side of that connection is gone.
    Proof {
        bytes: Vec<u8>,
        peer_says_connected: bool,
    },
    /// Connected.
    Done(PeerInfo),
}

impl Initiator {
    /// Starts a handshake with `expected`, proving the cookie over `challenge` (fresh
    /// randomness, see the module docs); returns the hello to send.
    pub(crate) fn new(
        me: Identity,
        cookie: &[u8],
        expected: NodeName,
        challenge: Challenge32,
    ) -> (Self, Vec<u8>) {
        let hello = Msg::Hello(Hello {
            magic: MAGIC.into(),
            min_version: MIN_VERSION,
            max_version: MAX_VERSION,
            name: me.name.as_str().into(),
            creation: me.creation,
            flags: flags(me.hidden),
            listen_port: me.listen_port,
        })
        .encode();
        (
            Self {
                me,
                cookie: cookie.to_vec(),
                expected,
                challenge,
                state: InitState::AwaitChallenge,
            },
            hello,
        )
    }

    /// Handles the next message (its body, without the length prefix).
    pub(crate) fn receive(&mut self, body: &[u8]) -> Result<InitStep, HandshakeError> {
        let msg = Msg::decode(body)?;
        match (std::mem::replace(&mut self.state, InitState::Done), msg) {
            (_, Msg::Refused(reason)) => Err(HandshakeError::Refused {
                peer: self.expected.to_string(),
                reason,
            }),
            (InitState::AwaitChallenge, Msg::Challenge(c)) => {
                let peer = peer_name(&c.name)?;
                if peer != self.expected {
                    return Err(HandshakeError::WrongPeer {
                        expected: self.expected.to_string(),
                        got: peer.to_string(),
                    });
                }
                if c.status == Status::Nok {
                    return Err(HandshakeError::Simultaneous {
                        peer: peer.to_string(),
                    });
                }
                if !(MIN_VERSION..=MAX_VERSION).contains(&c.version) {
                    return Err(HandshakeError::Version {
                        peer_min: c.version,
                        peer_max: c.version,
                    });
                }
                let acceptor = Identity {
                    name: peer,
                    creation: c.creation,
                    hidden: c.flags & FLAG_HIDDEN != 0,
                    listen_port: c.listen_port,
                };
                let challenge = self.challenge;
                let digest = Transcript {
                    initiator: &self.me,
                    acceptor: &acceptor,
                    version: c.version,
                    acceptor_challenge: &c.challenge,
                    initiator_challenge: &challenge,
                }
                .digest(&self.cookie, INITIATOR);
                self.state = InitState::AwaitAck {
                    acceptor,
                    version: c.version,
                    acceptor_challenge: c.challenge,
                    challenge,
                };
                Ok(InitStep::Proof {
                    bytes: Msg::Proof(Proof { challenge, digest }).encode(),
                    peer_says_connected: c.status == Status::Alive,
                })
            }
            (
                InitState::AwaitAck {
                    acceptor,
                    version,
                    acceptor_challenge,
                    challenge,
                },
                Msg::Ack(ack),
            ) => {
                let t = Transcript {
                    initiator: &self.me,
                    acceptor: &acceptor,
                    version,
                    acceptor_challenge: &acceptor_challenge,
                    initiator_challenge: &challenge,
                };
                if !t.verify(&self.cookie, ACCEPTOR, &ack.digest) {
                    return Err(HandshakeError::BadCookie {
                        peer: acceptor.name.to_string(),
                    });
                }
                Ok(InitStep::Done(PeerInfo {
                    name: acceptor.name,
                    creation: acceptor.creation,
                    hidden: acceptor.hidden,
                    listen_port: acceptor.listen_port,
                }))
            }
            (state, other) => Err(HandshakeError::Unexpected {
                expected: match state {
                    InitState::AwaitChallenge => "challenge",
                    InitState::AwaitAck { .. } => "ack",
                    InitState::Done => "nothing",
                },
                got: other.kind(),
            }),
        }
    }
}

enum AccState {
    AwaitHello,
    /// Hello received; waiting for the caller's decision.
    Deciding {
        initiator: Identity,
        version: u16,
    },
    AwaitProof {
        initiator: Identity,
        version: u16,
        challenge: [u8; 32],
    },
    Done,
}

/// The accepting side.
pub(crate) struct Acceptor {
    me: Identity,
    cookie: Vec<u8>,
    /// This side's challenge, sent to the initiator.
    challenge: Challenge32,
    state: AccState,
}

impl Acceptor {
    /// Waits for a hello; will challenge the initiator with `challenge` (fresh randomness,
    /// see the module docs).
    pub(crate) fn new(me: Identity, cookie: &[u8], challenge: Challenge32) -> Self {
        Self {
            me,
            cookie: cookie.to_vec(),
            challenge,
            state: AccState::AwaitHello,
        }
    }

    /// Handles the hello; returns who the peer says it is. Call [`challenge`](Self::challenge)
    /// or [`refuse`] next.
    pub(crate) fn receive_hello(&mut self, body: &[u8]) -> Result<PeerInfo, HandshakeError> {
        let msg = Msg::decode(body)?;
        let Msg::Hello(h) = msg else {
            return Err(HandshakeError::Unexpected {
                expected: "hello",
                got: msg.kind(),
            });
        };
        if h.magic != MAGIC {
            return Err(HandshakeError::NotLocus);
        }
        let version = h.max_version.min(MAX_VERSION);
        if version < h.min_version.max(MIN_VERSION) {
            return Err(HandshakeError::Version {
                peer_min: h.min_version,
                peer_max: h.max_version,
            });
        }
        let initiator = Identity {
            name: peer_name(&h.name)?,
            creation: h.creation,
            hidden: h.flags & FLAG_HIDDEN != 0,
            listen_port: h.listen_port,
        };
        let info = PeerInfo {
            name: initiator.name.clone(),
            creation: initiator.creation,
            hidden: initiator.hidden,
            listen_port: initiator.listen_port,
        };
        self.state = AccState::Deciding { initiator, version };
        Ok(info)
    }

    /// Answers the hello with `status`; returns the bytes to send.
    pub(crate) fn challenge(&mut self, status: Status) -> Vec<u8> {
        let AccState::Deciding { initiator, version } =
            std::mem::replace(&mut self.state, AccState::Done)
        else {
            return refuse("handshake out of order");
        };
        let challenge = self.challenge;
        let msg = Msg::Challenge(Challenge {
            status,
            version,
            name: self.me.name.as_str().into(),
            creation: self.me.creation,
            flags: flags(self.me.hidden),
            listen_port: self.me.listen_port,
            challenge,
        })
        .encode();
        if status != Status::Nok {
            self.state = AccState::AwaitProof {
                initiator,
                version,
                challenge,
            };
        }
        msg
    }

    /// Checks the initiator's proof. On success returns the ack to send and the peer; on a
    /// bad cookie, the error and a refusal to send before closing.
    pub(crate) fn receive_proof(
        &mut self,
        body: &[u8],
    ) -> Result<(Vec<u8>, PeerInfo), (HandshakeError, Vec<u8>)> {
        let AccState::AwaitProof {
            initiator,
            version,
            challenge,
        } = std::mem::replace(&mut self.state, AccState::Done)
        else {
            let e = HandshakeError::Unexpected {
                expected: "nothing",
                got: "proof",
            };
            return Err((e, refuse("handshake out of order")));
        };
        let proof = match Msg::decode(body) {
            Ok(Msg::Proof(p)) => p,
            Ok(other) => {
                let e = HandshakeError::Unexpected {
                    expected: "proof",
                    got: other.kind(),
                };
                return Err((e, refuse("handshake out of order")));
            }
            Err(e) => return Err((e, refuse("malformed proof"))),
        };
        let t = Transcript {
            initiator: &initiator,
            acceptor: &self.me,
            version,
            acceptor_challenge: &challenge,
            initiator_challenge: &proof.challenge,
        };
        if !t.verify(&self.cookie, INITIATOR, &proof.digest) {
            let e = HandshakeError::BadCookie {
                peer: initiator.name.to_string(),
            };
            return Err((e, refuse("invalid challenge reply: the cookies differ")));
        }
        let ack = Msg::Ack(Ack {
            digest: t.digest(&self.cookie, ACCEPTOR),
        })
        .encode();
        Ok((
            ack,
            PeerInfo {
                name: initiator.name,
                creation: initiator.creation,
                hidden: initiator.hidden,
                listen_port: initiator.listen_port,
            },
        ))
    }
}

/// A refusal message, sent before closing.
pub(crate) fn refuse(reason: &str) -> Vec<u8> {
    Msg::Refused(reason.to_owned()).encode()
}

impl fmt::Debug for Initiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Initiator")
            .field("me", &self.me.name)
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acceptor")
            .field("me", &self.me.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str, creation: u32) -> Identity {
        Identity {
            name: NodeName::new(name).unwrap(),
            creation,
            hidden: false,
            listen_port: 4000,
        }
    }

    fn body(framed: &[u8]) -> &[u8] {
        let len = message_len(framed[..4].try_into().unwrap()).unwrap();
        assert_eq!(framed.len(), 4 + len);
        &framed[4..]
    }

    /// Runs a whole handshake in memory; returns what each side concluded.
    fn run(
        a_cookie: &[u8],
        b_cookie: &[u8],
    ) -> (
        Result<PeerInfo, HandshakeError>,
        Result<PeerInfo, HandshakeError>,
    ) {
        let (mut a, hello) = Initiator::new(
            id("a@h", 1),
            a_cookie,
            NodeName::new("b@h").unwrap(),
            [7; 32],
        );
        let mut b = Acceptor::new(id("b@h", 2), b_cookie, [9; 32]);
        let seen = b.receive_hello(body(&hello)).unwrap();
        assert_eq!(seen.name.as_str(), "a@h");
        let challenge = b.challenge(Status::Ok);
        let InitStep::Proof { bytes: proof, .. } = a.receive(body(&challenge)).unwrap() else {
            panic!("expected a proof")
        };
        match b.receive_proof(body(&proof)) {
            Ok((ack, b_view)) => {
                let a_view = match a.receive(body(&ack)) {
                    Ok(InitStep::Done(p)) => Ok(p),
                    Ok(other) => panic!("unexpected {other:?}"),
                    Err(e) => Err(e),
                };
                (a_view, Ok(b_view))
            }
            Err((e, refusal)) => (a.receive(body(&refusal)).map(|_| unreachable!()), Err(e)),
        }
    }

    #[test]
    fn same_cookie_connects_both_sides() {
        let (a, b) = run(b"secret", b"secret");
        let a = a.unwrap();
        assert_eq!((a.name.as_str(), a.creation), ("b@h", 2));
        let b = b.unwrap();
        assert_eq!((b.name.as_str(), b.creation), ("a@h", 1));
    }

    #[test]
    fn different_cookies_are_refused_on_both_sides() {
        let (a, b) = run(b"secret", b"other");
        assert_eq!(
            b.unwrap_err(),
            HandshakeError::BadCookie { peer: "a@h".into() }
        );
        let a = a.unwrap_err();
        assert!(
            matches!(&a, HandshakeError::Refused { reason, .. } if reason.contains("cookies differ")),
            "{a}"
        );
    }

    #[test]
    fn the_cookie_never_appears_on_the_wire() {
        let cookie = b"VERY-SECRET-COOKIE";
        let (mut a, hello) =
            Initiator::new(id("a@h", 1), cookie, NodeName::new("b@h").unwrap(), [7; 32]);
        let mut b = Acceptor::new(id("b@h", 2), cookie, [9; 32]);
        b.receive_hello(body(&hello)).unwrap();
        let challenge = b.challenge(Status::Ok);
        let InitStep::Proof { bytes: proof, .. } = a.receive(body(&challenge)).unwrap() else {
            panic!()
        };
        let (ack, _) = b.receive_proof(body(&proof)).unwrap();
        for bytes in [&hello, &challenge, &proof, &ack] {
            assert!(!bytes.windows(cookie.len()).any(|w| w == cookie));
        }
    }

    #[test]
    fn a_replayed_proof_does_not_pass_a_new_challenge() {
        let cookie = b"c";
        let (mut a, hello) =
            Initiator::new(id("a@h", 1), cookie, NodeName::new("b@h").unwrap(), [7; 32]);
        let mut b1 = Acceptor::new(id("b@h", 2), cookie, [9; 32]);
        b1.receive_hello(body(&hello)).unwrap();
        let ch = b1.challenge(Status::Ok);
        let InitStep::Proof { bytes: proof, .. } = a.receive(body(&ch)).unwrap() else {
            panic!()
        };
        // An eavesdropper replays the proof to a fresh acceptor: its challenge differs.
        let mut b2 = Acceptor::new(id("b@h", 2), cookie, [10; 32]);
        b2.receive_hello(body(&hello)).unwrap();
        let _ = b2.challenge(Status::Ok);
        assert!(matches!(
            b2.receive_proof(body(&proof)),
            Err((HandshakeError::BadCookie { .. }, _))
        ));
    }

    #[test]
    fn wrong_peer_nok_and_garbage_are_errors() {
        let (mut a, hello) =
            Initiator::new(id("a@h", 1), b"c", NodeName::new("x@h").unwrap(), [7; 32]);
        let mut b = Acceptor::new(id("b@h", 2), b"c", [9; 32]);
        b.receive_hello(body(&hello)).unwrap();
        let ch = b.challenge(Status::Ok);
        assert!(matches!(
            a.receive(body(&ch)),
            Err(HandshakeError::WrongPeer { .. })
        ));

        let (mut a, hello) =
            Initiator::new(id("a@h", 1), b"c", NodeName::new("b@h").unwrap(), [7; 32]);
        let mut b = Acceptor::new(id("b@h", 2), b"c", [9; 32]);
        b.receive_hello(body(&hello)).unwrap();
        let nok = b.challenge(Status::Nok);
        assert!(matches!(
            a.receive(body(&nok)),
            Err(HandshakeError::Simultaneous { .. })
        ));

        let mut b = Acceptor::new(id("b@h", 2), b"c", [9; 32]);
        assert!(matches!(
            b.receive_hello(b"\xc1garbage"),
            Err(HandshakeError::Malformed(_))
        ));
        assert!(message_len([0, 0, 0, 0]).is_err());
        assert!(message_len([0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn a_hello_from_something_else_is_not_locus() {
        let bad = Msg::Hello(Hello {
            magic: "erlang".into(),
            min_version: 1,
            max_version: 1,
            name: "a@h".into(),
            creation: 1,
            flags: 0,
            listen_port: 1,
        })
        .encode();
        let mut b = Acceptor::new(id("b@h", 2), b"c", [9; 32]);
        assert_eq!(b.receive_hello(body(&bad)), Err(HandshakeError::NotLocus));
    }

    #[test]
    fn the_same_challenges_give_the_same_bytes() {
        // Deterministic: the state machines draw no randomness of their own.
        let run_once = || {
            let (mut a, hello) =
                Initiator::new(id("a@h", 1), b"c", NodeName::new("b@h").unwrap(), [3; 32]);
            let mut b = Acceptor::new(id("b@h", 2), b"c", [4; 32]);
            b.receive_hello(body(&hello)).unwrap();
            let ch = b.challenge(Status::Ok);
            let InitStep::Proof { bytes, .. } = a.receive(body(&ch)).unwrap() else {
                panic!()
            };
            (hello, ch, bytes)
        };
        assert_eq!(run_once(), run_once());
    }

    #[tokio::test]
    async fn read_message_takes_one_framed_message_and_refuses_oversized_ones() {
        let framed = refuse("no");
        let mut two = framed.clone();
        two.extend_from_slice(&framed);
        let mut rd: &[u8] = &two;
        assert_eq!(read_message(&mut rd).await.unwrap(), body(&framed));
        assert_eq!(rd, &framed[..], "exactly one message consumed");
        let mut huge: &[u8] = &[0, 0, 0x10, 0x01, 0];
        assert!(read_message(&mut huge).await.is_err());
        let mut short: &[u8] = &framed[..framed.len() - 1];
        assert!(read_message(&mut short).await.is_err());
    }

    proptest::proptest! {
        #[test]
        fn honest_handshakes_connect_and_other_cookies_do_not(
            a_cookie in proptest::collection::vec(33u8..127, 1..64),
            b_cookie in proptest::collection::vec(33u8..127, 1..64),
        ) {
            let (a, b) = run(&a_cookie, &a_cookie);
            proptest::prop_assert!(a.is_ok() && b.is_ok());
            if a_cookie != b_cookie {
                let (a, b) = run(&a_cookie, &b_cookie);
                proptest::prop_assert!(a.is_err() && b.is_err());
            }
        }

        #[test]
        fn garbage_never_panics_either_side(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            crate::fuzzing::handshake_accept(&bytes);
            crate::fuzzing::handshake_initiate(&bytes);
        }
    }
}
