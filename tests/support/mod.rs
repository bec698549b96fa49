//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub(crate) mod beam;
pub(crate) mod netns;
pub(crate) mod os;
pub(crate) mod tls;

use std::future::Future;
use std::time::Duration;

use locus::Node;

/// How long a test waits for something that should happen at once.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// A local node.
pub(crate) async fn node() -> Node {
    Node::builder().start().await.expect("node starts")
}

/// Waits for `fut` with the test deadline; a hang fails the test instead of freezing it.
pub(crate) async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {DEADLINE:?} waiting for {what}"),
    }
}

/// Checks `cond` until it holds, failing the test after the deadline.
pub(crate) async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !cond() {
        if start.elapsed() > DEADLINE {
            panic!("timed out after {DEADLINE:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

thread_local! {
    static LAST_EPMD: std::cell::Cell<u16> = const { std::cell::Cell::new(0) };
}

/// The port mapper port of the last `cluster` made on this thread.
pub(crate) fn last_epmd_port() -> u16 {
    LAST_EPMD.with(std::cell::Cell::get)
}

/// A port (free for TCP and UDP on 127.0.0.1) for a test's port mapper, gossip or DNS
/// server. Taken outside the kernel's ephemeral range (32768–60999 by default): a port
/// that `bind(0)` handed out and this function released could be handed out again, to a
/// node's listener or as the source port of a connection, before the test's server binds
/// it. Each test process walks its own stretch of 10000–31999 and checks each port.
pub(crate) fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 10_000;
    const SPAN: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919) % SPAN;
    for _ in 0..SPAN {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let Ok(port) = u16::try_from(FIRST + (start + step) % SPAN) else {
            continue;
        };
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + SPAN);
}

/// A distributed node `name@127.0.0.1` using the port mapper on `epmd_port`.
pub(crate) async fn named(name: &str, epmd_port: u16) -> Node {
    Node::builder()
        .name(format!("{name}@127.0.0.1"))
        .cookie("test-cookie")
        .epmd_port(epmd_port)
        .start()
        .await
        .expect("node starts")
}

/// `n` nodes `n0..` on one private port mapper, each connected to `n0`, waiting until
/// every node sees all the others.
pub(crate) async fn cluster(n: usize) -> Vec<Node> {
    let epmd = free_port();
    LAST_EPMD.with(|l| l.set(epmd));
    let mut nodes = Vec::new();
    for i in 0..n {
        nodes.push(named(&format!("n{i}"), epmd).await);
    }
    for node in &nodes[1..] {
        node.connect(nodes[0].name())
            .await
            .expect("connect to the seed");
    }
    let all = nodes.clone();
    eventually("full mesh", || {
        all.iter().all(|node| node.nodes().len() == n - 1)
    })
    .await;
    nodes
}
