//! What every example shares: starting a node from the usual settings, and printing lines
//! a reader (or a test) can follow.
//!
//! Every example takes `--name`, `--cookie`, `--epmd-port`, `--hosts` and `--config`; the
//! rest of locus's settings come from `LOCUS_*` variables or the file (see
//! `locus::config`). With `--hosts` (and no other strategy) the node joins those nodes and
//! keeps them connected, as libcluster's Epmd strategy does in the seeds.

#![allow(dead_code)]

use std::path::PathBuf;

use locus::Node;
use locus::cluster::Cluster;
use locus::config::Config;

/// The node settings every example takes.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct NodeOpts {
    /// This node's name, `alive@host` [env: LOCUS_NODE].
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// The cluster's cookie [env: LOCUS_COOKIE].
    #[arg(long)]
    pub(crate) cookie: Option<String>,
    /// The port mapper's port [env: LOCUS_EPMD_PORT].
    #[arg(long)]
    pub(crate) epmd_port: Option<u16>,
    /// Nodes to join, comma-separated [env: LOCUS_HOSTS].
    #[arg(long)]
    pub(crate) hosts: Option<String>,
    /// A TOML file of locus settings [env: LOCUS_CONFIG].
    #[arg(long, env = "LOCUS_CONFIG")]
    pub(crate) config: Option<PathBuf>,
}

/// A started node, not yet in its cluster: set up what peers will call first, then
/// [`join`](Self::join).
pub(crate) struct Prepared {
    pub(crate) node: Node,
    config: Config,
}

impl Prepared {
    /// Starts cluster formation; with `--hosts`, waits (up to 5 s, as seeds/002's
    /// `sync_nodes_timeout`) for those nodes. Keep the result alive: dropping it does not
    /// stop the cluster, but it holds the supervisor's handle.
    pub(crate) async fn join(&self) -> Result<Option<Cluster>, Box<dyn std::error::Error>> {
        match self.config.cluster()? {
            Some(c) => Ok(Some(c.start(&self.node).await?)),
            None => Ok(None),
        }
    }
}

/// Starts the node: file, environment, then these flags; `--hosts` alone means the static
/// strategy, waiting for those nodes at start (`sync_nodes_optional`).
pub(crate) async fn prepare(opts: &NodeOpts) -> Result<Prepared, Box<dyn std::error::Error>> {
    prepare_with(opts, &[]).await
}

/// [`prepare`], with `defaults` for settings neither the file nor the environment gives.
pub(crate) async fn prepare_with(
    opts: &NodeOpts,
    defaults: &[(&str, &str)],
) -> Result<Prepared, Box<dyn std::error::Error>> {
    log_to_stderr();
    let mut config = Config::load(opts.config.as_deref())?;
    for (key, value) in defaults {
        if config.get(key).is_none() {
            config = config.set(key, *value)?;
        }
    }
    if let Some(n) = &opts.name {
        config = config.set("name", n.as_str())?;
    }
    if let Some(c) = &opts.cookie {
        config = config.set("cookie", c.as_str())?;
    }
    if let Some(p) = opts.epmd_port {
        config = config.set("epmd_port", p.to_string())?;
    }
    if let Some(h) = &opts.hosts {
        config = config.set("hosts", h.as_str())?;
        if config.get("strategy").is_none() {
            config = config.set("strategy", "static")?;
            if config.get("sync_optional").is_none() {
                config = config.set("sync_optional", h.as_str())?;
            }
            if config.get("sync_timeout").is_none() {
                config = config.set("sync_timeout", "5s")?;
            }
        }
    }
    if config.get("name").is_none() {
        return Err("give the node a name: --name n1@127.0.0.1 (or LOCUS_NODE)".into());
    }
    let node = config.node_builder()?.start().await?;
    Ok(Prepared { node, config })
}

/// Logs warnings (or what `LOCUS_LOG` asks for, e.g. `LOCUS_LOG=info`) to standard error,
/// as the `locus` command does.
fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOCUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Lines typed on standard input, one at a time.
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The examples' prompt: runs `handle` on each line typed (split into words) until Ctrl-C
/// or SIGTERM. When standard input closes (the example runs in the background), it keeps
/// serving until the signal.
pub(crate) async fn commands<F, Fut>(mut handle: F)
where
    F: FnMut(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut lines = stdin_lines();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            line = lines.recv() => {
                let Some(line) = line else {
                    (&mut shutdown).await;
                    return;
                };
                let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
                if !words.is_empty() {
                    handle(words).await;
                }
            }
            () = &mut shutdown => return,
        }
    }
}

/// Waits for Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
