//! Discovery through port mappers: this host's (libcluster's `LocalEpmd`) or those of listed
//! hosts (like Erlang's `.hosts.erlang` and `net_adm:world/0`).

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;

use futures::future::BoxFuture;

use super::{ClusterStrategy, Discover, Polling, Topology};
use crate::dist::epmd;
use crate::node::{Node, NodeName};

/// Connects to every node registered with this host's port mapper, named
/// `alive@<this node's host>`.
///
/// ```no_run
/// use locus::Node;
/// use locus::cluster::{Cluster, LocalEpmd};
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

impl ClusterStrategy for LocalEpmd {
    fn run(&self, topology: Topology) -> BoxFuture<'static, ()> {
        Polling::new(HostsDiscover::new(None))
            .interval(self.interval)
            .run(topology)
    }
}

/// Connects to every node registered with the port mapper of each listed host, named
/// `alive@host`.
///
/// ```no_run
/// use locus::Node;
/// use locus::cluster::{Cluster, EpmdHosts};
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

impl ClusterStrategy for EpmdHosts {
    fn run(&self, topology: Topology) -> BoxFuture<'static, ()> {
        Polling::new(HostsDiscover::new(Some(self.hosts.clone())))
            .interval(self.interval)
            .run(topology)
    }
}

/// Lists port mappers; `None` is this host's.
struct HostsDiscover {
    hosts: Option<Vec<String>>,
    /// The last error of each host that failed, to log each host's changes once.
    failing: Mutex<HashMap<String, String>>,
}

impl HostsDiscover {
    fn new(hosts: Option<Vec<String>>) -> Self {
        Self {
            hosts,
            failing: Mutex::new(HashMap::new()),
        }
    }
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
                Ok(names) => {
                    if self.failing.lock().remove(host.as_str()).is_some() {
                        tracing::info!(%host, "port mapper answers again");
                    }
                    found.extend(
                        names
                            .iter()
                            .filter_map(|r| NodeName::from_parts(&r.name, host).ok()),
                    );
                }
                Err(e) => {
                    let text = e.to_string();
                    let changed = self.failing.lock().insert(host.clone(), text.clone())
                        != Some(text.clone());
                    if changed {
                        tracing::warn!(%host, error = %text, "cannot list the nodes of a host");
                    }
                    failures.push(format!("{host}: {text}"));
                }
            }
        }
        // Hosts that answered count even if others did not; all failing is an error.
        if found.is_empty() && !failures.is_empty() {
            return Err(failures.join("; "));
        }
        Ok(found)
    }
}
