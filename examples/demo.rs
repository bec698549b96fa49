//! A tour of locus on one node: a supervised `#[gen_server]`, a crash and its restart, and
//! the cost of a local call. (The cluster demo is `cargo run --release -- demo`.)
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example demo
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use locus::{ChildSpec, Node, Strategy, Supervisor, gen_server};

/// A counter that panics when asked to add zero, to show a restart.
#[derive(Default)]
struct Counter {
    n: u64,
}

#[gen_server]
impl Counter {
    #[call]
    fn get(&mut self) -> u64 {
        self.n
    }

    #[call]
    fn add(&mut self, k: u64) -> u64 {
        assert!(k != 0, "asked to add zero");
        self.n += k;
        self.n
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let node = Node::builder().start().await?;
    println!("node {} started", node.name());

    let sup = Supervisor::builder()
        .strategy(Strategy::OneForOne)
        .child(ChildSpec::gen_server("counter", Counter::default).register("counter"))
        .start(&node)
        .await?;
    let counter = Counter::client(&node, "counter");
    println!("counter started as {:?}", node.whereis("counter"));

    counter.add(40).await?;
    println!("counter = {}", counter.add(2).await?);

    let before = node.whereis("counter");
    let crash = counter.add(0).await;
    println!("crashing call returned: {}", crash.unwrap_err());
    // The supervisor restarts the counter under the same name, with fresh state.
    let started = Instant::now();
    while node.whereis("counter") == before || node.whereis("counter").is_none() {
        if started.elapsed() > Duration::from_secs(5) {
            return Err("the counter was not restarted".into());
        }
        tokio::task::yield_now().await;
    }
    println!(
        "restarted as {:?}; counter = {}",
        node.whereis("counter"),
        counter.get().await?
    );

    // Latency of a local call, measured inside a task as users would run it.
    let client = counter.clone();
    let mut lat = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(100_000);
        for _ in 0..100_000 {
            let t = Instant::now();
            let _ = client.get().await;
            lat.push(t.elapsed());
        }
        lat
    })
    .await?;
    lat.sort();
    println!(
        "local call latency over {} calls: p50 {:?}, p99 {:?}",
        lat.len(),
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100]
    );
    println!("children: {}", sup.which_children().await?.len());
    node.shutdown().await;
    Ok(())
}
