//! Setting up a connection with a BEAM node: the accepting and the initiating side of
//! Erlang's handshake over a socket, with the same connection table rules as between locus
//! nodes (simultaneous connects, replaced connections, the allow-list).

use std::net::SocketAddr;
use std::sync::Arc;

use super::handshake::{ErlAcceptor, ErlInitiator, ErlMe, Go, status_message};
use crate::dist::accept::Role;
use crate::dist::connection::{Conn, Phase, Wire};
use crate::dist::handshake::{HandshakeError, PeerInfo, Status};
use crate::dist::transport::Transport;
use crate::dist::{ConnectError, Dist, fresh_challenge};

impl Dist {
    fn erl_me(&self) -> ErlMe {
        ErlMe {
            name: self.me.name.clone(),
            creation: self.me.creation,
            hidden: self.me.hidden,
        }
    }

    /// A 32-bit challenge from the OS random source.
    fn erl_challenge() -> Result<u32, ConnectError> {
        let c = fresh_challenge()?;
        Ok(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The accepting side of a connection from a BEAM node.
    pub(crate) async fn accept_erlang(self: Arc<Self>, mut stream: Transport, addr: SocketAddr) {
        let who = addr.to_string();
        let challenge = match Self::erl_challenge() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(%addr, error = %e, "refused an incoming connection");
                return;
            }
        };
        let mut acc = ErlAcceptor::new(self.erl_me(), &self.config.cookie, challenge);
        let Ok(body) = stream.read_erl_handshake(&who).await else {
            tracing::debug!(%addr, "connection closed or timed out before its name");
            return;
        };
        let refuse = status_message(None);
        let hello = match acc.receive_name(&body) {
            Ok(h) => h,
            Err(e) => {
                if self.failure_changed(&addr.ip().to_string(), &e.to_string()) {
                    tracing::warn!(%addr, error = %e, "refused a connection from a BEAM node");
                }
                let _ = stream.write_handshake(&refuse, &who).await;
                return;
            }
        };
        let peer = hello.name.to_string();
        if !self.config.allow.allows_node(&hello.name) {
            if self.failure_changed(&peer, "not allowed") {
                tracing::warn!(%peer, %addr, "refused a connection: the node is not in the allow-list");
            }
            let _ = stream.write_handshake(&refuse, &who).await;
            return;
        }
        let (status, conn, role) = match self.decide(&hello, Wire::Erlang) {
            Ok(d) => d,
            Err(refusal) => {
                tracing::warn!(%peer, %addr, reason = %refusal, "refused an incoming connection");
                let _ = stream.write_handshake(&refuse, &who).await;
                return;
            }
        };
        let fail = |e: ConnectError| match role {
            Role::Owned => conn.fail(e),
            Role::Adopted => conn.adopted_failed(e),
            Role::Separate => {}
        };
        if let Err(e) = stream
            .write_handshake(&status_message(Some(status)), &peer)
            .await
        {
            fail(e);
            return;
        }
        match status {
            Status::Nok => return,
            Status::Alive => match stream.read_erl_handshake(&peer).await {
                Ok(body) if acc.receive_alive_answer(&body) == Ok(true) => {}
                // The peer keeps the connection it has.
                _ => return,
            },
            Status::Ok | Status::OkSimultaneous => {}
        }
        let steps = async {
            stream.write_handshake(&acc.challenge(), &peer).await?;
            let body = stream.read_erl_handshake(&peer).await?;
            let (ack, info) = acc.receive_reply(&body)?;
            stream.write_handshake(&ack, &peer).await?;
            Ok::<_, ConnectError>(info)
        };
        match steps.await {
            Ok(info) => self.conn_up(conn.clone(), stream, info.info).await,
            Err(e) => {
                if let ConnectError::Handshake(h) = &e {
                    if self.failure_changed(&peer, &h.to_string()) {
                        tracing::error!(%peer, %addr, error = %h, "connection attempt from BEAM node {peer} rejected");
                    } else {
                        tracing::debug!(%peer, %addr, error = %h, "connection attempt rejected again");
                    }
                }
                fail(e);
            }
        }
    }

    /// The initiating side of Erlang's handshake, on a connected socket.
    pub(crate) async fn erlang_handshake_out(
        &self,
        conn: &Conn,
        mut stream: Transport,
    ) -> Result<(Transport, PeerInfo), ConnectError> {
        let name = conn.peer.as_str();
        let (mut init, hello) = ErlInitiator::new(
            self.erl_me(),
            &self.config.cookie,
            conn.peer.clone(),
            Self::erl_challenge()?,
        );
        stream.write_handshake(&hello, name).await?;
        let status = stream.read_erl_handshake(name).await?;
        if init.receive_status(&status)? == Go::Alive {
            // The peer has a connection to this node: go on only if this node's side of it
            // is gone (the peer then drops it once this one authenticates).
            let ours_is_up = conn.is_adopted() || conn.phase() != Phase::Connecting;
            stream
                .write_handshake(&ErlInitiator::alive_answer(!ours_is_up), name)
                .await?;
            if ours_is_up {
                return Err(ConnectError::Handshake(HandshakeError::Simultaneous {
                    peer: name.to_owned(),
                }));
            }
        }
        let challenge = stream.read_erl_handshake(name).await?;
        let reply = init.receive_challenge(&challenge)?;
        stream.write_handshake(&reply, name).await?;
        let ack = stream.read_erl_handshake(name).await?;
        let peer = init.receive_ack(&ack)?;
        Ok((stream, peer.info))
    }
}
