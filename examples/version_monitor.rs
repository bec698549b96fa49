//! The application version monitor of the seeds/002 series: every node says which version
//! of the application it runs, and a monitor on every node reports the versions in the
//! cluster whenever they change: uniform, or mixed while a rolling deploy is under way.
//!
//! ```text
//! cargo run --example version_monitor -- --name n1@127.0.0.1 --cookie secret --app-version 1.0.0
//! cargo run --example version_monitor -- --name n2@127.0.0.1 --cookie secret --app-version 1.0.0 --hosts n1@127.0.0.1
//! ```
//!
//! Both print `versions: 1.0.0 on [n1@127.0.0.1, n2@127.0.0.1] -- uniform`. Start
//! `n3@127.0.0.1` with `--app-version 1.1.0` and they print
//! `versions: 1.0.0 on [n1@127.0.0.1, n2@127.0.0.1]; 1.1.0 on [n3@127.0.0.1] -- MIXED`;
//! restart n1 and n2 on 1.1.0, one at a time, and the report becomes uniform again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use locus::{Ctx, Node, Signal};

/// The rpc function every node answers with its version.
const VERSION_FN: &str = "app.version";

/// The versions in the cluster, and which nodes run each.
async fn survey(node: &Node) -> BTreeMap<String, Vec<String>> {
    let mut nodes = vec![node.name().clone()];
    nodes.extend(node.nodes());
    let answers = node
        .rpc()
        .multicall::<_, String>(&nodes, VERSION_FN, (), Duration::from_secs(2))
        .await;
    let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (from, answer) in answers.results {
        let version = answer.unwrap_or_else(|e| format!("unknown ({e})"));
        versions.entry(version).or_default().push(from.to_string());
    }
    for list in versions.values_mut() {
        list.sort();
    }
    versions
}

fn report(versions: &BTreeMap<String, Vec<String>>) -> String {
    let parts: Vec<String> = versions
        .iter()
        .map(|(v, nodes)| format!("{v} on [{}]", nodes.join(", ")))
        .collect();
    let verdict = if versions.len() > 1 {
        "MIXED"
    } else {
        "uniform"
    };
    format!("versions: {} -- {verdict}", parts.join("; "))
}

/// Surveys at start, at every node up or down, and every `every`; prints changes.
async fn monitor(node: Node, every: Duration, mut ctx: Ctx<()>) {
    ctx.monitor_nodes(true);
    let mut last = String::new();
    loop {
        let now = report(&survey(&node).await);
        if now != last {
            println!("{now}");
            last = now;
        }
        // A node event, or the periodic check (a node may answer only once it has started).
        let _ = tokio::time::timeout(every, async {
            loop {
                if matches!(ctx.recv().await, Signal::NodeUp(_) | Signal::NodeDown(..)) {
                    return;
                }
            }
        })
        .await;
    }
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    node: common::NodeOpts,
    /// The version this node runs.
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    app_version: String,
    /// How often to check besides node events, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    every_ms: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let prepared = common::prepare(&args.node).await?;
    let node = prepared.node.clone();
    let version = args.app_version.clone();
    node.rpc().register(VERSION_FN, move |_node: Node, (): ()| {
        let version = version.clone();
        async move { Ok::<_, String>(version) }
    });
    let _cluster = prepared.join().await?;
    println!("ready {} running {}", node.name(), args.app_version);
    let every = Duration::from_millis(args.every_ms.max(10));
    let n = node.clone();
    node.spawn(move |ctx: Ctx<()>| monitor(n, every, ctx));
    common::shutdown_signal().await;
    node.shutdown().await;
    Ok(())
}
