//! Discovery through DNS: A/AAAA records (libcluster's `DNSPoll`, Phoenix's `dns_cluster`,
//! ECS service discovery, Fly.io `.internal` names) and SRV records (a Kubernetes headless
//! service).
//!
//! Each poll asks afresh (nothing is cached between polls), so a record added or removed is
//! seen at the next interval. Queries go to the system's resolvers (`/etc/resolv.conf`)
//! unless a server is given.

use std::net::SocketAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

use super::{ClusterStrategy, Discover, Polling, Topology};
use crate::node::{Node, NodeName};

/// How often DNS strategies poll unless told otherwise (libcluster's default).
pub const DEFAULT_DNS_INTERVAL: Duration = Duration::from_secs(5);

/// Connects to `basename@ip` for every A and AAAA record of a name.
///
/// ```no_run
/// use locus::Node;
/// use locus::cluster::{Cluster, DnsPoll};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // On Fly.io: every machine of the app, by its private IPv6 address.
/// let node = Node::builder().name("app@fdaa:0:1::2").start().await?;
/// let dns = DnsPoll::new("my-app.internal", "app");
/// Cluster::builder().topology("fly", dns).start(&node).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DnsPoll {
    query: String,
    basename: String,
    server: Option<SocketAddr>,
    interval: Duration,
    prune: bool,
}

impl DnsPoll {
    /// Polls the A and AAAA records of `query` every 5 seconds; nodes are `basename@ip`.
    pub fn new(query: impl Into<String>, basename: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            basename: basename.into(),
            server: None,
            interval: DEFAULT_DNS_INTERVAL,
            prune: false,
        }
    }

    /// Asks this DNS server instead of the system's.
    pub fn server(mut self, server: SocketAddr) -> Self {
        self.server = Some(server);
        self
    }

    /// How often to poll.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Disconnect nodes whose records are gone (see [`Polling::prune`](super::Polling::prune)).
    pub fn prune(mut self, prune: bool) -> Self {
        self.prune = prune;
        self
    }

    /// The same settings, asking for SRV records instead.
    pub(crate) fn into_srv(self) -> DnsSrv {
        DnsSrv { inner: self }
    }
}

impl ClusterStrategy for DnsPoll {
    fn run(&self, topology: Topology) -> BoxFuture<'static, ()> {
        let lookup = Lookup::new(
            self.query.clone(),
            self.basename.clone(),
            self.server,
            Kind::Ip,
        );
        Polling::new(lookup)
            .interval(self.interval)
            .prune(self.prune)
            .run(topology)
    }
}

/// Connects to `basename@target` for every SRV record of a name, as for a Kubernetes
/// headless service (`_<port>._tcp.<service>.<namespace>.svc.cluster.local`, or the
/// service name itself, which Kubernetes also answers SRV queries for).
///
/// The targets must resolve through the system resolver, as pod names do in Kubernetes.
///
/// ```no_run
/// use locus::Node;
/// use locus::cluster::{Cluster, DnsSrv};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = Node::builder().name("app@app-0.app.default.svc.cluster.local").start().await?;
/// let srv = DnsSrv::new("app.default.svc.cluster.local", "app");
/// Cluster::builder().topology("k8s", srv).start(&node).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DnsSrv {
    inner: DnsPoll,
}

impl DnsSrv {
    /// Polls the SRV records of `query` every 5 seconds; nodes are `basename@target`.
    pub fn new(query: impl Into<String>, basename: impl Into<String>) -> Self {
        Self {
            inner: DnsPoll::new(query, basename),
        }
    }

    /// Asks this DNS server instead of the system's.
    pub fn server(mut self, server: SocketAddr) -> Self {
        self.inner = self.inner.server(server);
        self
    }

    /// How often to poll.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.inner = self.inner.interval(interval);
        self
    }

    /// Disconnect nodes whose records are gone (see [`Polling::prune`](super::Polling::prune)).
    pub fn prune(mut self, prune: bool) -> Self {
        self.inner = self.inner.prune(prune);
        self
    }
}

impl ClusterStrategy for DnsSrv {
    fn run(&self, topology: Topology) -> BoxFuture<'static, ()> {
        let d = &self.inner;
        let lookup = Lookup::new(d.query.clone(), d.basename.clone(), d.server, Kind::Srv);
        Polling::new(lookup)
            .interval(d.interval)
            .prune(d.prune)
            .run(topology)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ip,
    Srv,
}

/// One DNS query, as a [`Discover`]. The resolver is built at the first poll, so a bad
/// system configuration is reported (and retried) like any failed discovery.
struct Lookup {
    query: String,
    basename: String,
    server: Option<SocketAddr>,
    kind: Kind,
    resolver: tokio::sync::OnceCell<TokioResolver>,
}

impl Lookup {
    fn new(query: String, basename: String, server: Option<SocketAddr>, kind: Kind) -> Self {
        Self {
            query,
            basename,
            server,
            kind,
            resolver: tokio::sync::OnceCell::new(),
        }
    }

    fn build_resolver(&self) -> Result<TokioResolver, String> {
        let mut builder = match self.server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let server = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![server]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => Resolver::builder_tokio().map_err(|e| {
                format!("cannot read the system DNS configuration ({e}); give a DNS server")
            })?,
        };
        let opts = builder.options_mut();
        // Every poll must see the records as they are now.
        opts.cache_size = 0;
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        if self.server.is_some() {
            opts.use_hosts_file = ResolveHosts::Never;
        }
        builder
            .build()
            .map_err(|e| format!("cannot set up DNS resolution: {e}"))
    }
}

impl Discover for Lookup {
    async fn discover(&self, _node: &Node) -> Result<Vec<NodeName>, String> {
        let resolver = self
            .resolver
            .get_or_try_init(|| async { self.build_resolver() })
            .await?;
        let hosts: Vec<String> = match self.kind {
            Kind::Ip => match resolver.lookup_ip(self.query.as_str()).await {
                // Link-local addresses lose their interface in a node name: unreachable.
                Ok(ips) => ips
                    .iter()
                    .filter(|ip| !is_link_local(ip))
                    .map(|ip| ip.to_string())
                    .collect(),
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => Vec::new(),
                Err(e) => return Err(format!("DNS lookup of {} failed: {e}", self.query)),
            },
            Kind::Srv => match resolver.srv_lookup(self.query.as_str()).await {
                Ok(lookup) => lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::SRV(srv) => {
                            Some(srv.target.to_utf8().trim_end_matches('.').to_owned())
                        }
                        _ => None,
                    })
                    .collect(),
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => Vec::new(),
                Err(e) => return Err(format!("DNS SRV lookup of {} failed: {e}", self.query)),
            },
        };
        let mut nodes = Vec::with_capacity(hosts.len());
        for host in hosts {
            match NodeName::from_parts(&self.basename, &host) {
                Ok(name) => nodes.push(name),
                Err(e) => tracing::debug!(%host, error = %e, "DNS answer is not a node host"),
            }
        }
        nodes.sort();
        nodes.dedup();
        Ok(nodes)
    }
}

/// `fe80::/10` and `169.254.0.0/16`.
fn is_link_local(ip: &std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_link_local(),
        std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}
