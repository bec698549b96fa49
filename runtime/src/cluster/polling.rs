//! Discovery by polling: a [`Discover`] asked every interval, its candidates connected
//! through the topology, and (opt-in) the ones it connected and no longer names pruned.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::node::{Node, NodeName};

use super::{ClusterStrategy, SyncNodes, Topology};

/// Discovery by polling: the common shape of strategies (a host list, a port mapper, DNS,
/// an HTTP registry). Wrap it in [`Polling`] to get a [`ClusterStrategy`].
pub trait Discover: Send + Sync + 'static {
    /// The candidate nodes now. An error is logged (once per change) and changes nothing.
    fn discover(&self, node: &Node) -> impl Future<Output = Result<Vec<NodeName>, String>> + Send;
}

/// A [`Discover`] run every `interval`: candidates are connected (with backoff); with
/// [`prune`](Self::prune), nodes it connected and that left discovery are disconnected.
#[derive(Debug, Clone)]
pub struct Polling<D> {
    discover: Arc<D>,
    interval: Duration,
    prune: bool,
    sync: Option<SyncNodes>,
}

impl<D: Discover> Polling<D> {
    /// Polls `discover` every 5 seconds.
    pub fn new(discover: D) -> Self {
        Self {
            discover: Arc::new(discover),
            interval: Duration::from_secs(5),
            prune: false,
            sync: None,
        }
    }

    /// How often to discover.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.clamp(Duration::from_millis(10), Duration::from_secs(24 * 3600));
        self
    }

    /// Disconnect nodes this topology connected once they are no longer discovered (as
    /// libcluster's DNSPoll and Eureka do). Off by default: a failed or empty discovery
    /// then never costs a connection.
    pub fn prune(mut self, prune: bool) -> Self {
        self.prune = prune;
        self
    }

    /// Nodes to wait for when the cluster starts (see [`ClusterStrategy::sync`]).
    pub fn sync_nodes(mut self, sync: SyncNodes) -> Self {
        self.sync = Some(sync);
        self
    }
}

impl<D: Discover> ClusterStrategy for Polling<D> {
    fn run(&self, topology: Topology) -> BoxFuture<'static, ()> {
        let discover = self.discover.clone();
        let interval = self.interval;
        let prune = self.prune;
        Box::pin(async move {
            let mut last_err: Option<String> = None;
            loop {
                match discover.discover(topology.node()).await {
                    Ok(found) => {
                        if last_err.take().is_some() {
                            tracing::info!("[locus:{}] discovery works again", topology.name());
                        }
                        topology.connect_all(&found).await;
                        if prune {
                            let keep: HashSet<&NodeName> = found.iter().collect();
                            for peer in topology.ours() {
                                if !keep.contains(&peer) {
                                    topology.disconnect(&peer);
                                }
                            }
                        }
                    }
                    Err(e) => {
                        if last_err.as_ref() != Some(&e) {
                            tracing::warn!("[locus:{}] discovery failed: {e}", topology.name());
                            last_err = Some(e);
                        }
                    }
                }
                tokio::time::sleep(interval).await;
            }
        })
    }

    fn sync(&self) -> Option<SyncNodes> {
        self.sync.clone()
    }
}
