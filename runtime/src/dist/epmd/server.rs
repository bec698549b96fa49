//! A port mapper: the registry of nodes on one host (Erlang's `epmd`).
//!
//! A node registers with ALIVE2 and stays registered while that connection stays open.
//! PORT_PLEASE2 and NAMES answer and close. Bad or oversized requests close their
//! connection and nothing else.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::EpmdError;
use super::proto::{
    MAX_REQUEST, ProtoError, Registration, Request, encode_alive2_resp, encode_names_resp,
    encode_port2_resp,
};

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn is_v4_mapped_loopback(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        std::net::IpAddr::V4(_) => false,
    }
}

/// The registered nodes of one port mapper.
pub(crate) struct EpmdServer {
    port: u16,
    nodes: Mutex<BTreeMap<String, (Registration, u32)>>,
    next_creation: Mutex<u32>,
}

/// Binds the port mapper's port on every interface (IPv6 and IPv4 where the host has both).
pub(crate) async fn bind(port: u16) -> Result<TcpListener, std::io::Error> {
    match TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
        Ok(l) => Ok(l),
        // A host without IPv6.
        Err(e) if e.kind() != std::io::ErrorKind::AddrInUse => {
            TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await
        }
        Err(e) => Err(e),
    }
}

/// Binds the port mapper's port on `address` and on loopback (where nodes register), or on
/// every interface without an address (Erlang's `ERL_EPMD_ADDRESS`).
pub(crate) async fn bind_on(
    address: Option<std::net::IpAddr>,
    port: u16,
) -> Result<Vec<TcpListener>, std::io::Error> {
    let address = match address {
        Some(a) if !a.is_unspecified() => a,
        // Every interface (loopback included).
        _ => return Ok(vec![bind(port).await?]),
    };
    // Nodes of this host register over 127.0.0.1.
    let loopback = std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST);
    let mut listeners = vec![TcpListener::bind(SocketAddr::new(loopback, port)).await?];
    if address != loopback {
        listeners.push(TcpListener::bind(SocketAddr::new(address, port)).await?);
    }
    Ok(listeners)
}

impl EpmdServer {
    pub(crate) fn new(port: u16) -> Arc<Self> {
        let mut seed = [0u8; 4];
        let _ = getrandom::fill(&mut seed);
        Arc::new(Self {
            port,
            nodes: Mutex::new(BTreeMap::new()),
            next_creation: Mutex::new(u32::from_be_bytes(seed) | 1),
        })
    }

    /// Accepts clients until `stop` is cancelled; then every client connection closes too,
    /// so registered nodes notice the port mapper is gone and register elsewhere.
    pub(crate) async fn serve(self: Arc<Self>, listener: TcpListener, stop: CancellationToken) {
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => return,
                r = listener.accept() => r,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let server = self.clone();
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = stop.cancelled() => {}
                            r = server.client(stream) => {
                                if let Err(e) = r {
                                    tracing::debug!(%peer, error = %e, "port mapper client closed");
                                }
                            }
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "port mapper accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn creation(&self) -> u32 {
        let mut c = self.next_creation.lock();
        *c = c.wrapping_add(1).max(1);
        *c
    }

    async fn client(&self, mut stream: TcpStream) -> Result<(), EpmdError> {
        let peer = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let mut buf = Vec::with_capacity(64);
        let req = tokio::time::timeout(REQUEST_TIMEOUT, async {
            loop {
                match Request::decode(&buf) {
                    Ok((req, _)) => return Ok(req),
                    Err(ProtoError::Incomplete) if buf.len() < MAX_REQUEST + 2 => {}
                    Err(e) => return Err(EpmdError::Protocol(peer, e.to_string())),
                }
                let mut chunk = [0u8; 256];
                let n = stream
                    .read(&mut chunk)
                    .await
                    .map_err(|e| EpmdError::Io(peer, e.to_string()))?;
                if n == 0 {
                    return Err(EpmdError::Protocol(
                        peer,
                        "closed before a full request".into(),
                    ));
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await
        .map_err(|_| EpmdError::Timeout(peer))??;
        let io = |e: std::io::Error| EpmdError::Io(peer, e.to_string());
        match req {
            Request::Alive2(reg) => {
                // As Erlang's epmd: only nodes of this host register; a remote host could
                // otherwise take names and make nodes here fail to start.
                if !peer.ip().is_loopback() && !is_v4_mapped_loopback(peer.ip()) {
                    tracing::warn!(%peer, name = %reg.name, "refused a registration from another host");
                    stream
                        .write_all(&encode_alive2_resp(1, 0))
                        .await
                        .map_err(io)?;
                    return Ok(());
                }
                let name = reg.name.clone();
                let creation = self.creation();
                let taken = {
                    let mut nodes = self.nodes.lock();
                    if nodes.contains_key(&name) {
                        true
                    } else {
                        nodes.insert(name.clone(), (reg, creation));
                        false
                    }
                };
                if taken {
                    stream
                        .write_all(&encode_alive2_resp(1, 0))
                        .await
                        .map_err(io)?;
                    return Ok(());
                }
                tracing::debug!(%name, "port mapper: registered");
                let kept = async {
                    stream.write_all(&encode_alive2_resp(0, creation)).await?;
                    // Registered for as long as the connection stays open.
                    let mut sink = [0u8; 64];
                    while stream.read(&mut sink).await? > 0 {}
                    Ok::<(), std::io::Error>(())
                }
                .await;
                self.nodes.lock().remove(&name);
                tracing::debug!(%name, "port mapper: unregistered");
                kept.map_err(io)
            }
            Request::PortPlease2(name) => {
                let found = self.nodes.lock().get(&name).map(|(r, _)| r.clone());
                stream
                    .write_all(&encode_port2_resp(found.as_ref()))
                    .await
                    .map_err(io)
            }
            Request::Names => {
                let names: Vec<(String, u16)> = self
                    .nodes
                    .lock()
                    .iter()
                    .map(|(n, (r, _))| (n.clone(), r.port))
                    .collect();
                stream
                    .write_all(&encode_names_resp(self.port, &names))
                    .await
                    .map_err(io)
            }
        }
    }
}
