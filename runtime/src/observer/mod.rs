//! The cluster dashboard (Erlang's `:observer`, Phoenix LiveDashboard): a web page that
//! shows, live, the cluster's nodes as a graph with each connection's traffic, and per node
//! its processes, names, busiest mailboxes, memory, global names, process groups and node
//! events.
//!
//! The data comes from the nodes themselves: every second the observer asks each node for
//! its [`NodeInfo`] (the built-in rpc `locus.info`), starting from one node and following
//! its connections, and pushes a snapshot to the page over server-sent events. The page is
//! self-contained (no CDN, no framework) and bounded: one row per node, the busiest
//! processes only, so it stays usable with 100 nodes and 100,000 processes.
//!
//! `locus observer NODE` runs it from a hidden node; a node can serve it itself with
//! [`NodeBuilder::observer`](crate::NodeBuilder::observer) or [`serve`].
//!
//! ```no_run
//! use locus::Node;
//! use locus::observer::{Options, serve};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder().name("a@127.0.0.1").start().await?;
//! let dashboard = serve(&node, "127.0.0.1:4000".parse()?, Options::default()).await?;
//! println!("open http://{}", dashboard.local_addr());
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::introspect::NodeInfo;
use crate::kernel::{NodeBuilder, NodeError, OnStart};
use crate::node::{Node, NodeName};

impl NodeBuilder {
    /// Serves the cluster dashboard on `addr` once the node runs (see
    /// [`observer`](crate::observer)); it runs as long as the process.
    pub fn observer(self, addr: SocketAddr) -> Self {
        self.on_start(OnStart(Arc::new(move |node: Node| {
            Box::pin(async move {
                serve(&node, addr, Options::default())
                    .await
                    .map_err(|e| NodeError::Config {
                        setting: "observer",
                        problem: format!("cannot serve the dashboard on {addr}: {e}"),
                    })?
                    .detach();
                Ok(())
            })
        })))
    }
}

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// How the observer finds and samples the cluster.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The node to start from (default: the serving node itself).
    pub seed: Option<NodeName>,
    /// Whether the serving node is shown (not for a hidden observer node).
    pub include_self: bool,
    /// How often each node is sampled.
    pub interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seed: None,
            include_self: true,
            interval: Duration::from_secs(1),
        }
    }
}

impl Options {
    /// Observe the cluster of `seed` from a node that is not part of it.
    pub fn from_outside(seed: NodeName) -> Self {
        Self {
            seed: Some(seed),
            include_self: false,
            ..Self::default()
        }
    }
}

/// A running dashboard; it stops when dropped (or [`detach`](Self::detach)ed to run as long
/// as the process).
#[derive(Debug)]
pub struct Dashboard {
    addr: SocketAddr,
    stop: Option<tokio_util::sync::DropGuard>,
}

impl Dashboard {
    /// Where the page is served.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Keeps serving after this handle is dropped.
    pub fn detach(mut self) {
        if let Some(guard) = self.stop.take() {
            let _ = guard.disarm();
        }
    }
}

/// Serves the dashboard on `listen`; returns once it is listening.
///
/// # Errors
///
/// The address cannot be bound.
pub async fn serve(node: &Node, listen: SocketAddr, opts: Options) -> std::io::Result<Dashboard> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let (tx, rx) = watch::channel(Arc::new(String::from("{}")));
    tokio::spawn(sample_loop(node.clone(), opts, tx, stop.clone()));
    let app = Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route(
            "/app.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], APP_JS) }),
        )
        .route(
            "/app.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], APP_CSS) }),
        )
        .route("/snapshot", get(snapshot))
        .route("/events", get(events))
        .with_state(rx);
    let shutdown = stop.clone();
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "the observer's HTTP server stopped");
        }
    });
    tracing::info!(%addr, "observer dashboard listening");
    Ok(Dashboard {
        addr,
        stop: Some(stop.drop_guard()),
    })
}

type Snapshots = watch::Receiver<Arc<String>>;

async fn snapshot(State(rx): State<Snapshots>) -> impl IntoResponse {
    let body = rx.borrow().to_string();
    ([(header::CONTENT_TYPE, "application/json")], body)
}

async fn events(
    State(rx): State<Snapshots>,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    // The current snapshot at once, then each new one.
    let first = rx.borrow().clone();
    let stream = futures::stream::once(async move { Ok(Event::default().data(first.as_str())) })
        .chain(futures::stream::unfold(rx, |mut rx| async move {
            rx.changed().await.ok()?;
            let next = rx.borrow_and_update().clone();
            Some((Ok(Event::default().data(next.as_str())), rx))
        }));
    Sse::new(stream).keep_alive(KeepAlive::default())
}

use futures::StreamExt;

/// What the page gets each second.
#[derive(Debug, Serialize)]
struct Snapshot {
    at_ms: u64,
    observer: String,
    nodes: Vec<NodeView>,
    edges: Vec<Edge>,
}

#[derive(Debug, Serialize)]
struct NodeView {
    name: String,
    state: &'static str,
    info: Option<NodeInfo>,
}

#[derive(Debug, Serialize)]
struct Edge {
    a: String,
    b: String,
    frames_per_s: f64,
    bytes_per_s: f64,
}

/// Samples the cluster every interval and publishes snapshots.
async fn sample_loop(
    node: Node,
    opts: Options,
    tx: watch::Sender<Arc<String>>,
    stop: CancellationToken,
) {
    let seed = opts.seed.clone().unwrap_or_else(|| node.name().clone());
    // Every node ever seen: a node that stops answering is shown down, not forgotten.
    let mut known: BTreeMap<NodeName, Option<NodeInfo>> = BTreeMap::new();
    known.insert(seed, None);
    if opts.include_self {
        known.insert(node.name().clone(), None);
    }
    let mut last: HashMap<(NodeName, NodeName), (u64, u64, Instant)> = HashMap::new();
    loop {
        let names: Vec<NodeName> = known.keys().cloned().collect();
        let fetches = names.iter().map(|n| fetch(&node, n));
        let infos = futures::future::join_all(fetches).await;
        for (name, info) in names.into_iter().zip(infos) {
            if let Some(info) = &info {
                for c in info.connections.iter().filter(|c| !c.hidden) {
                    if c.peer != *node.name() || opts.include_self {
                        known.entry(c.peer.clone()).or_insert(None);
                    }
                }
            }
            known.insert(name, info);
        }
        let snapshot = build(&node, &known, &mut last);
        let _ = tx.send(Arc::new(
            serde_json::to_string(&snapshot).unwrap_or_default(),
        ));
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(opts.interval) => {}
        }
    }
}

/// One node's info: this node's directly, another's through rpc.
async fn fetch(node: &Node, name: &NodeName) -> Option<NodeInfo> {
    if name == node.name() {
        return Some(node.info());
    }
    node.rpc()
        .call::<_, NodeInfo>(name, "locus.info", (), Duration::from_secs(2))
        .await
        .ok()
}

fn build(
    node: &Node,
    known: &BTreeMap<NodeName, Option<NodeInfo>>,
    last: &mut HashMap<(NodeName, NodeName), (u64, u64, Instant)>,
) -> Snapshot {
    let now = Instant::now();
    let mut edges: BTreeMap<(String, String), Edge> = BTreeMap::new();
    for (name, info) in known {
        let Some(info) = info else { continue };
        for c in info
            .connections
            .iter()
            .filter(|c| !c.hidden && known.contains_key(&c.peer))
        {
            let frames = c.frames_in + c.frames_out;
            let bytes = c.bytes_in + c.bytes_out;
            let key = (name.clone(), c.peer.clone());
            let (fps, bps) = match last.insert(key, (frames, bytes, now)) {
                Some((f0, b0, t0)) if frames >= f0 && bytes >= b0 => {
                    let dt = now.duration_since(t0).as_secs_f64().max(0.001);
                    ((frames - f0) as f64 / dt, (bytes - b0) as f64 / dt)
                }
                _ => (0.0, 0.0),
            };
            let (a, b) = if name < &c.peer {
                (name.to_string(), c.peer.to_string())
            } else {
                (c.peer.to_string(), name.to_string())
            };
            // Each end reports the same connection; keep the busier view.
            let e = edges.entry((a.clone(), b.clone())).or_insert(Edge {
                a,
                b,
                frames_per_s: 0.0,
                bytes_per_s: 0.0,
            });
            e.frames_per_s = e.frames_per_s.max(fps);
            e.bytes_per_s = e.bytes_per_s.max(bps);
        }
    }
    Snapshot {
        at_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        observer: node.name().to_string(),
        nodes: known
            .iter()
            .map(|(name, info)| NodeView {
                name: name.to_string(),
                state: if info.is_some() { "up" } else { "down" },
                info: info.clone(),
            })
            .collect(),
        edges: edges.into_values().collect(),
    }
}
