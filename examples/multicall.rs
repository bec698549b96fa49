//! `:rpc.multicall` from seeds/000: start a service on every node with one call, then ask
//! every node for something and gather the answers on the calling node, with the nodes
//! that could not answer.
//!
//! In three terminals (barry, maurice and robin, as in the seed):
//!
//! ```text
//! cargo run --example multicall -- --name barry@127.0.0.1 --cookie secret
//! cargo run --example multicall -- --name maurice@127.0.0.1 --cookie secret --hosts barry@127.0.0.1
//! cargo run --example multicall -- --name robin@127.0.0.1 --cookie secret --hosts barry@127.0.0.1
//! ```
//!
//! Then, in barry's terminal, type `multicall`:
//!
//! ```text
//! jokes.start on [barry@127.0.0.1, maurice@127.0.0.1, robin@127.0.0.1]: {[ok, ok, ok], []}
//! jokes.fetch: {[
//!   barry@127.0.0.1: "...",
//!   ...
//! ], []}
//! ```
//!
//! Each node computed its own answer; all of them are printed on barry, none on the others.
//! `multicall ghost@127.0.0.1` adds a node that does not run: it comes back as a bad node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use clap::Parser;
use locus::{Node, NodeName, gen_server};

const JOKES: &[&str] = &[
    "There are 10 kinds of people: those who read binary and those who don't.",
    "A SQL query walks into a bar, goes up to two tables and asks: may I join you?",
    "Why do Erlang nodes never get lonely? They always have a cookie to share.",
    "It works on my machine. Then we'll ship your machine.",
    "Real programmers count from 0.",
];

/// The service `jokes.start` starts on each node (the seed starts `:inets` there).
struct Jokes {
    told: usize,
}

#[gen_server]
impl Jokes {
    #[call]
    async fn tell(&mut self) -> String {
        self.told += 1;
        JOKES[self.told % JOKES.len()].to_owned()
    }
}

/// The functions this node offers to `multicall`.
fn offer(node: &Node) {
    node.rpc()
        .register("jokes.start", |node: Node, (): ()| async move {
            match Jokes::start(
                &node,
                Jokes {
                    told: node.name().as_str().len(),
                },
            )
            .register("jokes")
            .await
            {
                // Started now, or already running: both are `:ok` for the caller.
                Ok(_) | Err(locus::StartError::AlreadyStarted(_)) => Ok("ok"),
                Err(e) => Err(e.to_string()),
            }
        });
    node.rpc()
        .register("jokes.fetch", |node: Node, (): ()| async move {
            Jokes::client(&node, "jokes")
                .tell()
                .await
                .map_err(|e| format!("no jokes service here: {e}"))
        });
}

/// Runs both multicalls over this node, its peers and `extra`, printing what comes back.
async fn multicall(node: &Node, extra: &[NodeName]) {
    let mut nodes = vec![node.name().clone()];
    nodes.extend(node.nodes());
    nodes.extend(extra.iter().cloned());
    let timeout = Duration::from_secs(5);
    let names: Vec<String> = nodes.iter().map(ToString::to_string).collect();

    let started = node
        .rpc()
        .multicall::<_, String>(&nodes, "jokes.start", (), timeout)
        .await;
    let oks: Vec<String> = started
        .results
        .iter()
        .map(|(_, r)| match r {
            Ok(v) => v.clone(),
            Err(e) => format!("{{error, {e}}}"),
        })
        .collect();
    println!(
        "jokes.start on [{}]: {{[{}], [{}]}}",
        names.join(", "),
        oks.join(", "),
        join(&started.bad_nodes)
    );

    let fetched = node
        .rpc()
        .multicall::<_, String>(&nodes, "jokes.fetch", (), timeout)
        .await;
    println!("jokes.fetch: {{[");
    for (from, r) in &fetched.results {
        match r {
            Ok(joke) => println!("  {from}: {joke:?},"),
            Err(e) => println!("  {from}: error {e},"),
        }
    }
    println!("], [{}]}}", join(&fetched.bad_nodes));
}

fn join(nodes: &[NodeName]) -> String {
    nodes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
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
    offer(&node);
    let _cluster = prepared.join().await?;
    println!("ready {}", node.name());
    common::commands(|words| {
        let node = &node;
        async move {
            match words[0].as_str() {
                "multicall" => {
                    let extra: Result<Vec<NodeName>, _> =
                        words[1..].iter().map(|w| w.parse()).collect();
                    match extra {
                        Ok(extra) => multicall(node, &extra).await,
                        Err(e) => println!("not a node name: {e}"),
                    }
                }
                other => println!("unknown command {other:?}: try multicall [extra nodes]"),
            }
        }
    })
    .await;
    node.shutdown().await;
    Ok(())
}
