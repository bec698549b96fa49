//! One periodic worker in the whole cluster (the periodic singleton of the seeds/002
//! series), through a global name: every node runs a candidate that tries to start the
//! worker under the global name `singleton`; the one that gets the name runs it, the
//! others watch it. When the worker's node dies, the watchers see it go, and one of them
//! takes the name over.
//!
//! ```text
//! cargo run --example singleton -- --name n1@127.0.0.1 --cookie secret
//! cargo run --example singleton -- --name n2@127.0.0.1 --cookie secret --hosts n1@127.0.0.1
//! cargo run --example singleton -- --name n3@127.0.0.1 --cookie secret --hosts n1@127.0.0.1
//! ```
//!
//! One node prints `singleton started on NODE` and then `tick N on NODE` every second; the
//! others print `singleton runs on NODE`. Stop the ticking node: another prints
//! `singleton started on ...` and the ticks go on there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use clap::Parser;
use locus::{Ctx, Node, ServerCtx, Signal, StartError, gen_server};
use serde::{Deserialize, Serialize};

/// The periodic job.
struct Ticker {
    every: Duration,
    count: u64,
}

/// The timer's message.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tick;

#[gen_server]
impl Ticker {
    #[init]
    async fn init(&mut self, ctx: &mut ServerCtx<Self>) {
        ctx.send_after(ctx.pid(), TickerInfo::Tick(Tick), self.every);
    }

    #[info]
    async fn tick(&mut self, _tick: Tick, ctx: &mut ServerCtx<Self>) {
        self.count += 1;
        println!("tick {} on {}", self.count, ctx.node().name());
        ctx.send_after(ctx.pid(), TickerInfo::Tick(Tick), self.every);
    }
}

/// Tries to hold the global name; watches the holder otherwise; tries again when it goes.
async fn candidate(node: Node, every: Duration, mut ctx: Ctx<()>) {
    let mut last_holder = None;
    loop {
        let ticker = Ticker { every, count: 0 };
        let holder = match Ticker::start(&node, ticker)
            .register_global("singleton")
            .await
        {
            Ok(client) => {
                println!("singleton started on {}", node.name());
                client.pid().expect("a started server has a pid")
            }
            Err(StartError::AlreadyStarted(holder)) => {
                if last_holder.as_ref() != Some(&holder) {
                    println!("singleton runs on {}", holder.node());
                }
                holder
            }
            Err(e) => {
                eprintln!("cannot start the singleton: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        // Wait for the holder to end: its exit, or its node's loss.
        ctx.monitor(&holder);
        loop {
            match ctx.recv().await {
                Signal::Down(down) if down.pid == holder => break,
                _ => {}
            }
        }
        if last_holder.as_ref() == Some(&holder) {
            // The same dead holder again: global has not seen it go yet.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        last_holder = Some(holder);
    }
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    node: common::NodeOpts,
    /// How often the singleton ticks, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    every_ms: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let prepared = common::prepare(&args.node).await?;
    let node = prepared.node.clone();
    let _cluster = prepared.join().await?;
    println!("ready {}", node.name());
    let every = Duration::from_millis(args.every_ms.max(10));
    let n = node.clone();
    node.spawn(move |ctx: Ctx<()>| candidate(n, every, ctx));
    common::shutdown_signal().await;
    node.shutdown().await;
    Ok(())
}
