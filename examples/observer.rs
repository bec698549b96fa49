//! A process that logs every node joining or leaving the cluster (seeds/002's
//! `SimpleCluster.Observer`, which calls `:net_kernel.monitor_nodes(true)`).
//!
//! In three terminals:
//!
//! ```text
//! cargo run --example observer -- --name n1@127.0.0.1 --cookie secret
//! cargo run --example observer -- --name n2@127.0.0.1 --cookie secret --hosts n1@127.0.0.1
//! ```
//!
//! n1 prints `--- Node up: n2@127.0.0.1`; stop n2 (Ctrl-C) and n1 prints
//! `--- Node down: n2@127.0.0.1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clap::Parser;
use locus::{ServerCtx, Signal, gen_server};

/// Logs node events; holds no state.
struct Observer;

#[gen_server(local)]
impl Observer {
    #[init]
    async fn init(&mut self, ctx: &mut ServerCtx<Self>) {
        // :net_kernel.monitor_nodes(true)
        ctx.monitor_nodes(true);
    }

    #[info]
    async fn node_event(&mut self, signal: Signal<ObserverInfo>) {
        match signal {
            Signal::NodeUp(node) => println!("--- Node up: {node}"),
            Signal::NodeDown(node, _reason) => println!("--- Node down: {node}"),
            _ => {}
        }
    }
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    node: common::NodeOpts,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let prepared = common::prepare(&args.node).await?;
    let node = prepared.node.clone();
    Observer::start(&node, Observer).await?;
    let _cluster = prepared.join().await?;
    println!("ready {}", node.name());
    common::shutdown_signal().await;
    node.shutdown().await;
    Ok(())
}
