//! Where a cross-node message's cost goes, counted rather than timed: allocations and bytes
//! allocated per call and per cast (both nodes in this process, so both ends are counted;
//! counted by dhat),
//! and the system calls per call and per cast of a `locus node` in another process (run
//! this under `strace -c -f -p <pid>`, as BENCHMARKS.md shows).
//!
//! ```text
//! cargo bench --bench dist_profile
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use locus::{Node, gen_server};
use serde_bytes::ByteBuf;

mod support;
use support::{free_port, runtime};

/// The shape of `locus node`'s ping server: echo a payload, count casts.
#[derive(Default)]
struct PingServer {
    casts: u64,
}

#[gen_server]
impl PingServer {
    #[call]
    fn ping(&mut self, payload: ByteBuf) -> ByteBuf {
        payload
    }

    #[call]
    fn casts(&mut self) -> u64 {
        self.casts
    }

    #[cast]
    fn count(&mut self, payload: ByteBuf) {
        let _ = payload;
        self.casts += 1;
    }
}

/// dhat's counting allocator: the bench reads its totals before and after each phase.
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn counts() -> (u64, u64) {
    let s = dhat::HeapStats::get();
    (s.total_blocks, s.total_bytes)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--exact") {
        return;
    }
    let _profiler = dhat::Profiler::builder().testing().build();
    runtime().block_on(async {
        tokio::spawn(async {
            let epmd = free_port();
            let start = |name: &'static str| {
                Node::builder()
                    .name(name)
                    .cookie("profile")
                    .epmd_port(epmd)
                    .start()
            };
            let a = start("a@127.0.0.1").await.unwrap();
            let b = start("b@127.0.0.1").await.unwrap();
            PingServer::start(&b, PingServer::default())
                .register("ping")
                .await
                .unwrap();
            a.connect(b.name()).await.unwrap();
            let client = PingServer::client(&a, ("ping", b.name()));
            let body = ByteBuf::from(vec![0xa5u8; 32]);
            for _ in 0..1000 {
                client.ping(body.clone()).await.unwrap();
            }
            let n = 20_000u64;
            let (a0, b0) = counts();
            for _ in 0..n {
                client.ping(body.clone()).await.unwrap();
            }
            let (a1, b1) = counts();
            println!(
                "call 32 B, both ends: {:.1} allocations, {:.0} bytes allocated per call",
                (a1 - a0) as f64 / n as f64,
                (b1 - b0) as f64 / n as f64
            );
            let before = client.casts().await.unwrap();
            let n = 200_000u64;
            let (a0, b0) = counts();
            for i in 0..n {
                client.count(body.clone()).await.unwrap();
                if i % 256 == 255 {
                    tokio::task::yield_now().await;
                }
            }
            while client.casts().await.unwrap() < before + n {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let (a1, b1) = counts();
            println!(
                "cast 32 B, both ends: {:.2} allocations, {:.0} bytes allocated per cast (the buffer clone included)",
                (a1 - a0) as f64 / n as f64,
                (b1 - b0) as f64 / n as f64
            );
        })
        .await
        .unwrap();
    });
}
