//! Discovery through port mappers: this host's (libcluster's `LocalEpmd`) or those of listed
//! hosts (like Erlang's `.hosts.erlang` and `net_adm:world/0`).

use std::time::Duration;

use futures::future::BoxFuture;

use super::{Discover, Polling, Strategy, Topology};
use crate::dist::epmd;
use crate::node::{Node, NodeName};

/// Connects to every node registered with this host's port mapper, named
/// `alive@<this node's host>`.
///
/// ```no_run
/// use locus::{Cluster, LocalEpmd, Node};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = Node::builder().name("a@127.0.0.1").start().await?;
/// Cluster::builder().topology("local", LocalEpmd::new()).start(&node).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LocalEpmd {
    interval: Duration,
}

impl LocalEpmd {
    /// Asks the port mapper every second.
    pub fn new() -> Self {
        Self {
            interval: Duration::from_secs(1),
        }
    }

    /// How often to ask.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
}

impl Default for LocalEpmd {
    fn default() -> Self {
        Self::new()
    }
}

impl Strategy for LocalEpmd {
    fn run(&self, topology: Topology) -> BoxFuture<'static, ()> {
        Polling::new(HostsDiscover { hosts: None })
            .interval(self.interval)
            .run(topology)
    }
}

/// Connects to every node registered with the port mapper of each listed host, named
/// `alive@host`.
///
/// ```no_run
/// use locus::{Cluster, EpmdHosts, Node};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = Node::builder().name("a@10.0.0.1").start().await?;
/// let hosts = EpmdHosts::new(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
/// Cluster::builder().topology("hosts", hosts).start(&node).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct EpmdHosts {
    hosts: Vec<String>,
    interval: Duration,
}

impl EpmdHosts {
    /// Asks the port mappers of `hosts` every 5 seconds.
    pub fn new<S: Into<String>>(hosts: impl IntoIterator<Item = S>) -> Self {
        Self {
            hosts: hosts.into_iter().map(Into::into).collect(),
            interval: Duration::from_secs(5),
        }
    }

    /// How often to ask.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
}

impl Strategy for EpmdHosts {
    fn run(&self, topology: Topology) -> BoxFuture<'static, ()> {
        Polling::new(HostsDiscover {
            hosts: Some(self.hosts.clone()),
        })
        .interval(self.interval)
        .run(topology)
    }
}

/// Lists port mappers; `None` is this host's.
struct HostsDiscover {
    hosts: Option<Vec<String>>,
}

impl Discover for HostsDiscover {
    async fn discover(&self, node: &Node) -> Result<Vec<NodeName>, String> {
        let port = node
            .epmd_port()
            .ok_or("this node is not distributed: start it with a name")?;
        let Some(hosts) = &self.hosts else {
            // Our own port mapper listens on loopback too; nodes on it share our host part.
            let names = epmd::names("127.0.0.1", port)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(names
                .iter()
                .filter_map(|r| NodeName::from_parts(&r.name, node.name().host()).ok())
                .collect());
        };
        let asks = hosts
            .iter()
            .map(|host| async move { (host, epmd::names(host, port).await) });
        let mut found = Vec::new();
        let mut failures = Vec::new();
        for (host, answer) in futures::future::join_all(asks).await {
            match answer {
                Ok(names) => found.extend(
                    names
                        .iter()
                        .filter_map(|r| NodeName::from_parts(&r.name, host).ok()),
                ),
                Err(e) => failures.push(format!("{host}: {e}")),
            }
        }
        // Hosts that answered count even if others did not; all failing is an error.
        if found.is_empty() && !failures.is_empty() {
            return Err(failures.join("; "));
        }
        Ok(found)
    }
}
