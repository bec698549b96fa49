//! Discovery by UDP multicast heartbeats (libcluster's `Gossip` strategy).
//!
//! Every node sends `I am <name>` to a multicast group (or a broadcast address) every
//! interval and connects to the nodes it hears. With a shared secret the heartbeats are
//! sealed (ChaCha20-Poly1305, key derived from the secret by HKDF-SHA256): a heartbeat
//! that does not open with our key is ignored and counted in [`GossipStats::rejected`], so
//! nodes with different secrets form different clusters. Nodes with different cookies hear
//! each other but their handshakes fail, so they stay apart too.
//!
//! The heartbeat format is handled by [`encode`] and [`decode`], which touch no socket.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use futures::future::BoxFuture;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

use super::{ClusterStrategy, Topology};
use crate::node::NodeName;

/// libcluster's multicast group.
pub const DEFAULT_GOSSIP_GROUP: Ipv4Addr = Ipv4Addr::new(233, 252, 1, 32);
/// libcluster's port.
pub const DEFAULT_GOSSIP_PORT: u16 = 45892;
/// How often a heartbeat is sent unless told otherwise.
pub const DEFAULT_GOSSIP_INTERVAL: Duration = Duration::from_secs(5);

/// Finds nodes by UDP multicast heartbeats.
///
/// ```no_run
/// use locus::Node;
/// use locus::cluster::{Cluster, Gossip};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = Node::builder().name("a@10.0.0.1").start().await?;
/// let gossip = Gossip::new().secret("a long shared secret");
/// let stats = gossip.stats();
/// Cluster::builder().topology("gossip", gossip).start(&node).await?;
/// println!("{} heartbeats rejected", stats.rejected());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Gossip {
    addr: Ipv4Addr,
    port: u16,
    interface: Ipv4Addr,
    ttl: u32,
    broadcast: bool,
    key: Option<[u8; 32]>,
    interval: Duration,
    stats: GossipStats,
}

impl Gossip {
    /// Heartbeats to 233.252.1.32:45892 every 5 seconds, TTL 1, unencrypted.
    pub fn new() -> Self {
        Self {
            addr: DEFAULT_GOSSIP_GROUP,
            port: DEFAULT_GOSSIP_PORT,
            interface: Ipv4Addr::UNSPECIFIED,
            ttl: 1,
            broadcast: false,
            key: None,
            interval: DEFAULT_GOSSIP_INTERVAL,
            stats: GossipStats::default(),
        }
    }

    /// The multicast group to join and send to, or with [`broadcast`](Self::broadcast) the
    /// broadcast address to send to.
    pub fn addr(mut self, addr: Ipv4Addr) -> Self {
        self.addr = addr;
        self
    }

    /// The UDP port every node of the cluster uses.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The address of the interface to send and join on (default: chosen by routing).
    pub fn interface(mut self, interface: Ipv4Addr) -> Self {
        self.interface = interface;
        self
    }

    /// How many routers a heartbeat may cross (default 1: this network only).
    pub fn ttl(mut self, ttl: u32) -> Self {
        self.ttl = ttl;
        self
    }

    /// Send to a broadcast address instead of a multicast group, for networks that drop
    /// multicast.
    pub fn broadcast(mut self, broadcast: bool) -> Self {
        self.broadcast = broadcast;
        self
    }

    /// Seal heartbeats with a key derived from `secret`; only nodes with the same secret hear
    /// each other. Without a secret, anyone on the network can make this node try to
    /// connect to a name of their choosing (the cookie still keeps strangers out): use one
    /// on networks you do not control.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.key = Some(derive_key(secret.as_ref()));
        self
    }

    /// How often to send a heartbeat (each one is jittered by up to a quarter).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.clamp(Duration::from_millis(10), MAX_INTERVAL);
        self
    }

    /// Counters of this strategy's heartbeats, shared with every clone.
    pub fn stats(&self) -> GossipStats {
        self.stats.clone()
    }

    /// A UDP socket bound to the gossip port, in the group, ready to send to it.
    fn socket(&self) -> std::io::Result<UdpSocket> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        // Every node on this host binds the same port; each gets every heartbeat.
        socket.set_reuse_address(true)?;
        socket.set_nonblocking(true)?;
        if self.broadcast {
            socket.set_broadcast(true)?;
        } else {
            socket.join_multicast_v4(&self.addr, &self.interface)?;
            socket.set_multicast_loop_v4(true)?;
            socket.set_multicast_ttl_v4(self.ttl)?;
            socket.set_multicast_if_v4(&self.interface)?;
        }
        socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, self.port)).into())?;
        UdpSocket::from_std(socket.into())
    }
}

impl Default for Gossip {
    fn default() -> Self {
        Self::new()
    }
}

/// Counters of a [`Gossip`] strategy.
#[derive(Debug, Clone, Default)]
pub struct GossipStats(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
}

impl GossipStats {
    /// Heartbeats sent.
    pub fn sent(&self) -> u64 {
        self.0.sent.load(Ordering::Relaxed)
    }

    /// Heartbeats heard from other nodes and accepted.
    pub fn accepted(&self) -> u64 {
        self.0.accepted.load(Ordering::Relaxed)
    }

    /// Packets ignored: not a heartbeat, sealed with another secret, or unsealed while we
    /// have a secret.
    pub fn rejected(&self) -> u64 {
        self.0.rejected.load(Ordering::Relaxed)
    }
}

impl ClusterStrategy for Gossip {
    fn run(&self, topology: Topology) -> BoxFuture<'static, ()> {
        let this = self.clone();
        Box::pin(async move { this.run_forever(topology).await })
    }
}

/// The longest heartbeat interval (longer ones are clamped; they would mean no gossip).
const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// At most this many senders are remembered to warn about once each.
const MAX_WARNED: usize = 64;

impl Gossip {
    async fn run_forever(self, topology: Topology) {
        let name = topology.name().to_owned();
        let socket = self.open(&name).await;
        let me = topology.node().name().clone();
        let target = SocketAddr::from((self.addr, self.port));
        let mut connects = JoinSet::new();
        let mut warned: HashSet<IpAddr> = HashSet::new();
        let mut send_error = Once::default();
        let mut recv_error = Once::default();
        let mut buf = vec![0u8; 2048];
        let mut next_beat = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(next_beat) => {
                    next_beat = tokio::time::Instant::now() + jittered(self.interval);
                    // Sealed afresh each time: a new nonce, so no two heartbeats are alike.
                    let sent = match encode(&me, self.key.as_ref()) {
                        Ok(beat) => socket.send_to(&beat, target).await.map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    match sent {
                        Ok(_) => {
                            self.stats.0.sent.fetch_add(1, Ordering::Relaxed);
                            if send_error.clear() {
                                tracing::info!("[locus:{name}] heartbeats go out again");
                            }
                        }
                        Err(e) => {
                            if send_error.set(&e) {
                                tracing::warn!("[locus:{name}] cannot send a heartbeat to {target}: {e}");
                            }
                        }
                    }
                }
                received = socket.recv_from(&mut buf) => {
                    let (len, from) = match received {
                        Ok(r) => {
                            recv_error.clear();
                            r
                        }
                        Err(e) => {
                            if recv_error.set(&e.to_string()) {
                                tracing::warn!("[locus:{name}] cannot receive heartbeats: {e}");
                            }
                            // Not a busy loop on a socket that keeps failing.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    match decode(&buf[..len], self.key.as_ref()) {
                        Ok(peer) if peer == me => {}
                        Ok(peer) => {
                            self.stats.0.accepted.fetch_add(1, Ordering::Relaxed);
                            if topology.is_due(&peer) {
                                let topology = topology.clone();
                                connects.spawn(async move { topology.connect_all(&[peer]).await });
                            }
                        }
                        Err(e) => {
                            self.stats.0.rejected.fetch_add(1, Ordering::Relaxed);
                            if warned.len() < MAX_WARNED && warned.insert(from.ip()) {
                                tracing::warn!("[locus:{name}] ignoring packets from {from}: {e}");
                            }
                        }
                    }
                }
                Some(_) = connects.join_next(), if !connects.is_empty() => {}
            }
        }
    }

    /// The gossip socket, retried with backoff until it opens (logged once per error).
    async fn open(&self, name: &str) -> UdpSocket {
        let mut retry = Duration::from_millis(500);
        let mut error = Once::default();
        loop {
            match self.socket() {
                Ok(s) => {
                    if error.clear() {
                        tracing::info!("[locus:{name}] gossip socket open");
                    }
                    return s;
                }
                Err(e) => {
                    if error.set(&e.to_string()) {
                        tracing::error!(
                            "[locus:{name}] cannot open the gossip socket on port {} (group {}): {e}; \
                             check the port, the interface and that the host has a route for multicast \
                             (retrying)",
                            self.port,
                            self.addr
                        );
                    }
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

/// The last error of a repeated operation, to log only changes.
#[derive(Default)]
struct Once(Option<String>);

impl Once {
    /// Records `error`; true if it differs from the last one (log it).
    fn set(&mut self, error: &str) -> bool {
        if self.0.as_deref() == Some(error) {
            return false;
        }
        self.0 = Some(error.to_owned());
        true
    }

    /// Clears the error; true if there was one (log the recovery).
    fn clear(&mut self) -> bool {
        self.0.take().is_some()
    }
}

/// A heartbeat up to ±25 % off `interval`, so nodes started together do not beat together.
fn jittered(interval: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = if getrandom::fill(&mut b).is_ok() {
        f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
    } else {
        0.5
    };
    interval.mul_f64(0.75 + r / 2.0)
}

/// What every heartbeat starts with (the version is the last byte).
const MAGIC: &[u8] = b"locus-gossip\x01";
const PLAIN: u8 = 0;
const SEALED: u8 = 1;
const NONCE_LEN: usize = 12;

/// Why a packet is not a heartbeat we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum HeartbeatError {
    /// Not a locus heartbeat, or a version this node does not speak.
    #[error("not a locus gossip heartbeat")]
    NotHeartbeat,
    /// Sealed with a key we do not have (another secret, or we have none).
    #[error("heartbeat sealed with another secret (or this node has no secret)")]
    WrongSecret,
    /// Unsealed, and this node requires a secret.
    #[error("unsealed heartbeat, but this node's gossip requires a secret")]
    Unsealed,
    /// The node name inside is malformed.
    #[error("heartbeat carries a malformed node name")]
    BadName,
    /// Sealing failed (the random source failed).
    #[error("cannot seal a heartbeat: {0}")]
    Seal(String),
}

/// For the fuzz target: a packet decoded with and without a key.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz_heartbeat(packet: &[u8]) {
    let _ = decode(packet, None);
    let _ = decode(packet, Some(&derive_key(b"fuzz")));
}

/// For the fuzz corpus: a heartbeat from `name`, sealed with the fuzz key or not.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz_seed_heartbeat(
    name: &NodeName,
    sealed: bool,
) -> Result<Vec<u8>, HeartbeatError> {
    let key = derive_key(b"fuzz");
    encode(name, sealed.then_some(&key))
}

/// Derives the heartbeat key from a shared secret.
fn derive_key(secret: &[u8]) -> [u8; 32] {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"locus gossip v1"), secret);
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit of 255 * 32.
    let _ = hk.expand(b"chacha20poly1305 key", &mut key);
    key
}

/// The heartbeat announcing `name`, sealed if `key` is given.
///
/// # Errors
///
/// [`HeartbeatError::Seal`] if no random nonce can be drawn.
pub(crate) fn encode(name: &NodeName, key: Option<&[u8; 32]>) -> Result<Vec<u8>, HeartbeatError> {
    let mut out = MAGIC.to_vec();
    match key {
        None => {
            out.push(PLAIN);
            out.extend_from_slice(name.as_str().as_bytes());
        }
        Some(key) => {
            out.push(SEALED);
            let mut nonce = [0u8; NONCE_LEN];
            getrandom::fill(&mut nonce).map_err(|e| HeartbeatError::Seal(e.to_string()))?;
            let cipher = ChaCha20Poly1305::new(&Key::from(*key));
            let sealed = cipher
                .encrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: name.as_str().as_bytes(),
                        aad: &out,
                    },
                )
                .map_err(|e| HeartbeatError::Seal(e.to_string()))?;
            out.extend_from_slice(&nonce);
            out.extend_from_slice(&sealed);
        }
    }
    Ok(out)
}

/// The node a heartbeat announces, checked against `key`.
///
/// # Errors
///
/// [`HeartbeatError`] says why the packet is not accepted.
pub(crate) fn decode(packet: &[u8], key: Option<&[u8; 32]>) -> Result<NodeName, HeartbeatError> {
    let body = packet
        .strip_prefix(MAGIC)
        .ok_or(HeartbeatError::NotHeartbeat)?;
    let (&mode, rest) = body.split_first().ok_or(HeartbeatError::NotHeartbeat)?;
    let aad = &packet[..MAGIC.len() + 1];
    let name = match (mode, key) {
        (PLAIN, None) => rest.to_vec(),
        (PLAIN, Some(_)) => return Err(HeartbeatError::Unsealed),
        (SEALED, None) => return Err(HeartbeatError::WrongSecret),
        (SEALED, Some(key)) => {
            if rest.len() < NONCE_LEN {
                return Err(HeartbeatError::WrongSecret);
            }
            let (nonce, sealed) = rest.split_at(NONCE_LEN);
            let nonce = Nonce::try_from(nonce).map_err(|_| HeartbeatError::WrongSecret)?;
            ChaCha20Poly1305::new(&Key::from(*key))
                .decrypt(&nonce, Payload { msg: sealed, aad })
                .map_err(|_| HeartbeatError::WrongSecret)?
        }
        _ => return Err(HeartbeatError::NotHeartbeat),
    };
    let name = std::str::from_utf8(&name).map_err(|_| HeartbeatError::BadName)?;
    NodeName::new(name).map_err(|_| HeartbeatError::BadName)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn name() -> NodeName {
        "a@10.0.0.1".parse().unwrap()
    }

    #[test]
    fn plain_round_trip() {
        let packet = encode(&name(), None).unwrap();
        assert_eq!(decode(&packet, None).unwrap(), name());
    }

    #[test]
    fn sealed_round_trip_and_secrecy() {
        let key = derive_key(b"right");
        let packet = encode(&name(), Some(&key)).unwrap();
        assert!(
            !packet.windows(9).any(|w| w == b"a@10.0.0."),
            "the name must not travel in clear"
        );
        assert_eq!(decode(&packet, Some(&key)).unwrap(), name());
        assert_eq!(
            decode(&packet, Some(&derive_key(b"wrong"))),
            Err(HeartbeatError::WrongSecret)
        );
        assert_eq!(decode(&packet, None), Err(HeartbeatError::WrongSecret));
    }

    #[test]
    fn unsealed_rejected_when_secret_required() {
        let packet = encode(&name(), None).unwrap();
        assert_eq!(
            decode(&packet, Some(&derive_key(b"s"))),
            Err(HeartbeatError::Unsealed)
        );
    }

    #[test]
    fn tampered_sealed_rejected() {
        let key = derive_key(b"k");
        let mut packet = encode(&name(), Some(&key)).unwrap();
        let last = packet.len() - 1;
        packet[last] ^= 1;
        assert_eq!(
            decode(&packet, Some(&key)),
            Err(HeartbeatError::WrongSecret)
        );
        // Flipping the mode byte changes the associated data as well as the meaning.
        let mut packet = encode(&name(), Some(&key)).unwrap();
        packet[MAGIC.len()] = PLAIN;
        assert_eq!(decode(&packet, Some(&key)), Err(HeartbeatError::Unsealed));
    }

    #[test]
    fn bad_names_and_versions_rejected() {
        let mut packet = MAGIC.to_vec();
        packet.push(PLAIN);
        packet.extend_from_slice(b"no-at-sign");
        assert_eq!(decode(&packet, None), Err(HeartbeatError::BadName));
        let mut v2 = b"locus-gossip\x02".to_vec();
        v2.push(PLAIN);
        assert_eq!(decode(&v2, None), Err(HeartbeatError::NotHeartbeat));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), sealed: bool) {
            let key = derive_key(b"k");
            let _ = decode(&bytes, sealed.then_some(&key));
            let mut framed = MAGIC.to_vec();
            framed.extend_from_slice(&bytes);
            let _ = decode(&framed, sealed.then_some(&key));
        }
    }
}
