//! Criterion benches of the local runtime: send throughput, call round trip, spawn + exit.
//!
//! ```text
//! cargo bench --bench local
//! ```
//!
//! Every measurement runs inside a spawned task, as application code does; the figures the
//! issue asks for (percentiles, memory, a million processes) come from `local_harness`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use locus::{Ctx, GenServer, Node, Signal};

mod support;
use support::{Echo, runtime};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sends `n` messages from `producers` tasks to one process; returns the time until the
/// process has received them all.
async fn send_burst(node: &Node, producers: u64, n: u64) -> Duration {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let total = producers * n;
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
            for i in 0..n {
                let _ = sink.send(i);
            }
        });
    }
    let _ = done_rx.await;
    start.elapsed()
}

fn send_throughput(c: &mut Criterion) {
    let rt = runtime();
    let node = rt.block_on(Node::builder().start()).expect("node");
    let mut group = c.benchmark_group("local_send");
    for producers in [1u64, 8] {
        group.throughput(Throughput::Elements(100_000));
        group.bench_with_input(
            BenchmarkId::new("producers", producers),
            &producers,
            |b, &p| {
                b.iter_custom(|iters| {
                    let node = node.clone();
                    rt.block_on(async move {
                        tokio::spawn(async move {
                            let mut total = Duration::ZERO;
                            for _ in 0..iters {
                                total += send_burst(&node, p, 100_000 / p).await;
                            }
                            total
                        })
                        .await
                        .expect("bench task")
                    })
                });
            },
        );
    }
    group.finish();
}

fn call_round_trip(c: &mut Criterion) {
    let rt = runtime();
    let node = rt.block_on(Node::builder().start()).expect("node");
    let client = rt
        .block_on(Echo::start(&node, Echo).into_future())
        .expect("echo");
    c.bench_function("local_call", |b| {
        b.iter_custom(|iters| {
            let client = client.clone();
            rt.block_on(async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for i in 0..iters {
                        let _ = client.call(i).await;
                    }
                    start.elapsed()
                })
                .await
                .expect("bench task")
            })
        });
    });
}

fn spawn_and_exit(c: &mut Criterion) {
    let rt = runtime();
    let node = rt.block_on(Node::builder().start()).expect("node");
    c.bench_function("spawn_and_exit", |b| {
        b.iter_custom(|iters| {
            let node = node.clone();
            rt.block_on(async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let p = node.spawn(|_: Ctx<()>| async {});
                        node.watch(p.pid()).await;
                    }
                    start.elapsed()
                })
                .await
                .expect("bench task")
            })
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = send_throughput, call_round_trip, spawn_and_exit
}
criterion_main!(benches);
