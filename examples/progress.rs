//! The distributed download tracker of the seeds/002 series: a download requested on any
//! node runs on some node of the cluster, and its progress reaches every node through
//! pubsub, so every node's users see every download.
//!
//! ```text
//! cargo run --example progress -- --name n1@127.0.0.1 --cookie secret
//! cargo run --example progress -- --name n2@127.0.0.1 --cookie secret --hosts n1@127.0.0.1
//! cargo run --example progress -- --name n3@127.0.0.1 --cookie secret --hosts n1@127.0.0.1
//! ```
//!
//! Type `download big.iso 5` on any node: the download runs on the next node in turn
//! (`download big.iso 5 on n3@127.0.0.1` picks one), and every node prints
//! `big.iso 20% (on n2@127.0.0.1)` ... `big.iso 100% (on n2@127.0.0.1)`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Parser;
use locus::{Ctx, Node, NodeName, Signal, SpawnRequest};
use serde::{Deserialize, Serialize};

/// The pubsub topic of every download's progress.
const TOPIC: &str = "downloads";

/// One progress report.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Progress {
    file: String,
    done: u32,
    total: u32,
    worker: String,
}

/// What a download worker is started with.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Download {
    file: String,
    chunks: u32,
    chunk_ms: u64,
}

/// The worker kind: "downloads" one chunk at a time and reports each.
fn offer_worker(node: &Node) {
    node.register_kind("download", |req: SpawnRequest<Download>| {
        let job = req.args().clone();
        let node = req.node().clone();
        let addr = req
            .node()
            .spawn_opts(req.opts(), move |_ctx: Ctx<()>| async move {
                let total = job.chunks.max(1);
                for done in 1..=total {
                    tokio::time::sleep(Duration::from_millis(job.chunk_ms)).await;
                    node.pubsub().broadcast(
                        TOPIC,
                        &Progress {
                            file: job.file.clone(),
                            done,
                            total,
                            worker: node.name().to_string(),
                        },
                    );
                }
            })?;
        Ok(addr.pid().clone())
    });
}

/// This node's view: prints every report it gets.
async fn show_progress(mut ctx: Ctx<Progress>) {
    loop {
        if let Signal::Message(p) = ctx.recv().await {
            println!(
                "{} {}% (on {})",
                p.file,
                u64::from(p.done) * 100 / u64::from(p.total),
                p.worker
            );
        }
    }
}

/// Starts a download on `target`, or on the next node in turn.
async fn request(node: &Node, turn: &AtomicUsize, words: &[&str], chunk_ms: u64) -> String {
    let (file, chunks, target) = match words {
        [file, chunks] => (*file, *chunks, None),
        [file, chunks, "on", target] => (*file, *chunks, Some(*target)),
        _ => return "usage: download FILE CHUNKS [on NODE]".into(),
    };
    let Ok(chunks) = chunks.parse::<u32>() else {
        return format!("{chunks:?} is not a number of chunks");
    };
    let target: NodeName = match target {
        Some(t) => match t.parse() {
            Ok(n) => n,
            Err(e) => return e.to_string(),
        },
        None => {
            let mut all = vec![node.name().clone()];
            all.extend(node.nodes());
            all[turn.fetch_add(1, Ordering::Relaxed) % all.len()].clone()
        }
    };
    let job = Download {
        file: file.to_owned(),
        chunks,
        chunk_ms,
    };
    match node.spawn_on(&target, "download", job, None).await {
        Ok(_) => format!("requested {file} on {target}"),
        Err(e) => format!("cannot start {file} on {target}: {e}"),
    }
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    node: common::NodeOpts,
    /// How long one chunk takes, in milliseconds.
    #[arg(long, default_value_t = 500)]
    chunk_ms: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let prepared = common::prepare(&args.node).await?;
    let node = prepared.node.clone();
    offer_worker(&node);
    let viewer = node.spawn(show_progress);
    node.pubsub().subscribe(TOPIC, viewer.pid()).await?;
    let _cluster = prepared.join().await?;
    println!("ready {}", node.name());
    let turn = AtomicUsize::new(0);
    common::commands(|words| {
        let (node, turn) = (&node, &turn);
        async move {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            match words[0] {
                "download" => println!("{}", request(node, turn, &words[1..], args.chunk_ms).await),
                other => println!("unknown command {other:?}: try download FILE CHUNKS"),
            }
        }
    })
    .await;
    node.shutdown().await;
    Ok(())
}
