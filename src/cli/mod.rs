//! Command-line parsing and the commands. The output formats here are a contract: tests
//! and users parse them.

mod bench;
mod demo;
mod ping;
mod probe;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use locus::config::Config;
use locus::{Node, NodeEvent, NodeName};

#[derive(Parser)]
#[command(
    name = "locus",
    version,
    about = "Erlang-style distributed nodes in Rust"
)]
struct Cli {
    /// Worker threads of this process's runtime, 1 to 1024 (Erlang's `+S`; this beats
    /// TOKIO_WORKER_THREADS). By default one per core the process may use (its CPU
    /// affinity and cgroup quota). Nodes that share a machine's cores keep a short
    /// latency tail with their share of the cores each.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,
    #[command(subcommand)]
    command: Command,
}

/// Settings every command that talks to nodes shares.
#[derive(Args, Clone)]
pub(crate) struct Common {
    /// The cluster's cookie.
    #[arg(long, env = "LOCUS_COOKIE")]
    pub(crate) cookie: Option<String>,
    /// The port mapper's port (every node of a cluster uses the same one).
    #[arg(long, env = "LOCUS_EPMD_PORT", default_value_t = 4369)]
    pub(crate) epmd_port: u16,
    /// A TLS certificate chain, PEM, for a cluster that uses TLS.
    #[arg(long, env = "LOCUS_TLS_CERT")]
    pub(crate) tls_cert: Option<String>,
    /// The key of that certificate, PEM.
    #[arg(long, env = "LOCUS_TLS_KEY")]
    pub(crate) tls_key: Option<String>,
    /// The cluster's CA, PEM.
    #[arg(long, env = "LOCUS_TLS_CA")]
    pub(crate) tls_ca: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node until SIGINT or SIGTERM. Prints `ready NODE`, `nodeup NODE` and
    /// `nodedown NODE REASON`, one per line.
    Node(Box<NodeArgs>),
    /// Print NODE's visible nodes, one per line, sorted.
    Nodes {
        /// The node to ask.
        node: String,
        #[command(flatten)]
        common: Common,
    },
    /// Print `pong` and exit 0 if NODE answers, `pang` and exit 1 if not.
    Ping {
        /// The node to ping.
        node: String,
        #[command(flatten)]
        common: Common,
    },
    /// Call FUNCTION on NODE with ARGS (JSON, default null) and print the result as JSON.
    Rpc {
        /// The node to run it on.
        node: String,
        /// The function's registered name, e.g. `node.self`.
        function: String,
        /// The arguments, as JSON.
        args: Option<String>,
        /// Seconds to wait.
        #[arg(long, default_value_t = 5.0)]
        timeout: f64,
        #[command(flatten)]
        common: Common,
    },
    /// Call FUNCTION on every node of NODE's cluster (NODE included); print
    /// `{"results": [...], "bad_nodes": [...]}`.
    Multicall {
        /// A node of the cluster.
        node: String,
        /// The function's registered name.
        function: String,
        /// The arguments, as JSON.
        args: Option<String>,
        /// Seconds to wait.
        #[arg(long, default_value_t = 5.0)]
        timeout: f64,
        #[command(flatten)]
        common: Common,
    },
    /// List the nodes registered with a host's port mapper (like `epmd -names`).
    Names {
        /// The host whose port mapper to ask.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The port mapper's port.
        #[arg(long, env = "LOCUS_EPMD_PORT", default_value_t = 4369)]
        epmd_port: u16,
    },
    /// Print NODE's introspection snapshot (processes, names, busiest mailboxes, memory,
    /// connections and traffic, global names, groups, node events) as JSON.
    Info {
        /// The node to ask.
        node: String,
        #[command(flatten)]
        common: Common,
    },
    /// Serve a live web dashboard of NODE's cluster (connects as a hidden node).
    #[cfg(feature = "observer")]
    Observer {
        /// A node of the cluster.
        node: String,
        /// Where to serve the page.
        #[arg(long, default_value = "127.0.0.1:4000")]
        listen: std::net::SocketAddr,
        #[command(flatten)]
        common: Common,
    },
    /// Run the port mapper on its own.
    Epmd {
        /// The port to serve.
        #[arg(long, env = "LOCUS_EPMD_PORT", default_value_t = 4369)]
        port: u16,
    },
    /// Measure calls to NODE's `ping` server beside a raw TCP ping-pong floor.
    Bench(bench::BenchArgs),
    /// Run a three-node cluster on this machine and show what it does.
    Demo,
    /// A raw TCP echo server for the bench floor (internal).
    #[command(hide = true, name = "__tcp-echo")]
    TcpEcho {
        /// Busy-poll a non-blocking socket on a thread instead of parking in tokio (the
        /// floor a spinning transport can reach).
        #[arg(long)]
        spin: bool,
    },
}

/// `locus node`: every setting can also come from `LOCUS_<SETTING>` or a `--config` file
/// (flag, then environment, then file, then default).
#[derive(Args)]
struct NodeArgs {
    /// A TOML file of settings, keys as the flags with `_` (`gossip_port = 45892`).
    #[arg(long, env = "LOCUS_CONFIG")]
    config: Option<PathBuf>,
    /// The node's name: `alive@host`, or a short `alive` [env: LOCUS_NODE].
    #[arg(long)]
    name: Option<String>,
    /// The cluster's cookie [env: LOCUS_COOKIE].
    #[arg(long)]
    cookie: Option<String>,
    /// The port mapper's port [env: LOCUS_EPMD_PORT] (default 4369).
    #[arg(long)]
    epmd_port: Option<String>,
    /// Nodes to connect to (retried until they answer).
    #[arg(long = "connect")]
    connect: Vec<String>,
    /// Run hidden: not listed by other nodes, not meshed.
    #[arg(long)]
    hidden: bool,
    /// Speak Erlang distribution with BEAM (Erlang, Elixir) nodes too [env: LOCUS_ERLANG_DIST].
    #[arg(long)]
    erlang_dist: bool,
    /// The protocol of peers dialled where no port mapper tells: auto, locus or erlang
    /// [env: LOCUS_DIST_PROTOCOL].
    #[arg(long)]
    dist_protocol: Option<String>,
    /// Where a port mapper this node serves listens, beside 127.0.0.1 [env: LOCUS_EPMD_ADDRESS].
    #[arg(long)]
    epmd_address: Option<String>,
    /// The address to listen on [env: LOCUS_LISTEN].
    #[arg(long)]
    listen: Option<String>,
    /// A fixed distribution port, without a port mapper [env: LOCUS_DIST_PORT].
    #[arg(long, conflicts_with = "port_range")]
    dist_port: Option<String>,
    /// A range of distribution ports, `A-B` [env: LOCUS_PORT_RANGE].
    #[arg(long, alias = "dist-port-range")]
    port_range: Option<String>,
    /// Seconds of silence before a peer is declared down [env: LOCUS_TICK_TIME].
    #[arg(long)]
    tick_time: Option<String>,
    /// Microseconds each connection keeps polling after traffic before it sleeps; 0 turns
    /// the spin off [env: LOCUS_SPIN_US].
    #[arg(long)]
    spin_us: Option<String>,
    /// This node's TLS certificate chain, PEM [env: LOCUS_TLS_CERT].
    #[arg(long)]
    tls_cert: Option<String>,
    /// This node's TLS private key, PEM [env: LOCUS_TLS_KEY].
    #[arg(long)]
    tls_key: Option<String>,
    /// The CA that peers' certificates chain to, PEM [env: LOCUS_TLS_CA].
    #[arg(long)]
    tls_ca: Option<String>,
    /// Whether accepting nodes require peers' certificates (default true) [env: LOCUS_TLS_MUTUAL].
    #[arg(long)]
    tls_mutual: Option<String>,
    /// Nodes allowed to connect, comma-separated, `*` as a wildcard [env: LOCUS_ALLOW_NODES].
    #[arg(long)]
    allow_nodes: Option<String>,
    /// Addresses or ranges allowed to connect, comma-separated [env: LOCUS_ALLOW_ADDRS].
    #[arg(long)]
    allow_addrs: Option<String>,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Print what a probe process sees of monitors, stale pids and call times (chaos tests).
    #[arg(long, hide = true)]
    chaos_probe: bool,
    /// Hold this global name with a process of this node, or watch its holder and take it
    /// over when it goes (chaos tests).
    #[arg(long, hide = true)]
    global: Option<String>,
}

/// How the node finds its cluster.
#[derive(Args)]
struct ClusterArgs {
    /// static | local-epmd | epmd-hosts | gossip | dns | dns-srv [env: LOCUS_STRATEGY].
    #[arg(long)]
    strategy: Option<String>,
    /// Nodes (static) or hosts (epmd-hosts), comma-separated [env: LOCUS_HOSTS].
    #[arg(long)]
    hosts: Option<String>,
    /// Nodes to wait for at start [env: LOCUS_SYNC_OPTIONAL].
    #[arg(long)]
    sync_optional: Option<String>,
    /// Nodes that must be up at start, or the node fails [env: LOCUS_SYNC_MANDATORY].
    #[arg(long)]
    sync_mandatory: Option<String>,
    /// How long to wait for them (seconds, or 500ms, 2m) [env: LOCUS_SYNC_TIMEOUT].
    #[arg(long)]
    sync_timeout: Option<String>,
    /// How often to discover [env: LOCUS_POLL_INTERVAL].
    #[arg(long)]
    poll_interval: Option<String>,
    /// Gossip multicast group, or broadcast address [env: LOCUS_GOSSIP_ADDR].
    #[arg(long)]
    gossip_addr: Option<String>,
    /// Gossip UDP port [env: LOCUS_GOSSIP_PORT].
    #[arg(long)]
    gossip_port: Option<String>,
    /// Seal heartbeats with this secret [env: LOCUS_GOSSIP_SECRET].
    #[arg(long)]
    gossip_secret: Option<String>,
    /// Address of the interface to gossip on [env: LOCUS_GOSSIP_IF].
    #[arg(long)]
    gossip_if: Option<String>,
    /// Multicast TTL [env: LOCUS_GOSSIP_TTL].
    #[arg(long)]
    gossip_ttl: Option<String>,
    /// Send heartbeats to a broadcast address [env: LOCUS_GOSSIP_BROADCAST].
    #[arg(long)]
    gossip_broadcast: bool,
    /// The DNS name to resolve [env: LOCUS_DNS_QUERY].
    #[arg(long)]
    dns_query: Option<String>,
    /// The `alive` part of discovered nodes (default: this node's) [env: LOCUS_DNS_BASENAME].
    #[arg(long)]
    dns_basename: Option<String>,
    /// A DNS server, `ip` or `ip:port`, instead of the system's [env: LOCUS_DNS_SERVER].
    #[arg(long)]
    dns_server: Option<String>,
}

impl NodeArgs {
    /// The settings: file, then environment, then these flags.
    fn config(&self) -> Result<Config, String> {
        let mut config = Config::load(self.config.as_deref()).map_err(|e| e.to_string())?;
        let c = &self.cluster;
        let flags: [(&str, Option<&String>); 30] = [
            ("tls_cert", self.tls_cert.as_ref()),
            ("tls_key", self.tls_key.as_ref()),
            ("tls_ca", self.tls_ca.as_ref()),
            ("tls_mutual", self.tls_mutual.as_ref()),
            ("allow_nodes", self.allow_nodes.as_ref()),
            ("allow_addrs", self.allow_addrs.as_ref()),
            ("name", self.name.as_ref()),
            ("cookie", self.cookie.as_ref()),
            ("epmd_port", self.epmd_port.as_ref()),
            ("listen", self.listen.as_ref()),
            ("epmd_address", self.epmd_address.as_ref()),
            ("dist_port", self.dist_port.as_ref()),
            ("port_range", self.port_range.as_ref()),
            ("tick_time", self.tick_time.as_ref()),
            ("spin_us", self.spin_us.as_ref()),
            ("dist_protocol", self.dist_protocol.as_ref()),
            ("strategy", c.strategy.as_ref()),
            ("hosts", c.hosts.as_ref()),
            ("sync_optional", c.sync_optional.as_ref()),
            ("sync_mandatory", c.sync_mandatory.as_ref()),
            ("sync_timeout", c.sync_timeout.as_ref()),
            ("poll_interval", c.poll_interval.as_ref()),
            ("gossip_addr", c.gossip_addr.as_ref()),
            ("gossip_port", c.gossip_port.as_ref()),
            ("gossip_secret", c.gossip_secret.as_ref()),
            ("gossip_if", c.gossip_if.as_ref()),
            ("gossip_ttl", c.gossip_ttl.as_ref()),
            ("dns_query", c.dns_query.as_ref()),
            ("dns_basename", c.dns_basename.as_ref()),
            ("dns_server", c.dns_server.as_ref()),
        ];
        for (key, value) in flags {
            if let Some(v) = value {
                config = config.set(key, v.as_str()).map_err(|e| e.to_string())?;
            }
        }
        for (key, on) in [
            ("hidden", self.hidden),
            ("erlang_dist", self.erlang_dist),
            ("gossip_broadcast", c.gossip_broadcast),
        ] {
            if on {
                config = config.set(key, "true").map_err(|e| e.to_string())?;
            }
        }
        if config.get("name").is_none() {
            return Err(
                "no node name: set --name, LOCUS_NODE or name in the configuration file".into(),
            );
        }
        Ok(config)
    }
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOCUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = cli.workers {
        builder.worker_threads(usize::from(n));
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("locus: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Node(args) => run_node(*args).await,
            Command::Nodes { node, common } => nodes(&node, &common).await,
            Command::Ping { node, common } => return ping(&node, &common).await,
            Command::Names { host, epmd_port } => names(&host, epmd_port).await,
            Command::Rpc {
                node,
                function,
                args,
                timeout,
                common,
            } => rpc(&node, &function, args.as_deref(), timeout, &common).await,
            Command::Multicall {
                node,
                function,
                args,
                timeout,
                common,
            } => multicall(&node, &function, args.as_deref(), timeout, &common).await,
            Command::Epmd { port } => epmd(port).await,
            Command::Info { node, common } => info(&node, &common).await,
            #[cfg(feature = "observer")]
            Command::Observer {
                node,
                listen,
                common,
            } => observer(&node, listen, &common).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Demo => demo::run().await,
            Command::TcpEcho { spin: false } => bench::tcp_echo().await,
            Command::TcpEcho { spin: true } => bench::tcp_echo_spinning(),
        }
        .map(|()| ExitCode::SUCCESS)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("locus: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints one line and flushes, so a reader of a pipe sees it at once.
pub(crate) fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Waits for SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

async fn run_node(args: NodeArgs) -> Result<(), String> {
    let config = args.config()?;
    let cluster = config.cluster().map_err(|e| e.to_string())?;
    let node = config
        .node_builder()
        .map_err(|e| e.to_string())?
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let ping = ping::PingServer::start(&node, ping::PingServer::default())
        .register(ping::NAME)
        .await
        .map_err(|e| format!("cannot start the ping server: {e}"))?;
    // Every node's ping server is in the `locus.nodes` process group.
    if let Some(pid) = ping.pid() {
        node.pg()
            .join(ping::GROUP, &pid)
            .await
            .map_err(|e| format!("cannot join the {} group: {e}", ping::GROUP))?;
    }
    if args.chaos_probe {
        probe::start(&node);
    }
    if let Some(name) = &args.global {
        probe::global_candidate(&node, name.clone());
    }
    let mut events = node.node_events();
    // Like Erlang's sync_nodes_*: the node is ready once the nodes it syncs on are up.
    let _cluster = match cluster {
        Some(c) => Some(c.start(&node).await.map_err(|e| e.to_string())?),
        None => None,
    };
    say(format!("ready {}", node.name()));
    // Peers may have connected before the subscription: report them once, then events.
    let mut up: std::collections::HashSet<NodeName> = node.nodes().into_iter().collect();
    for peer in &up {
        say(format!("nodeup {peer}"));
    }
    for peer in args.connect {
        let node = node.clone();
        tokio::spawn(async move { connect_until_up(&node, &peer).await });
    }
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            ev = events.recv() => match ev {
                Some(NodeEvent::Up(n)) => {
                    if up.insert(n.clone()) {
                        say(format!("nodeup {n}"));
                    }
                }
                Some(NodeEvent::Down(n, r)) => {
                    if up.remove(&n) {
                        say(format!("nodedown {n} {r}"));
                    }
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    node.shutdown().await;
    Ok(())
}

/// Connects, retrying with backoff; logs a failure once per kind of failure.
async fn connect_until_up(node: &Node, peer: &str) {
    let mut delay = Duration::from_millis(50);
    let mut last = String::new();
    loop {
        match node.connect(peer).await {
            Ok(()) => return,
            Err(e) => {
                let text = e.to_string();
                if text != last {
                    tracing::warn!(%peer, error = %text, "unable to connect; retrying");
                    last = text;
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// A hidden node for a command that talks to `target`.
pub(crate) async fn tool_node(target: &NodeName, common: &Common) -> Result<Node, String> {
    let mut b = [0u8; 4];
    let _ = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    let name = format!(
        "locus-cli-{}-{}@{}",
        std::process::id(),
        u32::from_be_bytes(b),
        target.host()
    );
    // It speaks Erlang distribution too, so `locus ping` and `locus nodes` reach BEAM nodes.
    let mut builder = Node::builder()
        .name(name)
        .hidden(true)
        .erlang_dist(true)
        .epmd_port(common.epmd_port);
    if let Some(c) = &common.cookie {
        builder = builder.cookie(c);
    }
    match (&common.tls_cert, &common.tls_key, &common.tls_ca) {
        (Some(cert), Some(key), Some(ca)) => {
            let tls = locus::TlsConfig::from_pem_files(cert, key, ca).map_err(|e| e.to_string())?;
            builder = builder.tls(tls);
        }
        (None, None, None) => {}
        _ => return Err("--tls-cert, --tls-key and --tls-ca go together".into()),
    }
    builder.start().await.map_err(|e| e.to_string())
}

fn node_name(text: &str) -> Result<NodeName, String> {
    text.parse::<NodeName>().map_err(|e| e.to_string())
}

async fn nodes(target: &str, common: &Common) -> Result<(), String> {
    let target = node_name(target)?;
    let node = tool_node(&target, common).await?;
    node.connect(&target).await.map_err(|e| e.to_string())?;
    let list = node.nodes_of(&target).await.map_err(|e| e.to_string())?;
    for n in list {
        say(n);
    }
    node.shutdown().await;
    Ok(())
}

async fn ping(target: &str, common: &Common) -> Result<ExitCode, String> {
    let target = node_name(target)?;
    let node = tool_node(&target, common).await?;
    let ok = node.ping(&target).await;
    say(if ok { "pong" } else { "pang" });
    node.shutdown().await;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn names(host: &str, epmd_port: u16) -> Result<(), String> {
    let list = locus::epmd::names(host, epmd_port)
        .await
        .map_err(|e| e.to_string())?;
    say(format!(
        "epmd: up and running on port {epmd_port} with data:"
    ));
    for r in list {
        say(format!("name {} at port {}", r.name, r.port));
    }
    Ok(())
}

async fn epmd(port: u16) -> Result<(), String> {
    tokio::select! {
        r = locus::epmd::serve(port) => r.map_err(|e| format!("cannot serve the port mapper on port {port}: {e}")),
        () = shutdown_signal() => Ok(()),
    }
}

async fn info(target: &str, common: &Common) -> Result<(), String> {
    let target = node_name(target)?;
    let node = tool_node(&target, common).await?;
    let result = node
        .rpc()
        .call::<_, locus::introspect::NodeInfo>(&target, "locus.info", (), Duration::from_secs(5))
        .await;
    node.shutdown().await;
    let info = result.map_err(|e| format!("info from {target}: {e}"))?;
    say(serde_json::to_string_pretty(&info).map_err(|e| e.to_string())?);
    Ok(())
}

#[cfg(feature = "observer")]
async fn observer(
    target: &str,
    listen: std::net::SocketAddr,
    common: &Common,
) -> Result<(), String> {
    let target = node_name(target)?;
    let node = tool_node(&target, common).await?;
    let dashboard = locus::observer::serve(
        &node,
        listen,
        locus::observer::Options::from_outside(target.clone()),
    )
    .await
    .map_err(|e| format!("cannot serve on {listen}: {e}"))?;
    say(format!(
        "observing {target} at http://{}",
        dashboard.local_addr()
    ));
    shutdown_signal().await;
    drop(dashboard);
    node.shutdown().await;
    Ok(())
}

fn json_args(args: Option<&str>) -> Result<serde_json::Value, String> {
    match args {
        None => Ok(serde_json::Value::Null),
        Some(text) => serde_json::from_str(text).map_err(|e| format!("ARGS is not JSON: {e}")),
    }
}

fn seconds(t: f64) -> Result<Duration, String> {
    if t.is_finite() && t > 0.0 {
        Ok(Duration::from_secs_f64(t))
    } else {
        Err(format!("--timeout {t}: use a positive number of seconds"))
    }
}

async fn rpc(
    target: &str,
    function: &str,
    args: Option<&str>,
    timeout: f64,
    common: &Common,
) -> Result<(), String> {
    let target = node_name(target)?;
    let args = json_args(args)?;
    let timeout = seconds(timeout)?;
    let node = tool_node(&target, common).await?;
    let result: Result<serde_json::Value, _> =
        node.rpc().call(&target, function, args, timeout).await;
    node.shutdown().await;
    let value = result.map_err(|e| format!("rpc {function} on {target}: {e}"))?;
    say(value);
    Ok(())
}

async fn multicall(
    target: &str,
    function: &str,
    args: Option<&str>,
    timeout: f64,
    common: &Common,
) -> Result<(), String> {
    let target = node_name(target)?;
    let args = json_args(args)?;
    let timeout = seconds(timeout)?;
    let node = tool_node(&target, common).await?;
    node.connect(&target).await.map_err(|e| e.to_string())?;
    let mut nodes = vec![target.clone()];
    nodes.extend(node.nodes_of(&target).await.map_err(|e| e.to_string())?);
    let out = node
        .rpc()
        .multicall::<_, serde_json::Value>(&nodes, function, args, timeout)
        .await;
    node.shutdown().await;
    let results: Vec<serde_json::Value> = out
        .results
        .into_iter()
        .map(|(n, r)| match r {
            Ok(v) => serde_json::json!({ "node": n.to_string(), "ok": v }),
            Err(e) => serde_json::json!({ "node": n.to_string(), "error": e.to_string() }),
        })
        .collect();
    let bad: Vec<String> = out.bad_nodes.iter().map(ToString::to_string).collect();
    say(serde_json::json!({ "results": results, "bad_nodes": bad }));
    Ok(())
}
