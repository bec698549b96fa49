//! A custom cluster strategy: nodes register with an HTTP service registry and connect to
//! the instances it lists, the shape of libcluster's Cloud Foundry Eureka strategy (each
//! poll renews this node's registration, then reads the application's instances).
//!
//! Run a registry and two nodes, each in its own terminal:
//!
//! ```text
//! cargo run --example registry_cluster -- registry --listen 127.0.0.1:8761
//! cargo run --example registry_cluster -- node --name a@127.0.0.1 --registry http://127.0.0.1:8761
//! cargo run --example registry_cluster -- node --name b@127.0.0.1 --registry http://127.0.0.1:8761
//! ```
//!
//! Each node prints `ready NAME`, then `nodeup NAME` / `nodedown NAME REASON` lines. A node
//! that stops renewing (killed) leaves the registry when its lease runs out, and is pruned.
//!
//! The registry speaks a subset of Eureka's REST API: `POST /eureka/apps/{APP}` with
//! `{"instance": {...}}` registers or renews an instance, `GET /eureka/apps/{APP}` lists
//! `{"application": {"name", "instance": [...]}}`. Against a real Eureka, only the
//! [`Registry`] client below would be pointed elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use clap::{Parser, Subcommand};
use locus::cluster::{Cluster, Discover, Polling};
use locus::{Node, NodeEvent, NodeName};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// One instance, as Eureka describes it (the fields this strategy uses).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Instance {
    instance_id: String,
    app: String,
    ip_addr: String,
    status: String,
    /// The locus node name travels in the instance metadata.
    metadata: HashMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Registration {
    instance: Instance,
}

#[derive(Debug, Serialize, Deserialize)]
struct AppResponse {
    application: Application,
}

#[derive(Debug, Serialize, Deserialize)]
struct Application {
    name: String,
    instance: Vec<Instance>,
}

/// The strategy: a [`Discover`] that renews this node's registration, then lists the app.
struct Registry {
    client: reqwest::Client,
    base: String,
    app: String,
}

impl Registry {
    fn new(base: &str, app: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("an HTTP client"),
            base: base.trim_end_matches('/').to_owned(),
            app: app.to_owned(),
        }
    }

    fn url(&self) -> String {
        format!("{}/eureka/apps/{}", self.base, self.app)
    }
}

impl Discover for Registry {
    async fn discover(&self, node: &Node) -> Result<Vec<NodeName>, String> {
        let me = Instance {
            instance_id: node.name().to_string(),
            app: self.app.clone(),
            ip_addr: node.name().host().to_owned(),
            status: "UP".into(),
            metadata: HashMap::from([("node".to_owned(), node.name().to_string())]),
        };
        self.client
            .post(self.url())
            .json(&Registration { instance: me })
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("cannot register with {}: {e}", self.base))?;
        let listed: AppResponse = self
            .client
            .get(self.url())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("cannot list {} at {}: {e}", self.app, self.base))?
            .json()
            .await
            .map_err(|e| format!("unexpected answer from {}: {e}", self.base))?;
        Ok(listed
            .application
            .instance
            .iter()
            .filter(|i| i.status == "UP")
            .filter_map(|i| i.metadata.get("node")?.parse().ok())
            .collect())
    }
}

/// An app's instances by id, each with the time its lease runs out.
type Instances = HashMap<String, (Instance, Instant)>;

/// The registry's state: instances per app.
#[derive(Clone, Default)]
struct Leases {
    apps: Arc<Mutex<HashMap<String, Instances>>>,
    lease: Duration,
}

async fn register(
    State(leases): State<Leases>,
    Path(app): Path<String>,
    Json(reg): Json<Registration>,
) {
    let until = Instant::now() + leases.lease;
    leases
        .apps
        .lock()
        .entry(app)
        .or_default()
        .insert(reg.instance.instance_id.clone(), (reg.instance, until));
}

async fn list(State(leases): State<Leases>, Path(app): Path<String>) -> Json<AppResponse> {
    let now = Instant::now();
    let mut apps = leases.apps.lock();
    let instances = apps.entry(app.clone()).or_default();
    instances.retain(|_, (_, until)| *until > now);
    let mut instance: Vec<Instance> = instances.values().map(|(i, _)| i.clone()).collect();
    instance.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    Json(AppResponse {
        application: Application {
            name: app,
            instance,
        },
    })
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the registry.
    Registry {
        #[arg(long, default_value = "127.0.0.1:8761")]
        listen: SocketAddr,
        /// Seconds an instance stays listed without renewing.
        #[arg(long, default_value_t = 30.0)]
        lease: f64,
    },
    /// Run a node that clusters through the registry.
    Node {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "secret-cookie")]
        cookie: String,
        #[arg(long, default_value_t = 4369)]
        epmd_port: u16,
        /// One fixed distribution port for every node, without a port mapper.
        #[arg(long)]
        dist_port: Option<u16>,
        #[arg(long)]
        registry: String,
        #[arg(long, default_value = "my-clustered-app")]
        app: String,
        /// Seconds between polls (libcluster-cloud-foundry polls every 10).
        #[arg(long, default_value_t = 10.0)]
        interval: f64,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Cli::parse().command {
        Command::Registry { listen, lease } => {
            let leases = Leases {
                lease: Duration::from_secs_f64(lease),
                ..Leases::default()
            };
            let app = Router::new()
                .route("/eureka/apps/{app}", get(list).post(register))
                .with_state(leases);
            let listener = tokio::net::TcpListener::bind(listen).await?;
            println!("registry listening on http://{}", listener.local_addr()?);
            axum::serve(listener, app).await?;
        }
        Command::Node {
            name,
            cookie,
            epmd_port,
            dist_port,
            registry,
            app,
            interval,
        } => {
            let mut builder = Node::builder()
                .name(name)
                .cookie(cookie)
                .epmd_port(epmd_port);
            if let Some(port) = dist_port {
                builder = builder.dist_port(port);
            }
            let node = builder.start().await?;
            let mut events = node.node_events();
            let strategy = Polling::new(Registry::new(&registry, &app))
                .interval(Duration::from_secs_f64(interval))
                // As the Eureka strategy: instances that leave the registry are dropped.
                .prune(true);
            let _cluster = Cluster::builder()
                .topology("registry", strategy)
                .start(&node)
                .await?;
            println!("ready {}", node.name());
            while let Some(ev) = events.recv().await {
                match ev {
                    NodeEvent::Up(n) => println!("nodeup {n}"),
                    NodeEvent::Down(n, reason) => println!("nodedown {n} {reason}"),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}
