//! Starting a node's distribution: the listener, and the registration with the port mapper
//! of this host (serving one if none runs, and taking the port over when the node that
//! served it dies).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::epmd::{EpmdError, client, proto::Registration, server};
use super::handshake::Identity;
use super::{Dist, DistConfig, ListenError, Ports};
use crate::node::{Node, NodeName};

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
    let mut config = config;
    if config.epmd_port == 0 && !matches!(config.ports, Ports::Fixed(_)) {
        config.epmd_port = private_port_mapper(&cancel).await?;
    }
    let (creation, registration) = match config.ports {
        Ports::Fixed(_) => (random_creation(), None),
        _ => {
            let reg = Registration::new(name.alive(), listen_port, config.hidden);
            let (creation, stream) =
                register_or_serve(config.epmd_port, config.epmd_address, &reg, &cancel)
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
    let (epmd_port, epmd_address) = (config.epmd_port, config.epmd_address);
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
        spin_claim: Arc::default(),
    });
    node.set_extension(dist.clone());
    node.set_router(dist.clone());
    tokio::spawn(dist.clone().accept_loop(listener));
    if let Some((reg, stream)) = registration {
        tokio::spawn(keep_registered(
            epmd_port,
            epmd_address,
            reg,
            stream,
            cancel,
        ));
    }
    tracing::info!(node = %node.name(), port = listen_port, creation, "distribution started");
    Ok(node)
}

/// Serves a port mapper on an ephemeral loopback port for this node (`epmd_port(0)`): the
/// other nodes of the process find it at [`Node::epmd_port`]. It stops with the node.
async fn private_port_mapper(cancel: &CancellationToken) -> Result<u16, ListenError> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| ListenError::Bind(format!("cannot start a private port mapper: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| ListenError::Bind(format!("cannot read the port mapper's address: {e}")))?
        .port();
    tracing::info!(port, "serving a private port mapper");
    tokio::spawn(server::EpmdServer::new(port).serve(listener, cancel.clone()));
    Ok(port)
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
    epmd_address: Option<IpAddr>,
    reg: &Registration,
    cancel: &CancellationToken,
) -> Result<(u32, TcpStream), EpmdError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], epmd_port));
    let mut last = EpmdError::Unreachable(addr);
    let mut taken = 0;
    for _ in 0..80 {
        match client::register(addr, reg).await {
            Ok(r) => return Ok(r),
            Err(EpmdError::Unreachable(_)) => {
                match server::bind_on(epmd_address, epmd_port).await {
                    Ok(listeners) => {
                        let on = epmd_address.map_or_else(
                            || "every interface".to_owned(),
                            |a| format!("{a} and loopback"),
                        );
                        tracing::info!(port = epmd_port, %on, "no port mapper answered: serving one");
                        let srv = server::EpmdServer::new(epmd_port);
                        for listener in listeners {
                            tokio::spawn(srv.clone().serve(listener, cancel.clone()));
                        }
                    }
                    // Another node took the port first: register with it.
                    Err(_) => jitter().await,
                }
            }
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
    epmd_address: Option<IpAddr>,
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
            match register_or_serve(epmd_port, epmd_address, &reg, &cancel).await {
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
