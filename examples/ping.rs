//! `SimpleCluster.Ping` from seeds/002: a server registered as `ping` on every node, and
//! `ping` (typed at the prompt) calls it on every node of `Node.list`.
//!
//! In two terminals:
//!
//! ```text
//! cargo run --example ping -- --name n1@127.0.0.1 --cookie secret
//! cargo run --example ping -- --name n2@127.0.0.1 --cookie secret --hosts n1@127.0.0.1
//! ```
//!
//! Type `ping` in n1's terminal and press Enter. n1 prints
//! `[{ok, n2@127.0.0.1, pong}]`, and n2 prints `--- Receiving ping from <pid>`, as
//! `GenServer.call({SimpleCluster.Ping, node}, :ping)` does in Elixir. `nodes` prints
//! `Node.list`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clap::Parser;
use locus::{Node, ReplyHandle, ServerCtx, gen_server};
use serde::{Deserialize, Serialize};

/// What a ping answers: `{:ok, node(), :pong}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pong {
    node: String,
    pong: String,
}

/// The ping server (no state).
struct Ping;

#[gen_server]
impl Ping {
    #[call]
    async fn ping(&mut self, reply: ReplyHandle<Pong>, ctx: &mut ServerCtx<Self>) {
        // `from` in Elixir: who is calling.
        let from = reply
            .caller()
            .map_or_else(|| "a client".to_owned(), |pid| pid.to_string());
        println!("--- Receiving ping from {from}");
        let node = ctx.node().name().to_string();
        reply.reply(Pong {
            node,
            pong: "pong".into(),
        });
    }
}

/// `SimpleCluster.Ping.ping/0`: calls every connected node's `ping` server.
async fn ping_all(node: &Node) -> Vec<String> {
    let mut answers = Vec::new();
    for peer in node.nodes() {
        let answer = match Ping::client(node, ("ping", &peer)).ping().await {
            Ok(p) => format!("{{ok, {}, {}}}", p.node, p.pong),
            Err(e) => format!("{{error, {peer}, {e}}}"),
        };
        answers.push(answer);
    }
    answers
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
    Ping::start(&node, Ping).register("ping").await?;
    let _cluster = prepared.join().await?;
    println!("ready {}", node.name());
    common::commands(|words| {
        let node = &node;
        async move {
            match words[0].as_str() {
                "ping" => println!("[{}]", ping_all(node).await.join(", ")),
                "nodes" => {
                    let list: Vec<String> = node.nodes().iter().map(ToString::to_string).collect();
                    println!("[{}]", list.join(", "));
                }
                other => println!("unknown command {other:?}: try ping or nodes"),
            }
        }
    })
    .await;
    node.shutdown().await;
    Ok(())
}
