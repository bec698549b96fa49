//! seeds/001's router: an HTTP endpoint answering `GET /` with the node that served the
//! request and the nodes it is connected to, as JSON. Put several behind a load balancer
//! (seeds/000 uses HAProxy, round robin) and refreshing shows a different `current_node`
//! each time, with the same cluster behind it.
//!
//! ```text
//! cargo run --example cluster_status -- --name app1@127.0.0.1 --cookie secret --port 4001
//! cargo run --example cluster_status -- --name app2@127.0.0.1 --cookie secret --port 4002 --hosts app1@127.0.0.1
//! curl -s http://127.0.0.1:4001/
//! {"current_node":"app1@127.0.0.1","connected_nodes":["app2@127.0.0.1"]}
//! ```
//!
//! `PORT` sets the port as in the seed (`PORT=4001 mix run --no-halt`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use locus::Node;
use serde::Serialize;

/// What `GET /` answers.
#[derive(Serialize)]
struct Status {
    current_node: String,
    connected_nodes: Vec<String>,
}

async fn status(State(node): State<Node>) -> Json<Status> {
    Json(Status {
        current_node: node.name().to_string(),
        connected_nodes: node.nodes().iter().map(ToString::to_string).collect(),
    })
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    node: common::NodeOpts,
    /// The HTTP port.
    #[arg(long, env = "PORT", default_value_t = 4001)]
    port: u16,
    /// The HTTP address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    http_host: std::net::IpAddr,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let prepared = common::prepare(&args.node).await?;
    let node = prepared.node.clone();
    let _cluster = prepared.join().await?;
    let app = Router::new()
        .route("/", get(status))
        .with_state(node.clone());
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::new(args.http_host, args.port)).await?;
    println!("ready {} http://{}", node.name(), listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(common::shutdown_signal())
        .await?;
    node.shutdown().await;
    Ok(())
}
