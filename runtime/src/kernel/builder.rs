//! Configuring and starting a node.

use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::dist::epmd::{DEFAULT_EPMD_PORT, EpmdError};
use crate::dist::tls::{TlsConfig, TlsError};
use crate::dist::{self, DistConfig, DistProtocol, Ports};
use crate::node::{Node, NodeName, NodeNameError};

use super::Service;

/// Configures a [`Node`]; [`start`](Self::start) runs it.
///
/// Without a name the node runs locally (`nonode@nohost`). With one it is distributed: it
/// listens for other nodes, registers with the port mapper of its host and authenticates
/// peers with the cookie.
///
/// | Setting | Builder | Default |
/// |---|---|---|
/// | name | [`name`](Self::name) | none: local node |
/// | cookie | [`cookie`](Self::cookie) | `~/.locus.cookie`, created once with a random cookie (as Erlang's `~/.erlang.cookie`) |
/// | port mapper port | [`epmd_port`](Self::epmd_port) | 4369 |
/// | listen address | [`listen`](Self::listen) | all interfaces |
/// | listen port | [`port`](Self::port), [`port_range`](Self::port_range), [`dist_port`](Self::dist_port) | any free port |
/// | tick time | [`tick_time`](Self::tick_time) | 60 s |
/// | hidden | [`hidden`](Self::hidden) | no |
/// | TLS | [`tls`](Self::tls) | no TLS |
/// | allowed nodes | [`allow_nodes`](Self::allow_nodes) | everyone with the cookie |
/// | allowed addresses | [`allow_addrs`](Self::allow_addrs) | any |
/// | Erlang distribution (BEAM peers) | [`erlang_dist`](Self::erlang_dist) | off |
/// | protocol without a port mapper | [`dist_protocol`](Self::dist_protocol) | locus's |
///
/// A builder does what its code says: it reads no `LOCUS_*` environment variable. To take
/// settings from a file, the environment and flags, as operators give them, build it with
/// [`Config::node_builder`](crate::config::Config::node_builder).
///
/// ```
/// use locus::Node;
///
/// # #[tokio::main] async fn main() -> Result<(), locus::NodeError> {
/// let local = Node::builder().start().await?;
/// assert!(!local.is_distributed());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .start() is awaited"]
pub struct NodeBuilder {
    /// The services the node boots (see `crate::services`).
    services: &'static [Service],
    /// What runs once the node has booted (the observer dashboard, say).
    on_start: Vec<OnStart>,
    name: Option<String>,
    cookie: Option<String>,
    listen: Option<Result<IpAddr, String>>,
    epmd_address: Option<Result<IpAddr, String>>,
    ports: Option<Ports>,
    epmd_port: Option<u16>,
    tick_time: Option<Duration>,
    hidden: bool,
    max_frame: Option<usize>,
    max_send_buffer: Option<usize>,
    max_mailbox: Option<usize>,
    spin: Option<Duration>,
    tls: Option<TlsConfig>,
    allow_nodes: Vec<String>,
    allow_addrs: Vec<String>,
    erlang_dist: bool,
    dist_protocol: DistProtocol,
}

/// A node could not start. The message names the setting and says what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The node name is malformed.
    #[error(transparent)]
    Name(#[from] NodeNameError),
    /// No tokio runtime is running.
    #[error("a node must be started inside a tokio runtime (for example under #[tokio::main])")]
    NoRuntime,
    /// The cookie is missing or invalid.
    #[error("{0}")]
    Cookie(String),
    /// A setting has an invalid value.
    #[error("invalid setting {setting}: {problem}")]
    Config {
        /// The setting (builder method or environment variable).
        setting: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The distribution port could not be bound.
    #[error("{0}")]
    Listen(String),
    /// Registering with the port mapper failed.
    #[error("cannot register with the port mapper: {0}")]
    Epmd(EpmdError),
    /// The TLS settings cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl From<dist::ListenError> for NodeError {
    fn from(e: dist::ListenError) -> Self {
        match e {
            dist::ListenError::Bind(text) => NodeError::Listen(text),
            dist::ListenError::Epmd(e) => NodeError::Epmd(e),
        }
    }
}

/// Something a builder runs on its node once it has booted; it fails the start if it fails.
#[derive(Clone)]
pub(crate) struct OnStart(
    pub(crate) Arc<dyn Fn(Node) -> BoxFuture<'static, Result<(), NodeError>> + Send + Sync>,
);

impl fmt::Debug for OnStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnStart")
    }
}

impl NodeBuilder {
    /// A builder with every setting at its default (a local node) that boots `services`.
    pub(crate) fn with_services(services: &'static [Service]) -> Self {
        Self {
            services,
            on_start: Vec::new(),
            name: None,
            cookie: None,
            listen: None,
            epmd_address: None,
            ports: None,
            epmd_port: None,
            tick_time: None,
            hidden: false,
            max_frame: None,
            max_send_buffer: None,
            max_mailbox: None,
            spin: None,
            tls: None,
            allow_nodes: Vec::new(),
            allow_addrs: Vec::new(),
            erlang_dist: false,
            dist_protocol: DistProtocol::Auto,
        }
    }

    /// Runs `hook` on the node once it has booted; its error fails the start.
    #[cfg_attr(not(feature = "observer"), allow(dead_code))]
    pub(crate) fn on_start(mut self, hook: OnStart) -> Self {
        self.on_start.push(hook);
        self
    }

    /// The node's name: `alive@host` (Erlang's `--name`, for example `n1@127.0.0.1` or
    /// `app@fdaa::2`), or a short `alive` that becomes `alive@<short host name>` (Erlang's
    /// `--sname`). Without a name the node is `nonode@nohost` and runs locally.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The shared secret nodes must have in common to connect (Erlang's `--cookie`).
    pub fn cookie(mut self, cookie: impl Into<String>) -> Self {
        self.cookie = Some(cookie.into());
        self
    }

    /// The address distribution listens on (Erlang's `inet_dist_use_interface`), as users
    /// write it: `"127.0.0.1"`, `"::1"`, an `IpAddr`. A string that is no address fails
    /// [`start`](Self::start). Without it, a node whose host part is a loopback address
    /// (`n1@127.0.0.1`) listens on that address, and any other on every interface.
    pub fn listen(mut self, addr: impl ToListenAddr) -> Self {
        self.listen = Some(addr.to_listen_addr());
        self
    }

    /// Listen on exactly this port (0: any free port), registered with the port mapper.
    pub fn port(mut self, port: u16) -> Self {
        self.ports = Some(if port == 0 {
            Ports::Any
        } else {
            Ports::Range(port, port)
        });
        self
    }

    /// Listen on the first free port of this range (`inet_dist_listen_min/max`), so a
    /// firewall needs only the port mapper's port and the range open.
    pub fn port_range(mut self, ports: RangeInclusive<u16>) -> Self {
        self.ports = Some(Ports::Range(*ports.start(), *ports.end()));
        self
    }

    /// Listen on this port without any port mapper (like `ERL_DIST_PORT`): peers are
    /// reached on the same port number at their host.
    pub fn dist_port(mut self, port: u16) -> Self {
        self.ports = Some(Ports::Fixed(port));
        self
    }

    /// Where the port mapper this node serves (when none runs on its host) listens, as well
    /// as on 127.0.0.1 (Erlang's `ERL_EPMD_ADDRESS`). Default: every interface, or loopback
    /// only for a node that listens on loopback.
    pub fn epmd_address(mut self, addr: impl ToListenAddr) -> Self {
        self.epmd_address = Some(addr.to_listen_addr());
        self
    }

    /// The port mapper's port (Erlang's `ERL_EPMD_PORT`); every node of a cluster must use
    /// the same one.
    ///
    /// `0` starts a private port mapper for this node on a free loopback port, reported by
    /// [`Node::epmd_port`]: the way to run several nodes in one process (a test, say) with
    /// no port to choose and nothing on 4369. The other nodes take that port:
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), locus::NodeError> {
    /// use locus::Node;
    /// let a = Node::builder().name("a@127.0.0.1").cookie("c").epmd_port(0).start().await?;
    /// let port = a.epmd_port().expect("a is distributed");
    /// let b = Node::builder().name("b@127.0.0.1").cookie("c").epmd_port(port).start().await?;
    /// b.connect("a@127.0.0.1").await.expect("connects");
    /// # Ok(()) }
    /// ```
    pub fn epmd_port(mut self, port: u16) -> Self {
        self.epmd_port = Some(port);
        self
    }

    /// How long a silent peer is tolerated before it is declared down (Erlang's
    /// `net_ticktime`, default 60 s). Ticks are sent every quarter of it.
    pub fn tick_time(mut self, tick_time: Duration) -> Self {
        self.tick_time = Some(tick_time);
        self
    }

    /// A hidden node (Erlang's `-hidden`): its connections are not listed by `nodes()` and
    /// do not mesh with the rest of the cluster. Tools such as the `locus` CLI run hidden.
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.hidden = hidden;
        self
    }

    /// The largest frame accepted from or sent to a peer (default 64 MiB; at most
    /// 4 GiB - 1, what a frame's 32-bit length prefix can tell).
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = Some(bytes.min(u32::MAX as usize));
        self
    }

    /// The most bytes that may wait to be sent to one peer (default 256 MiB). A peer that
    /// stops reading until this fills is disconnected, with
    /// [`NodeDownReason::Overloaded`](crate::NodeDownReason::Overloaded): every call waiting
    /// on it fails and its links and monitors fire, rather than messages being dropped one
    /// by one.
    pub fn max_send_buffer(mut self, bytes: usize) -> Self {
        self.max_send_buffer = Some(bytes);
        self
    }

    /// At most this many messages may wait in one process's mailbox for messages from other
    /// nodes to be delivered to it (plus the batch a busy process already took from its
    /// queue, itself at most this many; default [`DEFAULT_MAX_MAILBOX`](crate::dist::DEFAULT_MAX_MAILBOX)).
    /// Beyond it they are dropped and counted ([`Node::overload_drops`]); a dropped call
    /// fails at once with [`CallError::Overloaded`](crate::CallError::Overloaded). Messages
    /// sent on this node are not limited (as in Erlang), and exit signals, links and
    /// monitors are never dropped.
    pub fn max_mailbox(mut self, messages: usize) -> Self {
        self.max_mailbox = Some(messages);
        self
    }

    /// How long a connection keeps polling its socket after traffic before it sleeps
    /// (default [`DEFAULT_SPIN`](crate::dist::DEFAULT_SPIN), 100 µs; `spin_us` in a
    /// [`Config`](crate::config::Config)). Like the BEAM's scheduler busy-wait, it trades CPU for latency: on a
    /// quiet machine, waking a sleeping thread costs 30-60 µs, more than a reply takes to
    /// come back. A connection spins only within this window after it last received data,
    /// and only while its reads have lately come within two windows of each other and its
    /// spins catch something, so an idle node, or (with the default window) one that gets
    /// a message every millisecond, uses no CPU spinning (a spin that cannot catch the next
    /// message would only cost a core); and only one
    /// connection of the process spins at a time (its polls serve the others' sockets
    /// too), so under steady traffic the spin costs at most one core. Zero turns it off.
    pub fn spin(mut self, window: Duration) -> Self {
        self.spin = Some(window);
        self
    }

    /// Runs every connection inside TLS (Erlang's `inet_tls` distribution). Every node of
    /// the cluster needs it; see [`TlsConfig`].
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Only these nodes may connect, or be connected to (Erlang's `net_kernel:allow/1`):
    /// names `alive@host`, where `*` matches anything (`app@*`, `*@10.0.0.5`).
    pub fn allow_nodes<S: Into<String>>(mut self, nodes: impl IntoIterator<Item = S>) -> Self {
        self.allow_nodes.extend(nodes.into_iter().map(Into::into));
        self
    }

    /// Only peers at these addresses or ranges may connect, or be connected to
    /// (`10.0.0.0/8`, `fd00::/8`, `10.0.0.5`).
    pub fn allow_addrs<S: Into<String>>(mut self, addrs: impl IntoIterator<Item = S>) -> Self {
        self.allow_addrs.extend(addrs.into_iter().map(Into::into));
        self
    }

    /// Speaks Erlang distribution with BEAM nodes too (off by default): Erlang and Elixir
    /// nodes connect to this node and it to them, in one cluster (see [`crate::etf`] for how
    /// messages map). Erlang's handshake proves the cookie with MD5, weaker than locus's
    /// HMAC-SHA256, and nothing after it is authenticated: use a long random cookie, an
    /// allow-list, and a network you trust (README, Security).
    pub fn erlang_dist(mut self, on: bool) -> Self {
        self.erlang_dist = on;
        self
    }

    /// The protocol this node speaks to peers it dials where no port mapper says (a fixed
    /// distribution port, [`dist_port`](Self::dist_port)), or with every peer. Default
    /// [`DistProtocol::Auto`]: the port mapper's registration tells.
    pub fn dist_protocol(mut self, protocol: DistProtocol) -> Self {
        self.dist_protocol = protocol;
        self
    }

    /// Starts the node.
    ///
    /// # Errors
    ///
    /// [`NodeError`] names the setting that is wrong: a malformed name, a bad cookie, a port
    /// range with no free port, a port mapper that cannot be reached or that already has a
    /// node of this name.
    pub async fn start(mut self) -> Result<Node, NodeError> {
        let on_start = std::mem::take(&mut self.on_start);
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NodeError::NoRuntime)?;
        let Some(name) = &self.name else {
            // A local node gets no messages from other nodes: nothing to limit.
            let node = Node::from_parts(NodeName::no_node(), 1, runtime, usize::MAX);
            super::boot::boot(&node, self.services).await?;
            return run_on_start(&on_start, node).await;
        };
        let name = full_name(name)?;
        let cookie = match self.cookie.clone() {
            Some(c) => c,
            None => dist::cookie_from_file().map_err(NodeError::Cookie)?,
        };
        dist::validate_cookie(&cookie).map_err(NodeError::Cookie)?;
        let mut config = DistConfig::new(cookie.into_bytes());
        config.epmd_port = self.epmd_port.unwrap_or(DEFAULT_EPMD_PORT);
        if let Some(ports) = self.ports {
            if let Ports::Range(lo, hi) = ports
                && (lo > hi || lo == 0)
            {
                return Err(NodeError::Config {
                    setting: "port_range",
                    problem: format!("{lo}-{hi} is not a range of ports (1-65535, low to high)"),
                });
            }
            if ports == Ports::Fixed(0) {
                return Err(NodeError::Config {
                    setting: "dist_port",
                    problem: "a fixed distribution port cannot be 0".into(),
                });
            }
            config.ports = ports;
        }
        config.listen = match self.listen {
            Some(Ok(ip)) => ip,
            Some(Err(bad)) => {
                return Err(NodeError::Config {
                    setting: "listen",
                    problem: format!(
                        "{bad:?} is not an IP address (write 127.0.0.1, ::1 or 0.0.0.0)"
                    ),
                });
            }
            None => match name.host().parse::<IpAddr>() {
                // A node named for a loopback address is reachable there only.
                Ok(ip) if ip.is_loopback() => ip,
                Ok(IpAddr::V6(_)) => IpAddr::from([0u16; 8]),
                _ => IpAddr::from([0, 0, 0, 0]),
            },
        };
        config.epmd_address = match self.epmd_address {
            Some(Ok(ip)) => Some(ip),
            Some(Err(bad)) => {
                return Err(NodeError::Config {
                    setting: "epmd_address",
                    problem: format!(
                        "{bad:?} is not an IP address (write 127.0.0.1, ::1 or 0.0.0.0)"
                    ),
                });
            }
            // The port mapper of a loopback-only node is loopback-only too.
            None if config.listen.is_loopback() => Some(config.listen),
            None => None,
        };
        if let Some(t) = self.tick_time {
            if t < Duration::from_millis(100) {
                return Err(NodeError::Config {
                    setting: "tick_time",
                    problem: format!("{t:?} is too short; use at least 100 ms (default 60 s)"),
                });
            }
            config.tick_time = t;
        }
        if let Some(max) = self.max_frame {
            if max < 1024 {
                return Err(NodeError::Config {
                    setting: "max_frame",
                    problem: format!("{max} bytes is too small; use at least 1024"),
                });
            }
            config.max_frame = max;
        }
        if let Some(max) = self.max_send_buffer {
            config.max_outbox = max;
        }
        config.spin = self.spin.unwrap_or(dist::DEFAULT_SPIN);
        if config.spin > Duration::from_millis(100) {
            return Err(NodeError::Config {
                setting: "spin",
                problem: format!(
                    "{:?} would keep a core busy for long after each message; use at most 100 ms",
                    config.spin
                ),
            });
        }
        if let Some(max) = self.max_mailbox {
            if max == 0 {
                return Err(NodeError::Config {
                    setting: "max_mailbox",
                    problem: "0 would refuse every message from other nodes; use at least 1".into(),
                });
            }
            config.max_mailbox = max;
        }
        config.hidden = self.hidden;
        if let Some(tls) = self.tls {
            config.tls = Some(tls.context()?);
        }
        config.allow = dist::allow::AllowList::new(self.allow_nodes, &self.allow_addrs).map_err(
            |problem| NodeError::Config {
                setting: "allow_nodes / allow_addrs",
                problem,
            },
        )?;
        if self.dist_protocol == DistProtocol::Erlang && !self.erlang_dist {
            return Err(NodeError::Config {
                setting: "dist_protocol",
                problem: "erlang needs erlang_dist on".into(),
            });
        }
        config.erlang = self.erlang_dist;
        config.protocol = self.dist_protocol;
        // Hidden nodes are tools and observers: the cluster's cookie is not theirs to choose.
        if config.erlang && !self.hidden && config.cookie.len() < 20 {
            tracing::warn!(
                "erlang_dist is on with a cookie of {} characters: BEAM peers prove it with MD5, which one sniffed handshake lets an attacker attack offline; use 20 or more random characters",
                config.cookie.len()
            );
        }
        let node = super::boot::start_distributed(name, config, runtime, self.services).await?;
        run_on_start(&on_start, node).await
    }
}

/// Runs the builder's start hooks on its booted node, in order.
async fn run_on_start(hooks: &[OnStart], node: Node) -> Result<Node, NodeError> {
    for hook in hooks {
        (hook.0)(node.clone()).await?;
    }
    Ok(node)
}

/// `alive` becomes `alive@<short host name>`; `alive@host` is checked as is.
pub(crate) fn full_name(name: &str) -> Result<NodeName, NodeNameError> {
    if name.contains('@') {
        return NodeName::new(name);
    }
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let short = host.split('.').next().unwrap_or("localhost");
    NodeName::from_parts(name, if short.is_empty() { "localhost" } else { short })
}

/// An address to listen on, as users write it: an [`IpAddr`] (or `Ipv4Addr`, `Ipv6Addr`),
/// or a string such as `"127.0.0.1"` or `"::1"` (checked when the node starts).
pub trait ToListenAddr {
    /// The address, or the text that is not one.
    fn to_listen_addr(self) -> Result<IpAddr, String>;
}

impl ToListenAddr for IpAddr {
    fn to_listen_addr(self) -> Result<IpAddr, String> {
        Ok(self)
    }
}

impl ToListenAddr for std::net::Ipv4Addr {
    fn to_listen_addr(self) -> Result<IpAddr, String> {
        Ok(IpAddr::V4(self))
    }
}

impl ToListenAddr for std::net::Ipv6Addr {
    fn to_listen_addr(self) -> Result<IpAddr, String> {
        Ok(IpAddr::V6(self))
    }
}

impl ToListenAddr for &str {
    fn to_listen_addr(self) -> Result<IpAddr, String> {
        self.trim().parse().map_err(|_| self.to_owned())
    }
}

impl ToListenAddr for String {
    fn to_listen_addr(self) -> Result<IpAddr, String> {
        self.as_str().to_listen_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_name_gets_the_short_host_name() {
        let n = full_name("a").unwrap();
        assert_eq!(n.alive(), "a");
        assert!(!n.host().is_empty() && !n.host().contains('.'), "{n}");
        assert_eq!(full_name("a@10.0.0.1").unwrap().as_str(), "a@10.0.0.1");
        assert!(full_name("bad name").is_err());
    }

    #[tokio::test]
    async fn bad_settings_are_named_in_the_error() {
        let e = Node::builder()
            .name("a@127.0.0.1")
            .cookie("with space")
            .start()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("cookie"), "{e}");
        let e = Node::builder()
            .name("a@127.0.0.1")
            .cookie("c")
            .port_range(std::ops::RangeInclusive::new(10, 5))
            .start()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("port_range"), "{e}");
        let e = Node::builder()
            .name("a@127.0.0.1")
            .cookie("c")
            .tick_time(Duration::from_millis(1))
            .start()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("tick_time"), "{e}");
        let e = Node::builder()
            .name("a@@x")
            .cookie("c")
            .start()
            .await
            .unwrap_err();
        assert!(matches!(e, NodeError::Name(_)), "{e}");
    }
}
