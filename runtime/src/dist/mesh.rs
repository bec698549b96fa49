//! The connection table: starting a node's distribution, connecting and accepting, the
//! simultaneous-connect rule, replacing connections of restarted peers, and connect-all.
//!
//! Each peer has at most one entry. An entry is created by the first message to an
//! unconnected node (or by an incoming hello) and goes `Connecting` → `Up` → `Down`.
//! Messages sent while it connects wait in its buffer.
//!
//! Two nodes that connect to each other at once keep the attempt started by the node with
//! the greater name: the acceptor answers `Nok` when its own name is greater (keeping its
//! attempt) and `OkSimultaneous` otherwise (adopting the incoming one for its entry). Both
//! sides apply the same rule, so exactly one connection results.
//!
//! An incoming connection from a node that already has an `Up` entry (it restarted, or lost
//! its side) replaces the entry only after it has authenticated: a stranger cannot tear
//! connections down by claiming a name.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use dashmap::mapref::entry::Entry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::config::SETUP_TIME;
use super::connection::{Conn, PeerState, Phase};
use super::epmd::{self, EpmdError, client, proto::Registration, server};
use super::frame;
use super::handshake::{
    self, Acceptor, HandshakeError, Identity, InitStep, Initiator, PeerInfo, Status,
};
use super::tls;
use super::transport::Transport;
use super::{ConnectError, Dist, DistConfig, ListenError, Ports};
use crate::node::{Node, NodeDownReason, NodeName};

/// Starts distribution: listens, registers with the port mapper (serving one if none runs),
/// and returns the node.
pub(crate) async fn start(
    name: NodeName,
    config: DistConfig,
    runtime: tokio::runtime::Handle,
) -> Result<Node, ListenError> {
    let listener = bind(config.listen, config.ports).await?;
    let listen_port = listener
        .local_addr()
        .map_err(|e| ListenError::Bind(format!("cannot read the listen address: {e}")))?
        .port();
    let cancel = CancellationToken::new();
    let (creation, registration) = match config.ports {
        Ports::Fixed(_) => (random_creation(), None),
        _ => {
            let reg = Registration::new(name.alive(), listen_port, config.hidden);
            let (creation, stream) = register_or_serve(config.epmd_port, &reg, &cancel)
                .await
                .map_err(ListenError::Epmd)?;
            (creation, Some((reg, stream)))
        }
    };
    let node = Node::from_parts(name.clone(), creation, runtime, config.max_mailbox);
    let me = Identity {
        name,
        creation,
        hidden: config.hidden,
        listen_port,
    };
    let epmd_port = config.epmd_port;
    let dist = Arc::new_cyclic(|this| Dist {
        this: this.clone(),
        node: node.downgrade(),
        me,
        config,
        peers: dashmap::DashMap::with_hasher(rustc_hash::FxBuildHasher),
        node_monitors: parking_lot::Mutex::new(Vec::new()),
        events: parking_lot::Mutex::new(Vec::new()),
        cancel: cancel.clone(),
        blocked: dashmap::DashSet::new(),
        any_blocked: std::sync::atomic::AtomicBool::new(false),
        failures: dashmap::DashMap::new(),
        history: parking_lot::Mutex::new(std::collections::VecDeque::new()),
    });
    node.set_extension(dist.clone());
    node.set_router(dist.clone());
    tokio::spawn(dist.clone().accept_loop(listener));
    if let Some((reg, stream)) = registration {
        tokio::spawn(keep_registered(epmd_port, reg, stream, cancel));
    }
    tracing::info!(node = %node.name(), port = listen_port, creation, "distribution started");
    Ok(node)
}

fn random_creation() -> u32 {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    u32::from_be_bytes(b) | 1
}

/// Binds the distribution listener as configured.
async fn bind(ip: IpAddr, ports: Ports) -> Result<TcpListener, ListenError> {
    let try_port = |port: u16| async move { TcpListener::bind(SocketAddr::new(ip, port)).await };
    match ports {
        Ports::Any => try_port(0)
            .await
            .map_err(|e| ListenError::Bind(format!("cannot listen on {ip}: {e}"))),
        Ports::Fixed(p) => try_port(p)
            .await
            .map_err(|e| ListenError::Bind(format!("cannot listen on {ip}:{p}: {e}"))),
        Ports::Range(lo, hi) => {
            for p in lo..=hi {
                if let Ok(l) = try_port(p).await {
                    return Ok(l);
                }
            }
            Err(ListenError::Bind(format!(
                "no free port in {lo}-{hi} on {ip}: every port of the range is in use; widen the range or stop other nodes"
            )))
        }
    }
}

/// A random pause of 10 to 60 ms, so nodes racing for the port mapper do not collide again.
async fn jitter() {
    let mut b = [0u8; 1];
    let _ = getrandom::fill(&mut b);
    tokio::time::sleep(Duration::from_millis(10 + u64::from(b[0]) % 50)).await;
}

/// Registers with the local port mapper; if none answers, serves one and registers with it.
async fn register_or_serve(
    epmd_port: u16,
    reg: &Registration,
    cancel: &CancellationToken,
) -> Result<(u32, TcpStream), EpmdError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], epmd_port));
    let mut last = EpmdError::Unreachable(addr);
    let mut taken = 0;
    for _ in 0..80 {
        match client::register(addr, reg).await {
            Ok(r) => return Ok(r),
            Err(EpmdError::Unreachable(_)) => match server::bind(epmd_port).await {
                Ok(listener) => {
                    tracing::info!(port = epmd_port, "no port mapper answered: serving one");
                    let srv = server::EpmdServer::new(epmd_port);
                    tokio::spawn(srv.serve(listener, cancel.clone()));
                }
                // Another node took the port first: register with it.
                Err(_) => jitter().await,
            },
            // A node that just stopped may still hold the name for a moment: retry briefly
            // before reporting it taken.
            Err(e @ EpmdError::NameTaken(_)) => {
                taken += 1;
                if taken > 20 {
                    return Err(e);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => {
                last = e;
                jitter().await;
            }
        }
    }
    Err(last)
}

/// Holds the port mapper registration; when the port mapper goes away (its node died),
/// registers again, taking the port over if nobody else does.
async fn keep_registered(
    epmd_port: u16,
    reg: Registration,
    mut stream: TcpStream,
    cancel: CancellationToken,
) {
    loop {
        let mut sink = [0u8; 16];
        let read = tokio::select! {
            () = cancel.cancelled() => return,
            r = stream.read(&mut sink) => r,
        };
        if matches!(read, Ok(n) if n > 0) {
            continue;
        }
        tracing::info!(name = %reg.name, "lost the port mapper; registering again");
        stream = loop {
            if cancel.is_cancelled() {
                return;
            }
            match register_or_serve(epmd_port, &reg, &cancel).await {
                Ok((_, s)) => break s,
                Err(e) => {
                    tracing::warn!(name = %reg.name, error = %e, "cannot register with the port mapper; retrying");
                    jitter().await;
                }
            }
        };
        tracing::info!(name = %reg.name, "registered with the port mapper again");
    }
}

/// Reads one handshake message body within the setup time.
async fn read_msg(stream: &mut Transport, peer: &str) -> Result<Vec<u8>, ConnectError> {
    let work = async {
        let mut prefix = [0u8; 4];
        stream.read_exact(&mut prefix).await?;
        let len = handshake::message_len(prefix).map_err(std::io::Error::other)?;
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).await?;
        Ok::<_, std::io::Error>(body)
    };
    match tokio::time::timeout(SETUP_TIME, work).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => Err(ConnectError::Io {
            node: peer.to_owned(),
            addr: stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            error: e.to_string(),
        }),
        Err(_) => Err(ConnectError::Timeout(peer.to_owned())),
    }
}

async fn write_msg(stream: &mut Transport, bytes: &[u8], peer: &str) -> Result<(), ConnectError> {
    let write = async {
        stream.write_all(bytes).await?;
        // TLS holds records until flushed.
        stream.flush().await
    };
    match tokio::time::timeout(SETUP_TIME, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ConnectError::Io {
            node: peer.to_owned(),
            addr: stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            error: e.to_string(),
        }),
        Err(_) => Err(ConnectError::Timeout(peer.to_owned())),
    }
}

/// Incoming connections that may be in their handshake at once; more are closed at once.
pub(crate) const MAX_PENDING_HANDSHAKES: usize = 256;

/// How an accepted attempt relates to the peer's entry, which decides who fails the entry
/// if the attempt fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The entry was made for this attempt: its failure is the entry's.
    Owned,
    /// The entry belongs to this node's own attempt, which yields to this one.
    Adopted,
    /// The entry is someone else's (an up connection, another attempt).
    Separate,
}

impl Dist {
    /// Notes a handshake failure with `peer`; true if it differs from the last one (log it).
    fn failure_changed(&self, peer: &str, error: &str) -> bool {
        // Bounded: strangers cannot grow the table without bound.
        if self.failures.len() >= 4096 && !self.failures.contains_key(peer) {
            return false;
        }
        self.failures
            .insert(peer.to_owned(), error.to_owned())
            .is_none_or(|last| last != error)
    }

    pub(crate) fn arc(&self) -> Option<Arc<Dist>> {
        self.this.upgrade()
    }

    pub(crate) async fn connect(&self, peer: &NodeName) -> Result<(), ConnectError> {
        let mut conn = self
            .conn_for(peer, None)
            .ok_or(ConnectError::ShuttingDown)?;
        // The entry of a connection that just went down is not an answer to a new connect:
        // once it is torn down (its NodeDown delivered), try afresh.
        if matches!(conn.phase(), Phase::Down(_)) {
            conn.torn_down().await;
            self.forget(&conn);
            conn = self
                .conn_for(peer, None)
                .ok_or(ConnectError::ShuttingDown)?;
        }
        let mut phase = conn.subscribe();
        loop {
            match phase.borrow_and_update().clone() {
                Phase::Up => return Ok(()),
                Phase::Failed(e) => return Err((*e).clone()),
                Phase::Down(r) => return Err(ConnectError::Closed(r)),
                Phase::Connecting => {}
            }
            if phase.changed().await.is_err() {
                return Err(ConnectError::ShuttingDown);
            }
        }
    }

    pub(crate) fn disconnect(&self, peer: &NodeName) -> bool {
        match self.existing(peer) {
            // Listed but not yet up: `NodeUp` is going out. Closing fails the attempt, and
            // the task bringing it up then delivers `NodeDown(Disconnect)` (what
            // `Node::nodes` showed is what can be cut).
            Some(c) if c.is_up() || c.is_listed() => {
                c.close(NodeDownReason::Disconnect);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn nodes(&self, hidden: bool) -> Vec<NodeName> {
        let mut out: Vec<NodeName> = self
            .peers
            .iter()
            .filter(|e| {
                let c = e.value();
                c.is_listed() && c.is_visible(self.me.hidden) != hidden
            })
            .map(|e| e.key().clone())
            .collect();
        out.sort();
        out
    }

    /// Removes a connection from the table if it is still the current one.
    pub(crate) fn forget(&self, conn: &Arc<Conn>) {
        self.peers
            .remove_if(&conn.peer, |_, c| Arc::ptr_eq(c, conn));
    }

    /// Connects to nodes a peer told us about (connect-all).
    pub(crate) fn mesh_with(&self, peers: Vec<(NodeName, u16)>) {
        if self.me.hidden {
            return;
        }
        for (name, port) in peers {
            if name != self.me.name && !self.peers.contains_key(&name) {
                tracing::debug!(peer = %name, "meshing");
                let _ = self.conn_for(&name, Some(port));
            }
        }
    }

    /// The initiating side of a connection attempt.
    pub(crate) async fn initiate(self: Arc<Self>, conn: Arc<Conn>, port_hint: Option<u16>) {
        let peer = conn.peer.clone();
        let total = SETUP_TIME * 3;
        let result = match tokio::time::timeout(total, self.handshake_out(&conn, port_hint)).await {
            Ok(r) => r,
            Err(_) => Err(ConnectError::Timeout(peer.to_string())),
        };
        match result {
            Ok((stream, info)) => self.conn_up(conn, stream, info).await,
            // The peer's own attempt is to bring this entry up: this one yields. If that
            // attempt already failed, the entry fails with its error now; otherwise it gets
            // the setup time.
            Err(e)
                if conn.is_adopted()
                    || matches!(
                        e,
                        ConnectError::Handshake(HandshakeError::Simultaneous { .. })
                    ) =>
            {
                tracing::debug!(%peer, error = %e, "yielding to the peer's connection attempt");
                if !conn.stand_down() {
                    tokio::spawn(async move {
                        tokio::time::sleep(SETUP_TIME).await;
                        conn.fail(ConnectError::Timeout(conn.peer.to_string()));
                    });
                }
            }
            Err(e) => {
                match &e {
                    ConnectError::Handshake(h) => {
                        if self.failure_changed(peer.as_str(), &h.to_string()) {
                            tracing::warn!(%peer, error = %h, "connection to node failed");
                        } else {
                            tracing::debug!(%peer, error = %h, "connection to node failed again");
                        }
                    }
                    other => tracing::debug!(%peer, error = %other, "connection to node failed"),
                }
                conn.fail(e);
            }
        }
    }

    async fn handshake_out(
        &self,
        conn: &Conn,
        port_hint: Option<u16>,
    ) -> Result<(Transport, PeerInfo), ConnectError> {
        let peer = &conn.peer;
        if !self.config.allow.allows_node(peer) {
            return Err(ConnectError::NotAllowed(peer.to_string()));
        }
        let host = peer.host();
        let port = match (port_hint, self.config.ports) {
            (Some(p), _) => p,
            (None, Ports::Fixed(p)) => p,
            (None, _) => self.lookup_port(peer).await?,
        };
        let addrs = epmd::resolve(host, port)
            .await
            .map_err(|error| ConnectError::Epmd {
                node: peer.to_string(),
                error,
            })?;
        let mut last = None;
        let mut stream = None;
        for addr in addrs {
            if !self.config.allow.allows_addr(addr.ip()) {
                last = Some((
                    addr,
                    "the address is not in this node's allow-list".to_owned(),
                ));
                continue;
            }
            match tokio::time::timeout(SETUP_TIME, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    stream = Some(s);
                    break;
                }
                Ok(Err(e)) => last = Some((addr, e.to_string())),
                Err(_) => last = Some((addr, "timed out".to_owned())),
            }
        }
        let Some(stream) = stream else {
            let (addr, error) = last
                .unwrap_or_else(|| (SocketAddr::from(([0, 0, 0, 0], port)), "no address".into()));
            return Err(ConnectError::Io {
                node: peer.to_string(),
                addr: addr.to_string(),
                error,
            });
        };
        let _ = stream.set_nodelay(true);
        let mut stream = match &self.config.tls {
            None => Transport::Tcp(stream),
            Some(tls) => {
                let tls_err = |error: String| ConnectError::Tls {
                    node: peer.to_string(),
                    error,
                };
                let name = tls::server_name(host).map_err(tls_err)?;
                match tokio::time::timeout(SETUP_TIME, tls.connector.connect(name, stream)).await {
                    Ok(Ok(s)) => Transport::Tls(Box::new(tokio_rustls::TlsStream::Client(s))),
                    Ok(Err(e)) => {
                        return Err(tls_err(format!(
                            "{e} (does {peer} use TLS, with a certificate from the same CA naming {host}?)"
                        )));
                    }
                    Err(_) => return Err(ConnectError::Timeout(peer.to_string())),
                }
            }
        };
        let name = peer.as_str();
        let (mut init, hello) = Initiator::new(self.me.clone(), &self.config.cookie, peer.clone());
        write_msg(&mut stream, &hello, name).await?;
        loop {
            let body = read_msg(&mut stream, name).await?;
            match init.receive(&body)? {
                InitStep::Proof {
                    bytes,
                    peer_says_connected,
                } => {
                    // The peer is connected to us through another attempt of ours (which
                    // adopted this entry): this one stands down.
                    if peer_says_connected
                        && (conn.is_adopted() || conn.phase() != Phase::Connecting)
                    {
                        return Err(ConnectError::Handshake(HandshakeError::Simultaneous {
                            peer: peer.to_string(),
                        }));
                    }
                    write_msg(&mut stream, &bytes, name).await?;
                }
                InitStep::Done(info) => return Ok((stream, info)),
            }
        }
    }

    async fn lookup_port(&self, peer: &NodeName) -> Result<u16, ConnectError> {
        let err = |error| ConnectError::Epmd {
            node: peer.to_string(),
            error,
        };
        let addrs = epmd::resolve(peer.host(), self.config.epmd_port)
            .await
            .map_err(err)?;
        let mut last = None;
        for addr in addrs {
            match client::port_please(addr, peer.alive()).await {
                Ok(Some(reg)) => return Ok(reg.port),
                Ok(None) => return Err(ConnectError::NotRegistered(peer.to_string())),
                Err(e) => last = Some(e),
            }
        }
        Err(err(last.unwrap_or_else(|| {
            EpmdError::Resolve(peer.host().to_owned(), "no address".into())
        })))
    }

    async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
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
                let _ = write_msg(&mut plain, &handshake::refuse(&reason), &who).await;
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

    /// The accepting side of a connection attempt.
    async fn accept_one(self: Arc<Self>, stream: TcpStream, addr: SocketAddr) {
        let who = addr.to_string();
        if !self.config.allow.allows_addr(addr.ip()) {
            if self.failure_changed(&addr.ip().to_string(), "not allowed") {
                tracing::warn!(%addr, "refused a connection: the address is not in the allow-list");
            }
            return;
        }
        let Some(mut stream) = self.secure(stream, addr).await else {
            return;
        };
        let mut acc = Acceptor::new(self.me.clone(), &self.config.cookie);
        let Ok(body) = read_msg(&mut stream, &who).await else {
            tracing::debug!(%addr, "connection closed or timed out before its hello");
            return;
        };
        let hello = match acc.receive_hello(&body) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(%addr, error = %e, "rejected an incoming connection");
                let _ = write_msg(&mut stream, &handshake::refuse(&e.to_string()), &who).await;
                return;
            }
        };
        let peer = hello.name.to_string();
        if !self.config.allow.allows_node(&hello.name) {
            if self.failure_changed(&peer, "not allowed") {
                tracing::warn!(%peer, %addr, "refused a connection: the node is not in the allow-list");
            }
            let reason = format!("{} does not allow {peer} to connect", self.me.name);
            let _ = write_msg(&mut stream, &handshake::refuse(&reason), &who).await;
            return;
        }
        let (status, conn, role) = match self.decide(&hello) {
            Ok(d) => d,
            Err(reason) => {
                tracing::warn!(%peer, %addr, %reason, "refused an incoming connection");
                let _ = write_msg(&mut stream, &handshake::refuse(&reason), &who).await;
                return;
            }
        };
        let fail = |e: ConnectError| match role {
            Role::Owned => conn.fail(e),
            Role::Adopted => conn.adopted_failed(e),
            Role::Separate => {}
        };
        if let Err(e) = write_msg(&mut stream, &acc.challenge(status), &peer).await {
            fail(e);
            return;
        }
        if status == Status::Nok {
            return;
        }
        let body = match read_msg(&mut stream, &peer).await {
            Ok(b) => b,
            Err(e) => {
                fail(e);
                return;
            }
        };
        match acc.receive_proof(&body) {
            Ok((ack, info)) => {
                if let Err(e) = write_msg(&mut stream, &ack, &peer).await {
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
                let _ = write_msg(&mut stream, &refusal, &peer).await;
                fail(ConnectError::Handshake(e));
            }
        }
    }

    /// What to answer a hello, and which entry the connection will fill, in which role.
    fn decide(&self, hello: &PeerInfo) -> Result<(Status, Arc<Conn>, Role), String> {
        if self.blocked.contains(&hello.name) {
            return Err("this node is partitioned from yours".into());
        }
        if hello.name == self.me.name {
            return Err("a node with this node's own name cannot connect to it".into());
        }
        if self.cancel.is_cancelled() {
            return Err("the node is shutting down".into());
        }
        let dist = self.arc().ok_or("the node is shutting down")?;
        Ok(match self.peers.entry(hello.name.clone()) {
            Entry::Vacant(v) => {
                let c = Conn::new(&dist, hello.name.clone());
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
                        Conn::new(&dist, hello.name.clone()),
                        Role::Separate,
                    ),
                    Phase::Connecting if self.me.name > hello.name => {
                        (Status::Nok, existing, Role::Separate)
                    }
                    // Our own attempt is to yield (the peer applies the same rule); if
                    // this one fails, the entry fails with its error once ours has yielded.
                    Phase::Connecting => {
                        existing.set_adopted();
                        (Status::OkSimultaneous, existing, Role::Adopted)
                    }
                    // Replaced only once this attempt authenticates.
                    Phase::Up => (
                        Status::Alive,
                        Conn::new(&dist, hello.name.clone()),
                        Role::Separate,
                    ),
                    Phase::Failed(_) | Phase::Down(_) => {
                        let c = Conn::new(&dist, hello.name.clone());
                        o.insert(c.clone());
                        (Status::Ok, c, Role::Owned)
                    }
                }
            }
        })
    }

    /// An authenticated connection: into the table (replacing an older one), node monitors
    /// told, then reading and writing start.
    async fn conn_up(self: &Arc<Self>, conn: Arc<Conn>, stream: Transport, peer: PeerInfo) {
        if conn.phase() != Phase::Connecting {
            // Another attempt for the same entry won.
            return;
        }
        let Some(node) = self.node() else { return };
        // A later failure with this peer is news again.
        self.failures.remove(peer.name.as_str());
        let old = match self.peers.entry(peer.name.clone()) {
            Entry::Occupied(mut o) if !Arc::ptr_eq(o.get(), &conn) => Some(o.insert(conn.clone())),
            Entry::Occupied(_) => None,
            Entry::Vacant(v) => {
                v.insert(conn.clone());
                None
            }
        };
        if let Some(old) = old {
            // The old connection's NodeDown comes before the new one's NodeUp.
            let reason = match old.peer_state() {
                Some(s) if s.creation != peer.creation => NodeDownReason::Restarted,
                _ => NodeDownReason::ConnectionClosed,
            };
            old.close(reason);
            old.torn_down().await;
        }
        let (rd, wr) = stream.split();
        let state = PeerState {
            creation: peer.creation,
            hidden: peer.hidden,
            listen_port: peer.listen_port,
        };
        // Order: listed in `nodes()`, then `NodeUp` delivered, then `connect()` returns, then
        // frames are read (so `NodeUp` comes before any message from the connection).
        conn.list(state);
        let visible = conn.is_visible(self.me.hidden);
        if visible {
            self.node_up(&peer.name);
        }
        if !conn.mark_up() {
            // Failed or closed meanwhile (shutdown, a lost simultaneous race, a disconnect):
            // the `NodeUp` just delivered gets its `NodeDown` here, with the closing reason.
            if visible {
                self.node_down(&peer.name, conn.closed_reason());
            }
            self.forget(&conn);
            return;
        }
        tracing::info!(peer = %peer.name, hidden = !visible, "node up");
        if visible {
            let others: Vec<(NodeName, u16)> = self
                .peers
                .iter()
                .filter(|e| e.key() != &peer.name && e.value().is_visible(self.me.hidden))
                .filter_map(|e| {
                    e.value()
                        .peer_state()
                        .map(|s| (e.key().clone(), s.listen_port))
                })
                .collect();
            let _ = conn.push(|buf| {
                frame::peers(buf, &others);
                Ok(())
            });
        }
        conn.spawn_io(
            &node,
            rd,
            wr,
            self.config.tick_time,
            self.config.tick_interval(),
        );
    }

    /// Leaves the cluster: goodbyes to peers, then the listener and port mapper stop.
    pub(crate) async fn shutdown(&self) {
        self.cancel.cancel();
        let conns: Vec<Arc<Conn>> = self.peers.iter().map(|e| e.value().clone()).collect();
        for c in &conns {
            if c.is_up() {
                c.leave();
            } else {
                c.fail(ConnectError::ShuttingDown);
            }
        }
        for c in conns {
            let mut phase = c.subscribe();
            let _ =
                tokio::time::timeout(Duration::from_secs(1), phase.wait_for(|p| *p != Phase::Up))
                    .await;
        }
    }
}
