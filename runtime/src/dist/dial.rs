//! Dialling: the initiating side of a connection attempt, from the port mapper lookup to an
//! authenticated connection.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use super::connection::{Conn, Phase, Wire};
use super::epmd::{self, EpmdError, client};
use super::handshake::{HandshakeError, InitStep, Initiator, PeerInfo};
use super::settings::SETUP_TIME;
use super::tls;
use super::transport::Transport;
use super::{ConnectError, Dist, DistProtocol, Ports};
use crate::node::NodeName;

impl Dist {
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
        let (port, wire) = match (port_hint, self.config.ports) {
            // A locus peer told this node where its peers listen.
            (Some(p), _) => (p, Wire::Locus),
            (None, Ports::Fixed(p)) => (p, self.fixed_wire()),
            (None, _) => self.lookup_port(peer).await?,
        };
        conn.set_wire(wire);
        if wire == Wire::Erlang {
            if !self.config.erlang {
                return Err(ConnectError::ErlangDisabled(peer.to_string()));
            }
            if self.config.tls.is_some() {
                return Err(ConnectError::Tls {
                    node: peer.to_string(),
                    error: "it is a BEAM node, and Erlang distribution here runs without TLS"
                        .into(),
                });
            }
        }
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
                let why = "the address is not in this node's allow-list";
                last = Some((addr, io::Error::new(io::ErrorKind::PermissionDenied, why)));
                continue;
            }
            match tokio::time::timeout(SETUP_TIME, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    stream = Some(s);
                    break;
                }
                Ok(Err(e)) => last = Some((addr, e)),
                Err(_) => last = Some((addr, io::ErrorKind::TimedOut.into())),
            }
        }
        let Some(stream) = stream else {
            let (addr, error) = last.unwrap_or_else(|| {
                let none = io::Error::new(io::ErrorKind::AddrNotAvailable, "no address");
                (SocketAddr::from(([0, 0, 0, 0], port)), none)
            });
            return Err(ConnectError::Io {
                node: peer.to_string(),
                addr: addr.to_string(),
                error: error.into(),
            });
        };
        let _ = stream.set_nodelay(true);
        if wire == Wire::Erlang {
            return self
                .erlang_handshake_out(conn, Transport::Tcp(stream))
                .await;
        }
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
        let (mut init, hello) = Initiator::new(
            self.me.clone(),
            &self.config.cookie,
            peer.clone(),
            super::fresh_challenge()?,
        );
        stream.write_handshake(&hello, name).await?;
        loop {
            let body = stream.read_handshake(name).await?;
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
                    stream.write_handshake(&bytes, name).await?;
                }
                InitStep::Done(info) => return Ok((stream, info)),
            }
        }
    }

    /// The protocol of a peer reached on a fixed port (no port mapper to tell).
    fn fixed_wire(&self) -> Wire {
        match self.config.protocol {
            DistProtocol::Erlang => Wire::Erlang,
            DistProtocol::Auto | DistProtocol::Locus => Wire::Locus,
        }
    }

    /// Where `peer` listens, and its protocol: a node that registered as locus speaks
    /// locus's; any other is a BEAM node (unless this node is told otherwise).
    async fn lookup_port(&self, peer: &NodeName) -> Result<(u16, Wire), ConnectError> {
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
                Ok(Some(reg)) => {
                    let wire = match self.config.protocol {
                        DistProtocol::Locus => Wire::Locus,
                        DistProtocol::Erlang => Wire::Erlang,
                        DistProtocol::Auto if reg.extra == b"locus" => Wire::Locus,
                        DistProtocol::Auto => Wire::Erlang,
                    };
                    return Ok((reg.port, wire));
                }
                Ok(None) => return Err(ConnectError::NotRegistered(peer.to_string())),
                Err(e) => last = Some(e),
            }
        }
        Err(err(last.unwrap_or_else(|| {
            EpmdError::Resolve(peer.host().to_owned(), "no address".into())
        })))
    }
}
