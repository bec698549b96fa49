//! A call to a `#[gen_server]` server costs what a call to the same server written by hand
//! costs: locally, and across two nodes (in one process, two runtimes).
//!
//! ```text
//! cargo bench --bench macro_call
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use locus::{GenServer, Node, gen_server};

mod support;
use support::{Echo, free_port, runtime};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The macro twin of `support::Echo`.
#[derive(Debug)]
pub struct MacroEcho;

#[gen_server]
impl MacroEcho {
    #[call]
    fn echo(&mut self, n: u64) -> u64 {
        n
    }
}

/// Runs `iters` calls of `f` inside a spawned task; returns the time they took.
fn timed<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, f: F) -> Duration
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..iters {
                f(i).await;
            }
            start.elapsed()
        })
        .await
        .unwrap()
    })
}

fn local(c: &mut Criterion) {
    let rt = runtime();
    let node = rt.block_on(Node::builder().start()).unwrap();
    let hand = rt.block_on(Echo::start(&node, Echo).into_future()).unwrap();
    let mac = rt
        .block_on(MacroEcho::start(&node, MacroEcho).into_future())
        .unwrap();
    let mut g = c.benchmark_group("call_local");
    g.bench_function("hand_written", |b| {
        b.iter_custom(|iters| {
            let hand = hand.clone();
            timed(&rt, iters, move |i| {
                let hand = hand.clone();
                async move {
                    hand.call(i).await.unwrap();
                }
            })
        })
    });
    g.bench_function("gen_server_macro", |b| {
        b.iter_custom(|iters| {
            let mac = mac.clone();
            timed(&rt, iters, move |i| {
                let mac = mac.clone();
                async move {
                    mac.echo(i).await.unwrap();
                }
            })
        })
    });
    g.finish();
}

impl locus::GenServer for Wire {
    type Call = u64;
    type Reply = u64;
    type Cast = ();
    type Info = ();

    fn remote() -> Option<locus::RemoteCodec<Self>> {
        Some(locus::RemoteCodec::serde())
    }

    async fn handle_call(
        &mut self,
        n: u64,
        from: locus::ReplyHandle<u64>,
        _: &mut locus::ServerCtx<Self>,
    ) -> locus::Flow {
        from.reply(n);
        locus::Flow::Continue
    }
}

/// The hand-written server, reachable from other nodes.
#[derive(Debug)]
pub struct Wire;

fn cross_node(c: &mut Criterion) {
    // The server's node on its own runtime, as another process would have its own.
    let server_rt = runtime();
    let client_rt = runtime();
    let epmd = free_port();
    let start = |name: &str| {
        Node::builder()
            .name(format!("{name}@127.0.0.1"))
            .cookie("bench")
            .epmd_port(epmd)
            .start()
    };
    let server = server_rt.block_on(start("server")).unwrap();
    server_rt
        .block_on(Wire::start(&server, Wire).register("hand").into_future())
        .unwrap();
    server_rt
        .block_on(
            MacroEcho::start(&server, MacroEcho)
                .register("macro")
                .into_future(),
        )
        .unwrap();
    let client = client_rt.block_on(start("client")).unwrap();
    client_rt.block_on(client.connect(server.name())).unwrap();
    let hand = Wire::client(&client, ("hand", server.name()));
    let mac = MacroEcho::client(&client, ("macro", server.name()));
    let mut g = c.benchmark_group("call_cross_node");
    g.bench_function("hand_written", |b| {
        b.iter_custom(|iters| {
            let hand = hand.clone();
            timed(&client_rt, iters, move |i| {
                let hand = hand.clone();
                async move {
                    hand.call(i).await.unwrap();
                }
            })
        })
    });
    g.bench_function("gen_server_macro", |b| {
        b.iter_custom(|iters| {
            let mac = mac.clone();
            timed(&client_rt, iters, move |i| {
                let mac = mac.clone();
                async move {
                    mac.echo(i).await.unwrap();
                }
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = local, cross_node
}
criterion_main!(benches);
