//! The port mapper: which node listens on which port, per host, over Erlang's EPMD protocol.
//!
//! Every named node registers its alive name and listen port with the port mapper of its
//! host, and peers ask that port mapper where to connect. Because the protocol is EPMD's,
//! Erlang's `epmd -names` lists locus nodes and `locus names` lists Erlang nodes.
//!
//! A node that finds no port mapper on its host serves one itself; when that node dies, a
//! surviving node takes the port over and the others register again.

pub(crate) mod client;
pub(crate) mod proto;
pub(crate) mod server;

use std::net::{IpAddr, SocketAddr};

/// The port mapper's default port, as Erlang's.
pub const DEFAULT_EPMD_PORT: u16 = 4369;

/// A port mapper exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EpmdError {
    /// Nothing listens there.
    #[error(
        "no port mapper at {0} (is a node or `locus epmd` running on that host, on that port?)"
    )]
    Unreachable(SocketAddr),
    /// The name is registered by another node on that host.
    #[error(
        "the name {0:?} is already registered on this host: another node runs under it; pick another name or stop that node"
    )]
    NameTaken(String),
    /// Network failure.
    #[error("port mapper at {0}: {1}")]
    Io(SocketAddr, String),
    /// The other side does not speak the protocol.
    #[error("port mapper at {0} sent an invalid reply: {1}")]
    Protocol(SocketAddr, String),
    /// No answer in time.
    #[error("port mapper at {0} did not answer in time")]
    Timeout(SocketAddr),
    /// The host name does not resolve.
    #[error("cannot resolve host {0:?}: {1}")]
    Resolve(String, String),
}

/// A node registered with a port mapper.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Registered {
    /// The node's alive name (the part before `@`).
    pub name: String,
    /// The port its distribution listens on.
    pub port: u16,
}

/// The addresses of `host`'s port mapper.
pub(crate) async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, EpmdError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    tokio::net::lookup_host((host, port))
        .await
        .map(|it| it.collect())
        .map_err(|e| EpmdError::Resolve(host.to_owned(), e.to_string()))
}

/// Lists the nodes registered on `host`'s port mapper (what `epmd -names` prints).
///
/// # Errors
///
/// [`EpmdError`] if the port mapper cannot be reached or answers nonsense.
pub async fn names(host: &str, port: u16) -> Result<Vec<Registered>, EpmdError> {
    let addrs = resolve(host, port).await?;
    let mut last = EpmdError::Resolve(host.to_owned(), "no address".into());
    for addr in addrs {
        match client::names(addr).await {
            Ok(list) => {
                return Ok(list
                    .into_iter()
                    .map(|(name, port)| Registered { name, port })
                    .collect());
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Runs a standalone port mapper on `port` until the future is dropped (`locus epmd`).
///
/// # Errors
///
/// The port cannot be bound (another port mapper runs there, or it needs privileges).
pub async fn serve(port: u16) -> std::io::Result<()> {
    let listener = server::bind(port).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    // Dropping this future drops the guard, which stops the client connections too.
    let _guard = stop.clone().drop_guard();
    server::EpmdServer::new(port).serve(listener, stop).await;
    Ok(())
}
