//! The local runtime's figures: call latency percentiles, send throughput, memory per idle
//! process, and a million processes. Each line prints the machine's load beside it.
//!
//! ```text
//! cargo bench --bench local_harness              # full run
//! LOCUS_BENCH_QUICK=1 cargo bench --bench local_harness   # smoke run (small counts)
//! LOCUS_BENCH_ONLY=call cargo bench --bench local_harness  # one section: memory, call, send
//! ```
//!
//! The allocator is mimalloc (set below), as a production binary would choose; the `locus`
//! binary uses it too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use locus::{Ctx, GenServer, Node, Signal};

mod support;
use support::{Echo, load, rss_bytes, runtime};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn quick() -> bool {
    std::env::var_os("LOCUS_BENCH_QUICK").is_some()
}

/// Whether to run `section` (`memory`, `call` or `send`): all of them, unless
/// `LOCUS_BENCH_ONLY` names one (to profile a section alone).
fn wants(section: &str) -> bool {
    std::env::var("LOCUS_BENCH_ONLY").map_or(true, |only| only == section)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn call_latency(node: &Node, calls: usize) {
    let client = Echo::start(node, Echo).await.expect("echo");
    let lat = tokio::spawn(async move {
        for i in 0..calls / 10 {
            let _ = client.call(i as u64).await;
        }
        let mut lat = Vec::with_capacity(calls);
        for i in 0..calls {
            let t = Instant::now();
            let _ = client.call(i as u64).await;
            lat.push(t.elapsed());
        }
        lat
    })
    .await
    .expect("bench task");
    let mut lat = lat;
    lat.sort();
    println!(
        "local call           p50 {:>8.2?}  p99 {:>8.2?}  p99.9 {:>8.2?}  ({} calls)  load {}",
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
        calls,
        load()
    );
}

/// `yield_every`: the producer yields to the scheduler after that many sends (0: never), as
/// the BEAM preempts a producer after its reduction budget. A producer that never yields
/// keeps the consumer off its thread and builds one long queue.
async fn send_throughput(node: &Node, producers: u64, total: u64, yield_every: u64) {
    let per = total / producers;
    let total = per * producers;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let sink = node.spawn(move |mut ctx: Ctx<u64>| async move {
        let mut seen = 0;
        while seen < total {
            if let Signal::Message(_) = ctx.recv().await {
                seen += 1;
            }
        }
        let _ = done_tx.send(());
    });
    let start = Instant::now();
    for _ in 0..producers {
        let sink = sink.clone();
        tokio::spawn(async move {
            for i in 0..per {
                let _ = sink.send(i);
                if yield_every > 0 && i % yield_every == yield_every - 1 {
                    tokio::task::yield_now().await;
                }
            }
        });
    }
    let _ = done_rx.await;
    let el = start.elapsed();
    let pacing = if yield_every == 0 {
        "never yielding".to_owned()
    } else {
        format!("yield every {yield_every}")
    };
    println!(
        "local send           {:>6.1} M msg/s  ({producers} producer{}, {pacing}, {total} messages)  load {}",
        total as f64 / el.as_secs_f64() / 1e6,
        if producers == 1 { "" } else { "s" },
        load()
    );
}

async fn idle_processes(node: &Node, count: usize) {
    let node2 = node.clone();
    let before = rss_bytes();
    let (elapsed, addrs) = tokio::spawn(async move {
        let mut addrs = Vec::with_capacity(count);
        let start = Instant::now();
        for _ in 0..count {
            addrs.push(node2.spawn(|mut ctx: Ctx<()>| async move {
                ctx.recv().await;
            }));
        }
        (start.elapsed(), addrs)
    })
    .await
    .expect("bench task");
    // Let every new process reach its first `recv` before measuring.
    while addrs
        .iter()
        .rev()
        .take(1)
        .any(|a| node.mailbox_len(a.pid()).is_none())
    {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss_bytes();
    let addr_bytes = (count * std::mem::size_of::<locus::Addr<()>>()) as u64;
    println!(
        "spawn {count:>9} idle  {:>8.2?} total, {:>6.0} ns each; memory {:>5} bytes/process  load {}",
        elapsed,
        elapsed.as_nanos() as f64 / count as f64,
        (after.saturating_sub(before).saturating_sub(addr_bytes)) / count as u64,
        load()
    );
    let watches: Vec<_> = addrs.iter().map(|a| node.watch(a.pid())).collect();
    for a in &addrs {
        let _ = a.send(());
    }
    for w in watches {
        w.await;
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this as a test, with nothing
    // to measure.
    if std::env::args().any(|a| a == "--list" || a == "--exact") {
        return;
    }
    let rt = runtime();
    rt.block_on(async {
        let node = Node::builder().start().await.expect("node");
        let q = quick();
        println!(
            "locus local harness ({} mode)",
            if q { "quick" } else { "full" }
        );
        // Memory first, before other phases leave freed memory behind in the allocator.
        if wants("memory") {
            idle_processes(&node, if q { 10_000 } else { 100_000 }).await;
            if !q {
                idle_processes(&node, 1_000_000).await;
            }
        }
        if wants("call") {
            call_latency(&node, if q { 20_000 } else { 1_000_000 }).await;
        }
        if wants("send") {
            let n = if q { 200_000 } else { 20_000_000 };
            send_throughput(&node, 1, n, 256).await;
            send_throughput(&node, 8, n, 256).await;
            send_throughput(&node, 1, n, 0).await;
        }
    });
}
