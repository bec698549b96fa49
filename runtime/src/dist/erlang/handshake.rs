//! Erlang distribution's handshake, version 6, as state machines over bytes (no sockets, no
//! clock, no randomness: each side's challenge comes from its caller).
//!
//! Flow, A initiating to B (`erl_dist_protocol.md`):
//! 1. A → B `send_name`: `'N' flags:u64 creation:u32 nlen:u16 name`.
//! 2. B → A `status`: `'s'` + `ok`, `ok_simultaneous`, `nok`, `not_allowed` or `alive`;
//!    after `alive`, A → B `'s'` + `true` (go on: B drops its old connection) or `false`.
//! 3. B → A `challenge`: `'N' flags:u64 challenge:u32 creation:u32 nlen:u16 name`.
//! 4. A → B `challenge_reply`: `'r' challenge:u32 digest:16`, A's proof over B's challenge.
//! 5. B → A `challenge_ack`: `'a' digest:16`, B's proof over A's challenge.
//!
//! A digest is `MD5(cookie ++ decimal(challenge))`, compared in constant time. Messages are
//! framed by a `u16` length; this module owns the framing ([`read_message`], and every
//! message it returns carries its length). Flags are ANDed; a peer without every flag in
//! [`flag::REQUIRED`] is refused with `not_allowed`.

use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::flag;
use crate::dist::handshake::{HandshakeError, PeerInfo, Status};
use crate::process::NodeName;

/// The largest handshake message accepted: a name is at most 255 bytes and the rest is
/// short (OTP's own messages are far smaller).
pub(crate) const MAX_MESSAGE: usize = 1024;

/// Who this node says it is to a BEAM peer.
#[derive(Debug, Clone)]
pub(crate) struct ErlMe {
    pub(crate) name: NodeName,
    pub(crate) creation: u32,
    pub(crate) hidden: bool,
}

impl ErlMe {
    fn flags(&self) -> u64 {
        if self.hidden {
            flag::OFFERED
        } else {
            flag::OFFERED | flag::PUBLISHED
        }
    }
}

/// A BEAM peer once the handshake succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErlPeer {
    pub(crate) info: PeerInfo,
    /// The flags both sides have.
    pub(crate) flags: u64,
}

/// Reads one handshake message from `rd`: its `u16` length, checked against
/// [`MAX_MESSAGE`], then the body (returned without the length).
pub(crate) async fn read_message<R: AsyncRead + Unpin>(rd: &mut R) -> std::io::Result<Vec<u8>> {
    let mut prefix = [0u8; 2];
    rd.read_exact(&mut prefix).await?;
    let len = usize::from(u16::from_be_bytes(prefix));
    if len == 0 || len > MAX_MESSAGE {
        return Err(std::io::Error::other(format!(
            "an Erlang handshake message of {len} bytes (1 to {MAX_MESSAGE})"
        )));
    }
    let mut body = vec![0u8; len];
    rd.read_exact(&mut body).await?;
    Ok(body)
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 2);
    out.extend_from_slice(&(body.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn digest(cookie: &[u8], challenge: u32) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(cookie);
    h.update(challenge.to_string().as_bytes());
    h.finalize().into()
}

/// Constant-time comparison of two digests.
fn same(a: &[u8; 16], b: &[u8]) -> bool {
    b.len() == 16 && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn malformed(what: impl Into<String>) -> HandshakeError {
    HandshakeError::Malformed(what.into())
}

/// Reads fields from a message body.
struct Body<'a>(&'a [u8]);

impl<'a> Body<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], HandshakeError> {
        if self.0.len() < n {
            return Err(malformed(format!("the message ends before its {what}")));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u16(&mut self, what: &str) -> Result<u16, HandshakeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, HandshakeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, HandshakeError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A node name: `alive@host`, ASCII (the bytes become an atom's characters).
    fn name(&mut self) -> Result<NodeName, HandshakeError> {
        let n = usize::from(self.u16("name length")?);
        let bytes = self.take(n, "name")?;
        if n == 0 || n > 255 || !bytes.is_ascii() || bytes.contains(&0) {
            return Err(HandshakeError::BadName(format!(
                "{:?}: a node name is 1 to 255 ASCII characters",
                String::from_utf8_lossy(bytes)
            )));
        }
        let text = std::str::from_utf8(bytes).unwrap_or_default();
        NodeName::new(text).map_err(|e| HandshakeError::BadName(e.to_string()))
    }
}

/// The flags `theirs` lacks of what locus requires, named, or `None`.
fn missing_flags(theirs: u64) -> Option<String> {
    let missing = flag::REQUIRED & !theirs;
    (missing != 0).then(|| format!("{missing:#x}"))
}

/// Checks the peer's flags; the negotiated set if they do.
fn negotiate(me: u64, theirs: u64, peer: &NodeName) -> Result<u64, HandshakeError> {
    match missing_flags(theirs) {
        Some(missing) => Err(HandshakeError::Flags {
            peer: peer.to_string(),
            missing,
        }),
        None => Ok(me & theirs),
    }
}

fn send_name(me: &ErlMe) -> Vec<u8> {
    let mut b = vec![b'N'];
    b.extend_from_slice(&me.flags().to_be_bytes());
    b.extend_from_slice(&me.creation.to_be_bytes());
    let name = me.name.as_str().as_bytes();
    b.extend_from_slice(&(name.len() as u16).to_be_bytes());
    b.extend_from_slice(name);
    framed(&b)
}

/// The status message for `status`, or for a refusal (`not_allowed`).
pub(crate) fn status_message(status: Option<Status>) -> Vec<u8> {
    let text: &[u8] = match status {
        Some(Status::Ok) => b"ok",
        Some(Status::OkSimultaneous) => b"ok_simultaneous",
        Some(Status::Nok) => b"nok",
        Some(Status::Alive) => b"alive",
        None => b"not_allowed",
    };
    let mut b = vec![b's'];
    b.extend_from_slice(text);
    framed(&b)
}

/// The accepting side.
pub(crate) struct ErlAcceptor {
    me: ErlMe,
    cookie: Vec<u8>,
    challenge: u32,
    /// The peer, once its name message came.
    peer: Option<(NodeName, u64, u32)>,
}

impl std::fmt::Debug for ErlAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErlAcceptor")
            .field("me", &self.me.name)
            .finish_non_exhaustive()
    }
}

impl ErlAcceptor {
    /// Waits for a `send_name`; will challenge the peer with `challenge` (fresh randomness
    /// from the caller).
    pub(crate) fn new(me: ErlMe, cookie: &[u8], challenge: u32) -> Self {
        Self {
            me,
            cookie: cookie.to_vec(),
            challenge,
            peer: None,
        }
    }

    /// Handles the peer's `send_name`: who it says it is. Answer with [`status_message`]
    /// next (a refusal for an error).
    pub(crate) fn receive_name(&mut self, body: &[u8]) -> Result<PeerInfo, HandshakeError> {
        let mut b = Body(body);
        match b.take(1, "tag")?[0] {
            b'N' => {}
            b'n' => {
                return Err(malformed(
                    "an old 'n' name message (OTP 23/24 without the port mapper): use OTP 25 or later",
                ));
            }
            other => {
                return Err(malformed(format!(
                    "expected a name message 'N', got {other:#x}"
                )));
            }
        }
        let flags = b.u64("flags")?;
        let creation = b.u32("creation")?;
        let name = b.name()?;
        // Trailing bytes are allowed (later OTP versions may add fields).
        if flags & (1 << 33) != 0 {
            return Err(malformed(
                "the peer asks to be named (NAME_ME): give it a name",
            ));
        }
        negotiate(self.me.flags(), flags, &name)?;
        self.peer = Some((name.clone(), flags, creation));
        Ok(PeerInfo {
            name,
            creation,
            hidden: flags & flag::PUBLISHED == 0,
            listen_port: 0,
        })
    }

    /// This node's challenge message (after a status that lets the peer go on).
    pub(crate) fn challenge(&self) -> Vec<u8> {
        let mut b = vec![b'N'];
        b.extend_from_slice(&self.me.flags().to_be_bytes());
        b.extend_from_slice(&self.challenge.to_be_bytes());
        b.extend_from_slice(&self.me.creation.to_be_bytes());
        let name = self.me.name.as_str().as_bytes();
        b.extend_from_slice(&(name.len() as u16).to_be_bytes());
        b.extend_from_slice(name);
        framed(&b)
    }

    /// The peer's answer to `alive`: whether it goes on.
    pub(crate) fn receive_alive_answer(&self, body: &[u8]) -> Result<bool, HandshakeError> {
        match body {
            b"strue" => Ok(true),
            b"sfalse" => Ok(false),
            _ => Err(malformed("expected 'strue' or 'sfalse' after alive")),
        }
    }

    /// Checks the peer's `challenge_reply`. On success, the `challenge_ack` to send and the
    /// peer.
    pub(crate) fn receive_reply(&self, body: &[u8]) -> Result<(Vec<u8>, ErlPeer), HandshakeError> {
        let Some((name, flags, creation)) = &self.peer else {
            return Err(HandshakeError::Unexpected {
                expected: "send_name",
                got: "challenge_reply",
            });
        };
        let mut b = Body(body);
        if b.take(1, "tag")?[0] != b'r' {
            return Err(malformed("expected a challenge reply 'r'"));
        }
        let theirs = b.u32("challenge")?;
        let proof = b.take(16, "digest")?;
        if !same(&digest(&self.cookie, self.challenge), proof) {
            return Err(HandshakeError::BadCookie {
                peer: name.to_string(),
            });
        }
        let mut ack = vec![b'a'];
        ack.extend_from_slice(&digest(&self.cookie, theirs));
        Ok((
            framed(&ack),
            ErlPeer {
                info: PeerInfo {
                    name: name.clone(),
                    creation: *creation,
                    hidden: flags & flag::PUBLISHED == 0,
                    listen_port: 0,
                },
                flags: self.me.flags() & flags,
            },
        ))
    }
}

/// The initiating side.
pub(crate) struct ErlInitiator {
    me: ErlMe,
    cookie: Vec<u8>,
    expected: NodeName,
    challenge: u32,
    /// The peer's challenge message, once it came.
    peer: Option<(u64, u32)>,
}

impl std::fmt::Debug for ErlInitiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErlInitiator")
            .field("me", &self.me.name)
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

/// What the acceptor's status means for the initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Go {
    /// Wait for the challenge.
    On,
    /// The acceptor has a connection to this node: answer with [`ErlInitiator::alive_answer`]
    /// (`true` if this node's side of it is gone), then wait for the challenge if true.
    Alive,
}

impl ErlInitiator {
    /// Starts a handshake with `expected`, proving the cookie over the peer's challenge and
    /// challenging it with `challenge` (fresh randomness from the caller); returns the
    /// `send_name` to send.
    pub(crate) fn new(
        me: ErlMe,
        cookie: &[u8],
        expected: NodeName,
        challenge: u32,
    ) -> (Self, Vec<u8>) {
        let hello = send_name(&me);
        (
            Self {
                me,
                cookie: cookie.to_vec(),
                expected,
                challenge,
                peer: None,
            },
            hello,
        )
    }

    /// Handles the acceptor's status.
    pub(crate) fn receive_status(&self, body: &[u8]) -> Result<Go, HandshakeError> {
        let peer = self.expected.to_string();
        match body {
            b"sok" | b"sok_simultaneous" => Ok(Go::On),
            b"salive" => Ok(Go::Alive),
            b"snok" => Err(HandshakeError::Simultaneous { peer }),
            b"snot_allowed" => Err(HandshakeError::Refused {
                peer,
                reason: "not_allowed (a cookie, name or flags it does not accept)".into(),
            }),
            _ if body.starts_with(b"snamed:") => Err(malformed(
                "a name given by the peer (NAME_ME), which this node did not ask for",
            )),
            _ => Err(malformed("expected a status message 's'")),
        }
    }

    /// The answer to `alive`: whether this node goes on.
    pub(crate) fn alive_answer(go_on: bool) -> Vec<u8> {
        framed(if go_on { b"strue" } else { b"sfalse" })
    }

    /// Handles the acceptor's challenge; returns the `challenge_reply` to send.
    pub(crate) fn receive_challenge(&mut self, body: &[u8]) -> Result<Vec<u8>, HandshakeError> {
        let mut b = Body(body);
        if b.take(1, "tag")?[0] != b'N' {
            return Err(malformed("expected a challenge 'N'"));
        }
        let flags = b.u64("flags")?;
        let theirs = b.u32("challenge")?;
        let creation = b.u32("creation")?;
        let name = b.name()?;
        if name != self.expected {
            return Err(HandshakeError::WrongPeer {
                expected: self.expected.to_string(),
                got: name.to_string(),
            });
        }
        negotiate(self.me.flags(), flags, &name)?;
        self.peer = Some((flags, creation));
        let mut reply = vec![b'r'];
        reply.extend_from_slice(&self.challenge.to_be_bytes());
        reply.extend_from_slice(&digest(&self.cookie, theirs));
        Ok(framed(&reply))
    }

    /// Checks the acceptor's `challenge_ack`: connected.
    pub(crate) fn receive_ack(&self, body: &[u8]) -> Result<ErlPeer, HandshakeError> {
        let Some((flags, creation)) = self.peer else {
            return Err(HandshakeError::Unexpected {
                expected: "challenge",
                got: "challenge_ack",
            });
        };
        let mut b = Body(body);
        if b.take(1, "tag")?[0] != b'a' {
            return Err(malformed("expected a challenge ack 'a'"));
        }
        let proof = b.take(16, "digest")?;
        if !same(&digest(&self.cookie, self.challenge), proof) {
            return Err(HandshakeError::BadCookie {
                peer: self.expected.to_string(),
            });
        }
        Ok(ErlPeer {
            info: PeerInfo {
                name: self.expected.clone(),
                creation,
                hidden: flags & flag::PUBLISHED == 0,
                listen_port: 0,
            },
            flags: self.me.flags() & flags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(name: &str) -> ErlMe {
        ErlMe {
            name: NodeName::new(name).unwrap(),
            creation: 7,
            hidden: false,
        }
    }

    fn body(framed: &[u8]) -> &[u8] {
        &framed[2..]
    }

    #[test]
    fn the_digest_is_md5_of_cookie_and_decimal_challenge() {
        // MD5("c42"), as erlang:md5("c42") computes it.
        assert_eq!(
            digest(b"c", 42),
            [
                0xe8, 0x53, 0x6d, 0xef, 0x9d, 0xd3, 0xf9, 0xce, 0xc9, 0x7d, 0x1b, 0x07, 0x28, 0x5a,
                0xb8, 0xf9
            ]
        );
    }

    /// A whole handshake in memory; what each side concluded.
    fn run(
        a_cookie: &[u8],
        b_cookie: &[u8],
    ) -> (
        Result<ErlPeer, HandshakeError>,
        Result<ErlPeer, HandshakeError>,
    ) {
        let (mut a, hello) =
            ErlInitiator::new(me("a@h"), a_cookie, NodeName::new("b@h").unwrap(), 11);
        let mut b = ErlAcceptor::new(me("b@h"), b_cookie, 22);
        let seen = b.receive_name(body(&hello)).unwrap();
        assert_eq!(
            (seen.name.as_str(), seen.creation, seen.hidden),
            ("a@h", 7, false)
        );
        assert_eq!(
            a.receive_status(body(&status_message(Some(Status::Ok)))),
            Ok(Go::On)
        );
        let reply = a.receive_challenge(body(&b.challenge())).unwrap();
        match b.receive_reply(body(&reply)) {
            Ok((ack, b_view)) => (a.receive_ack(body(&ack)), Ok(b_view)),
            Err(e) => (Err(HandshakeError::Malformed("refused".into())), Err(e)),
        }
    }

    #[test]
    fn same_cookie_connects_and_flags_are_anded() {
        let (a, b) = run(b"secret", b"secret");
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.info.name.as_str(), "b@h");
        assert_eq!(b.info.name.as_str(), "a@h");
        assert_eq!(a.flags, b.flags);
        assert_eq!(a.flags & flag::REQUIRED, flag::REQUIRED);
    }

    #[test]
    fn another_cookie_fails_at_the_acceptor() {
        let (_, b) = run(b"secret", b"other");
        assert_eq!(
            b.unwrap_err(),
            HandshakeError::BadCookie { peer: "a@h".into() }
        );
    }

    #[test]
    fn hostile_name_messages_are_refused() {
        let mut b = ErlAcceptor::new(me("b@h"), b"c", 1);
        let name_msg = |flags: u64, name: &[u8]| {
            let mut m = vec![b'N'];
            m.extend_from_slice(&flags.to_be_bytes());
            m.extend_from_slice(&7u32.to_be_bytes());
            m.extend_from_slice(&(name.len() as u16).to_be_bytes());
            m.extend_from_slice(name);
            m
        };
        let all = flag::OFFERED | flag::PUBLISHED;
        for (what, msg) in [
            (
                "the old 'n' format",
                b"n\x00\x05\x00\x00\x00\x00a@h".to_vec(),
            ),
            (
                "missing mandatory flags",
                name_msg(flag::MANDATORY_25, b"a@h"),
            ),
            ("NAME_ME", name_msg(all | (1 << 33), b"a@h")),
            ("no @", name_msg(all, b"noat")),
            ("an empty host", name_msg(all, b"a@")),
            ("an empty alive part", name_msg(all, b"@h")),
            ("256 characters", name_msg(all, &[b'a'; 256])),
            ("non-ASCII", name_msg(all, "é@h".as_bytes())),
            ("a NUL", name_msg(all, b"a\0@h")),
            ("a name longer than the message", {
                let mut m = name_msg(all, b"a@h");
                m.truncate(m.len() - 1);
                m
            }),
            ("nothing", vec![]),
        ] {
            assert!(b.receive_name(&msg).is_err(), "{what} was accepted");
        }
        assert!(matches!(
            b.receive_name(&name_msg(flag::MANDATORY_25, b"a@h")),
            Err(HandshakeError::Flags { .. })
        ));
    }

    #[test]
    fn the_initiator_checks_name_status_and_ack() {
        let (mut a, _) = ErlInitiator::new(me("a@h"), b"c", NodeName::new("b@h").unwrap(), 11);
        assert!(matches!(
            a.receive_status(b"snok"),
            Err(HandshakeError::Simultaneous { .. })
        ));
        assert!(matches!(
            a.receive_status(b"snot_allowed"),
            Err(HandshakeError::Refused { .. })
        ));
        assert_eq!(a.receive_status(b"salive"), Ok(Go::Alive));
        // A challenge from another node than the one dialled.
        let other = ErlAcceptor::new(me("x@h"), b"c", 5);
        assert!(matches!(
            a.receive_challenge(body(&other.challenge())),
            Err(HandshakeError::WrongPeer { .. })
        ));
        // An ack before any challenge, and a forged ack.
        assert!(a.receive_ack(b"a0123456789abcdef").is_err());
        let b = ErlAcceptor::new(me("b@h"), b"c", 5);
        a.receive_challenge(body(&b.challenge())).unwrap();
        let mut forged = vec![b'a'];
        forged.extend_from_slice(&[0; 16]);
        assert!(matches!(
            a.receive_ack(&forged),
            Err(HandshakeError::BadCookie { .. })
        ));
    }

    #[tokio::test]
    async fn messages_are_u16_framed_and_bounded() {
        let msg = status_message(Some(Status::Ok));
        let mut rd: &[u8] = &msg;
        assert_eq!(read_message(&mut rd).await.unwrap(), b"sok");
        let mut big: &[u8] = &[0x04, 0x01, 0];
        assert!(read_message(&mut big).await.is_err());
        let mut empty: &[u8] = &[0, 0];
        assert!(read_message(&mut empty).await.is_err());
    }
}
