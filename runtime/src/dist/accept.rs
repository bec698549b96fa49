//! Accepting: the listener's loop and the accepting side of a connection attempt, with the
//! simultaneous-connect rule.
//!
//! Two nodes that connect to each other at once keep the attempt started by the node with
//! the greater name: the acceptor answers `Nok` when its own name is greater (keeping its
//! attempt) and `OkSimultaneous` otherwise (adopting the incoming one for its entry). Both
//! sides apply the same rule, so exactly one connection results.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dashmap::mapref::entry::Entry;
use tokio::net::{TcpListener, TcpStream};

use super::connection::{Conn, Phase, Wire};
use super::handshake::{self, Acceptor, PeerInfo, Status};
use super::settings::SETUP_TIME;
use super::tls;
use super::transport::Transport;
use super::{ConnectError, Dist};

/// Incoming connections that may be in their handshake at once; more are closed at once.
pub(crate) const MAX_PENDING_HANDSHAKES: usize = 256;

/// Why a hello is refused, whatever the peer proves: sent to it as the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum Refusal {
    /// A partition made on purpose ([`Node::partition_from`](crate::Node::partition_from)).
    #[error("this node is partitioned from yours")]
    Partitioned,
    /// The hello claims this node's own name.
    #[error("a node with this node's own name cannot connect to it")]
    OwnName,
    /// This node is leaving.
    #[error("the node is shutting down")]
    ShuttingDown,
}

/// How an accepted attempt relates to the peer's entry, which decides who fails the entry
/// if the attempt fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The entry was made for this attempt: its failure is the entry's.
    Owned,
    /// The entry belongs to this node's own attempt, which yields to this one.
    Adopted,
    /// The entry is someone else's (an up connection, another attempt).
    Separate,
}

impl Dist {
    pub(super) async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        // Handshakes in progress hold a permit: a flood of connections that never finish
        // their handshake costs a bounded amount, and each is closed after the setup time.
        let pending = Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HANDSHAKES));
        let mut refused: u64 = 0;
        loop {
            let accepted = tokio::select! {
                () = self.cancel.cancelled() => return,
                r = listener.accept() => r,
            };
            match accepted {
                Ok((stream, addr)) => {
                    let Ok(permit) = pending.clone().try_acquire_owned() else {
                        refused += 1;
                        if refused.is_power_of_two() {
                            tracing::warn!(%addr, limit = MAX_PENDING_HANDSHAKES, refused,
                                "too many handshakes in progress: closing new connections until some finish");
                        }
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let this = self.clone();
                    tokio::spawn(async move {
                        this.accept_one(stream, addr).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    /// Wraps an accepted connection in TLS if this node uses it, or refuses one that does
    /// not match this node's choice; each mismatch is logged once per address.
    async fn secure(&self, stream: TcpStream, addr: SocketAddr) -> Option<Transport> {
        let mut first = [0u8; 1];
        let peeked = tokio::time::timeout(SETUP_TIME, stream.peek(&mut first)).await;
        if !matches!(peeked, Ok(Ok(1))) {
            return None;
        }
        let is_tls = tls::looks_like_tls(first[0]);
        let who = addr.to_string();
        // Before the hello the peer is known only by its address (not its port, which
        // changes with every attempt).
        let peer_key = addr.ip().to_string();
        match (&self.config.tls, is_tls) {
            (None, false) => Some(Transport::Tcp(stream)),
            (None, true) => {
                if self.failure_changed(&peer_key, "tls") {
                    tracing::warn!(%addr, "refused a TLS connection: this node does not use TLS (give it tls_cert, tls_key and tls_ca, as the connecting node has)");
                }
                None
            }
            (Some(_), false) => {
                if self.failure_changed(&peer_key, "plain") {
                    tracing::warn!(%addr, "refused a connection without TLS: this node requires TLS");
                }
                let mut plain = Transport::Tcp(stream);
                let reason = format!(
                    "{} requires TLS: configure this node with tls_cert, tls_key and tls_ca",
                    self.me.name
                );
                let _ = plain
                    .write_handshake(&handshake::refuse(&reason), &who)
                    .await;
                None
            }
            (Some(tls), true) => {
                match tokio::time::timeout(SETUP_TIME, tls.acceptor.accept(stream)).await {
                    Ok(Ok(s)) => Some(Transport::Tls(Box::new(tokio_rustls::TlsStream::Server(s)))),
                    Ok(Err(e)) => {
                        if self.failure_changed(&peer_key, &e.to_string()) {
                            tracing::warn!(%addr, error = %e, "TLS handshake failed (is the peer's certificate from this node's CA?)");
                        }
                        None
                    }
                    Err(_) => None,
                }
            }
        }
    }

    /// Which protocol the peer speaks, by its first bytes: Erlang distribution's first
    /// message is a `u16` length and `'N'` (or the old `'n'`), where a locus hello starts
    /// `00 00` and TLS `0x16`. `None` if it closed, or sent too little within the setup time
    /// (a stalled handshake, closed as any other).
    async fn sniff(&self, stream: &TcpStream) -> Option<Sniffed> {
        let deadline = tokio::time::Instant::now() + SETUP_TIME;
        let mut first = [0u8; 3];
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
                Ok(Ok(3)) => break,
                Ok(Ok(0) | Err(_)) | Err(_) => return None,
                // TLS is known by its first byte; its records may come slowly.
                Ok(Ok(_)) if first[0] != 0 => return Some(Sniffed::Other),
                // Part of it: wait for the rest (a peek does not wait for more), less and
                // less often, so a peer that trickles bytes costs few wake-ups.
                Ok(Ok(_)) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_millis(100));
                }
            }
        }
        Some(
            if first[0] == 0 && first[1] != 0 && matches!(first[2], b'N' | b'n') {
                Sniffed::Erlang
            } else {
                Sniffed::Other
            },
        )
    }

    /// The accepting side of a connection attempt.
    async fn accept_one(self: Arc<Self>, stream: TcpStream, addr: SocketAddr) {
        let who = addr.to_string();
        if !self.config.allow.allows_addr(addr.ip()) {
            if self.failure_changed(&addr.ip().to_string(), "not allowed") {
                tracing::warn!(%addr, "refused a connection: the address is not in the allow-list");
            }
            return;
        }
        let Some(sniffed) = self.sniff(&stream).await else {
            tracing::debug!(%addr, "connection closed or timed out before its first message");
            return;
        };
        if sniffed == Sniffed::Erlang {
            if !self.config.erlang {
                if self.failure_changed(&addr.ip().to_string(), "erlang") {
                    tracing::warn!(%addr, "refused a connection from an Erlang/Elixir node: this node does not speak Erlang distribution (start it with erlang_dist to let BEAM nodes in)");
                }
                return;
            }
            if self.config.tls.is_some() {
                if self.failure_changed(&addr.ip().to_string(), "erlang tls") {
                    tracing::warn!(%addr, "refused a connection from an Erlang/Elixir node: this node requires TLS, and Erlang distribution here runs without it");
                }
                return;
            }
            self.accept_erlang(Transport::Tcp(stream), addr).await;
            return;
        }
        let Some(mut stream) = self.secure(stream, addr).await else {
            return;
        };
        let challenge = match super::fresh_challenge() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(%addr, error = %e, "refused an incoming connection");
                return;
            }
        };
        let mut acc = Acceptor::new(self.me.clone(), &self.config.cookie, challenge);
        let Ok(body) = stream.read_handshake(&who).await else {
            tracing::debug!(%addr, "connection closed or timed out before its hello");
            return;
        };
        let hello = match acc.receive_hello(&body) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(%addr, error = %e, "rejected an incoming connection");
                let _ = stream
                    .write_handshake(&handshake::refuse(&e.to_string()), &who)
                    .await;
                return;
            }
        };
        let peer = hello.name.to_string();
        if !self.config.allow.allows_node(&hello.name) {
            if self.failure_changed(&peer, "not allowed") {
                tracing::warn!(%peer, %addr, "refused a connection: the node is not in the allow-list");
            }
            let reason = format!("{} does not allow {peer} to connect", self.me.name);
            let _ = stream
                .write_handshake(&handshake::refuse(&reason), &who)
                .await;
            return;
        }
        let (status, conn, role) = match self.decide(&hello, Wire::Locus) {
            Ok(d) => d,
            Err(refusal) => {
                tracing::warn!(%peer, %addr, reason = %refusal, "refused an incoming connection");
                let reason = refusal.to_string();
                let _ = stream
                    .write_handshake(&handshake::refuse(&reason), &who)
                    .await;
                return;
            }
        };
        let fail = |e: ConnectError| match role {
            Role::Owned => conn.fail(e),
            Role::Adopted => conn.adopted_failed(e),
            Role::Separate => {}
        };
        if let Err(e) = stream.write_handshake(&acc.challenge(status), &peer).await {
            fail(e);
            return;
        }
        if status == Status::Nok {
            return;
        }
        let body = match stream.read_handshake(&peer).await {
            Ok(b) => b,
            Err(e) => {
                fail(e);
                return;
            }
        };
        match acc.receive_proof(&body) {
            Ok((ack, info)) => {
                if let Err(e) = stream.write_handshake(&ack, &peer).await {
                    fail(e);
                    return;
                }
                self.conn_up(conn.clone(), stream, info).await;
            }
            Err((e, refusal)) => {
                if self.failure_changed(hello.name.as_str(), &e.to_string()) {
                    tracing::error!(%peer, %addr, error = %e, "connection attempt from node {peer} rejected");
                } else {
                    tracing::debug!(%peer, %addr, error = %e, "connection attempt rejected again");
                }
                let _ = stream.write_handshake(&refusal, &peer).await;
                fail(ConnectError::Handshake(e));
            }
        }
    }

    /// What to answer a hello, and which entry the connection will fill, in which role.
    pub(super) fn decide(
        &self,
        hello: &PeerInfo,
        wire: Wire,
    ) -> Result<(Status, Arc<Conn>, Role), Refusal> {
        if self.blocked.contains(&hello.name) {
            return Err(Refusal::Partitioned);
        }
        if hello.name == self.me.name {
            return Err(Refusal::OwnName);
        }
        if self.cancel.is_cancelled() {
            return Err(Refusal::ShuttingDown);
        }
        let dist = self.arc().ok_or(Refusal::ShuttingDown)?;
        Ok(match self.peers.entry(hello.name.clone()) {
            Entry::Vacant(v) => {
                let c = Conn::new(&dist, hello.name.clone(), wire);
                v.insert(c.clone());
                (Status::Ok, c, Role::Owned)
            }
            Entry::Occupied(mut o) => {
                let existing = o.get().clone();
                match existing.phase() {
                    // Another incoming attempt claims this name and has not authenticated
                    // yet: this one goes its own way; the first to authenticate wins.
                    Phase::Connecting if !existing.is_outgoing() => (
                        Status::Ok,
                        Conn::new(&dist, hello.name.clone(), wire),
                        Role::Separate,
                    ),
                    Phase::Connecting if self.me.name > hello.name => {
                        (Status::Nok, existing, Role::Separate)
                    }
                    // Our own attempt is to yield (the peer applies the same rule); if
                    // this one fails, the entry fails with its error once ours has yielded.
                    Phase::Connecting => {
                        existing.set_wire(wire);
                        existing.set_adopted();
                        (Status::OkSimultaneous, existing, Role::Adopted)
                    }
                    // Replaced only once this attempt authenticates.
                    Phase::Up => (
                        Status::Alive,
                        Conn::new(&dist, hello.name.clone(), wire),
                        Role::Separate,
                    ),
                    Phase::Failed(_) | Phase::Down(_) => {
                        let c = Conn::new(&dist, hello.name.clone(), wire);
                        o.insert(c.clone());
                        (Status::Ok, c, Role::Owned)
                    }
                }
            }
        })
    }
}

/// What the first bytes of an incoming connection say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sniffed {
    /// Erlang distribution (a BEAM node).
    Erlang,
    /// The locus protocol, or TLS (which carries it).
    Other,
}
