//! Servers written with `#[gen_server]`: calls, casts, infos, signals, replies later,
//! stopping, init/terminate, and the typed client across nodes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use locus::{
    CallError, ExitReason, NodeDownReason, Pid, ReplyHandle, ServerCtx, Signal, gen_server,
};
use serde::{Deserialize, Serialize};
use support::{cluster, node, within};
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tick(u32);

struct Counter {
    n: u64,
    events: Option<mpsc::UnboundedSender<String>>,
}

impl Counter {
    fn new() -> Self {
        Counter { n: 0, events: None }
    }

    fn note(&self, e: String) {
        if let Some(tx) = &self.events {
            let _ = tx.send(e);
        }
    }
}

#[gen_server]
impl Counter {
    #[init]
    async fn init(&mut self, ctx: &mut ServerCtx<Self>) {
        ctx.monitor_nodes(true);
        self.note("init".into());
    }

    #[call]
    async fn get(&mut self) -> u64 {
        self.n
    }

    #[call]
    async fn add_and_get(&mut self, by: u64, times: u64) -> u64 {
        self.n += by * times;
        self.n
    }

    #[call]
    fn whoami(&mut self, ctx: &mut ServerCtx<Self>) -> Pid {
        ctx.pid().clone()
    }

    #[call]
    async fn later(&mut self, delay_ms: u64, reply: ReplyHandle<String>) {
        let n = self.n;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            reply.reply(format!("n was {n}"));
        });
    }

    #[call]
    async fn stop_with(&mut self, reason: String, ctx: &mut ServerCtx<Self>) -> String {
        ctx.stop(ExitReason::Error(reason));
        "stopping".into()
    }

    #[cast]
    async fn add(&mut self, by: u64) {
        self.n += by;
    }

    #[info]
    async fn tick(&mut self, tick: Tick) {
        self.note(format!("tick {}", tick.0));
    }

    #[info]
    async fn other(&mut self, signal: Signal<CounterInfo>) {
        match signal {
            Signal::NodeUp(n) => self.note(format!("nodeup {n}")),
            Signal::NodeDown(n, r) => self.note(format!("nodedown {n} {r}")),
            Signal::Down(d) => self.note(format!("down {}", d.reason)),
            _ => {}
        }
    }

    #[terminate]
    async fn terminate(&mut self, reason: &ExitReason) {
        self.note(format!("terminate {reason}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_macro_server_answers_calls_casts_and_infos() {
    let node = node().await;
    let (tx, mut events) = mpsc::unbounded_channel();
    let c = Counter::start(
        &node,
        Counter {
            events: Some(tx),
            ..Counter::new()
        },
    )
    .register("counter")
    .await
    .unwrap();
    assert_eq!(events.recv().await.unwrap(), "init");
    c.add(2).await.unwrap();
    assert_eq!(c.get().await.unwrap(), 2);
    assert_eq!(c.add_and_get(3, 2).await.unwrap(), 8);
    assert_eq!(Some(c.whoami().await.unwrap()), c.pid());
    c.tick(Tick(7)).await.unwrap();
    assert_eq!(within("tick", events.recv()).await.unwrap(), "tick 7");
    // A plain send of the info type reaches the same handler; so do timers.
    node.send("counter", CounterInfo::Tick(Tick(8))).unwrap();
    assert_eq!(within("tick", events.recv()).await.unwrap(), "tick 8");
    node.send_after(
        "counter",
        CounterInfo::Tick(Tick(9)),
        Duration::from_millis(5),
    );
    assert_eq!(within("timer", events.recv()).await.unwrap(), "tick 9");
    // By name, with another timeout.
    let by_name = Counter::client(&node, "counter").timeout(Duration::from_millis(20));
    assert_eq!(by_name.get().await.unwrap(), 8);
    assert_eq!(by_name.later(200).await, Err(CallError::Timeout));
    assert_eq!(c.later(1).await.unwrap(), "n was 8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_stops_the_server_after_replying_and_terminate_runs() {
    let node = node().await;
    let (tx, mut events) = mpsc::unbounded_channel();
    let c = Counter::start(
        &node,
        Counter {
            events: Some(tx),
            ..Counter::new()
        },
    )
    .await
    .unwrap();
    let exit = node.watch(&c.pid().unwrap());
    assert_eq!(c.stop_with("enough".into()).await.unwrap(), "stopping");
    assert_eq!(
        within("exit", exit).await,
        ExitReason::Error("enough".into())
    );
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert_eq!(seen, vec!["init", "terminate error: enough"]);
    assert_eq!(c.get().await, Err(CallError::NoProc));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typed_client_works_across_nodes_and_sees_node_events() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (tx, mut events) = mpsc::unbounded_channel();
    Counter::start(
        b,
        Counter {
            events: Some(tx),
            ..Counter::new()
        },
    )
    .register("counter")
    .await
    .unwrap();
    assert_eq!(events.recv().await.unwrap(), "init");
    let remote = Counter::client(a, ("counter", b.name()));
    remote.add(5).await.unwrap();
    assert_eq!(within("remote call", remote.get()).await.unwrap(), 5);
    assert_eq!(remote.add_and_get(1, 1).await.unwrap(), 6);
    assert_eq!(remote.whoami().await.unwrap().node(), b.name());
    assert_eq!(remote.later(1).await.unwrap(), "n was 6");
    remote.tick(Tick(1)).await.unwrap();
    assert_eq!(within("tick", events.recv()).await.unwrap(), "tick 1");
    // NodeDown reaches the server's signal handler.
    b.disconnect(a.name());
    assert_eq!(
        within("nodedown", events.recv()).await.unwrap(),
        format!("nodedown {} {}", a.name(), NodeDownReason::Disconnect)
    );
}
