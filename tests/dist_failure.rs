//! What happens across nodes when processes die and connections drop: remote links,
//! monitors, exits and pending calls.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use locus::{
    CallError, Ctx, ExitReason, Flow, GenServer, Node, Pid, RemoteCodec, ReplyHandle, ServerCtx,
    Signal,
};
use support::{cluster, eventually, within};
use tokio::sync::mpsc;

/// A process on `node` that reports every system signal it gets, after running `setup`.
fn observer(
    node: &Node,
    trap: bool,
    setup: impl FnOnce(&Ctx<()>) + Send + 'static,
) -> (Pid, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let addr = node.spawn(move |mut ctx: Ctx<()>| async move {
        ctx.trap_exit(trap);
        setup(&ctx);
        let _ = ready_tx.send(());
        loop {
            let text = match ctx.recv().await {
                Signal::Exit(e) => format!("exit {} {}", e.from.node(), e.reason),
                Signal::Down(d) => format!("down {} {}", d.pid.node(), d.reason),
                Signal::NodeDown(n, r) => format!("nodedown {n} {r}"),
                _ => continue,
            };
            if tx.send(text).is_err() {
                break;
            }
        }
    });
    ready_rx.recv().unwrap();
    (addr.pid().clone(), rx)
}

/// A process on `node` that waits for one message and exits with it as an error.
fn victim(node: &Node) -> Pid {
    node.spawn(|mut ctx: Ctx<String>| async move {
        match ctx.recv().await {
            Signal::Message(why) => Err(why),
            _ => Ok(()),
        }
    })
    .pid()
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_monitor_reports_the_real_exit_reason() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let target = victim(b);
    let (_, mut rx) = observer(a, false, move |ctx| {
        // Monitor, then make it die: both go over one connection, in order.
        ctx.monitor(&target);
        ctx.send(&target, "boom".to_string()).unwrap();
    });
    assert_eq!(
        within("down", rx.recv()).await.unwrap(),
        format!("down {} error: boom", b.name())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_a_dead_remote_pid_fires_noproc() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let gone = b.spawn(|_: Ctx<()>| async {});
    within("exit", b.watch(gone.pid())).await;
    let g = gone.pid().clone();
    let (_, mut rx) = observer(a, false, move |ctx| {
        ctx.monitor(&g);
    });
    assert_eq!(
        within("down", rx.recv()).await.unwrap(),
        format!("down {} noproc", b.name())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_links_propagate_exits_both_ways() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    // A trapping process on a linked to a process on b gets the exit as a message.
    let target = victim(b);
    let (_, mut rx) = observer(a, true, move |ctx| {
        ctx.link(&target).unwrap();
        ctx.send(&target, "linked crash".to_string()).unwrap();
    });
    assert_eq!(
        within("exit", rx.recv()).await.unwrap(),
        format!("exit {} error: linked crash", b.name())
    );

    // A non-trapping process on b linked to one on a dies with it.
    let on_a = victim(a);
    let on_b = b.spawn(move |mut ctx: Ctx<()>| async move {
        ctx.recv().await; // go
        ctx.link(&on_a).unwrap();
        ctx.send(&on_a, "a died".to_string()).unwrap();
        ctx.recv().await;
    });
    let w = b.watch(on_b.pid());
    on_b.send(()).unwrap();
    assert_eq!(
        within("linked death", w).await,
        ExitReason::Error("a died".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_to_a_dead_remote_pid_delivers_noproc() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let gone = b.spawn(|_: Ctx<()>| async {});
    within("exit", b.watch(gone.pid())).await;
    let g = gone.pid().clone();
    let (_, mut rx) = observer(a, true, move |ctx| {
        ctx.link(&g).unwrap();
    });
    assert_eq!(
        within("exit", rx.recv()).await.unwrap(),
        format!("exit {} noproc", b.name())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_reaches_a_remote_process() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let target = b.spawn(|mut ctx: Ctx<()>| async move {
        ctx.recv().await;
    });
    let w = b.watch(target.pid());
    a.exit(target.pid(), ExitReason::Kill);
    assert_eq!(within("killed", w).await, ExitReason::Killed);
}

struct Slow;

impl GenServer for Slow {
    /// Sleep this long, telling this pid (if any) first that the call has arrived.
    type Call = (u64, Option<Pid>);
    type Reply = u64;
    type Cast = ();
    type Info = ();

    fn remote() -> Option<RemoteCodec<Self>> {
        Some(RemoteCodec::serde())
    }

    async fn handle_call(
        &mut self,
        (ms, tell): (u64, Option<Pid>),
        from: ReplyHandle<u64>,
        ctx: &mut ServerCtx<Self>,
    ) -> Flow {
        if let Some(pid) = tell {
            let _ = ctx.send(&pid, ());
        }
        tokio::time::sleep(Duration::from_millis(ms)).await;
        from.reply(ms);
        Flow::Continue
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_fails_calls_and_fires_every_monitor_and_link_once() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    Slow::start(b, Slow).register("slow").await.unwrap();
    let remote_proc = b.spawn(|mut ctx: Ctx<()>| async move {
        ctx.recv().await;
    });
    let rp = remote_proc.pid().clone();
    let rp2 = rp.clone();
    let (_, mut watcher) = observer(a, true, move |ctx| {
        ctx.monitor(&rp);
        ctx.monitor(&rp);
        ctx.link(&rp2).unwrap();
        ctx.monitor_nodes(true);
    });
    // A call that will not be answered before the connection drops; the server tells a
    // process on a when it holds the call.
    let (arrived_tx, arrived) = tokio::sync::oneshot::channel();
    let told = a.spawn(move |mut ctx: Ctx<()>| async move {
        ctx.recv().await;
        let _ = arrived_tx.send(());
    });
    let slow = Slow::client(a, ("slow", b.name()));
    let told = told.pid().clone();
    let pending = tokio::spawn(async move {
        slow.call_timeout((60_000, Some(told)), Duration::from_secs(3600))
            .await
    });
    within("the call reaches b", arrived).await.unwrap();
    // Drop the connection from b's side: a sees its side close.
    b.disconnect(a.name());
    assert_eq!(
        within("call fails at once", pending).await.unwrap(),
        Err(CallError::NodeDown(b.name().clone()))
    );
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(within("signal", watcher.recv()).await.unwrap());
    }
    seen.sort();
    let b = b.name();
    assert_eq!(
        seen,
        vec![
            format!("down {b} noconnection"),
            format!("down {b} noconnection"),
            format!("exit {b} noconnection"),
            format!("nodedown {b} connection_closed"),
        ]
    );
    let b = &nodes[1];
    // Nothing more: a later signal is the next thing seen.
    a.connect(b.name()).await.unwrap();
    // `connect` returns once a's side is up; b's side comes up a moment later, and
    // disconnecting before that finds nothing to cut (as `Node.disconnect` returns false).
    eventually("b lists a again", || b.nodes().contains(a.name())).await;
    assert!(b.disconnect(a.name()));
    assert_eq!(
        within("next", watcher.recv()).await.unwrap(),
        format!("nodedown {} connection_closed", b.name())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_a_node_that_cannot_be_reached_fails_with_node_down() {
    let nodes = cluster(1).await;
    let ghost: locus::NodeName = "ghost@127.0.0.1".parse().unwrap();
    let c = Slow::client(&nodes[0], ("slow", &ghost));
    assert_eq!(
        within("node down", c.call((1, None))).await,
        Err(CallError::NodeDown(ghost))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_from_two_nodes_with_equal_refs_are_kept_apart() {
    // Both nodes number their monitor refs from small integers: many monitors on one target
    // from each side make equal refs certain. Removing the local ones must not remove the
    // remote ones.
    const N: usize = 50;
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let target = b.spawn(|mut ctx: Ctx<()>| async move {
        ctx.recv().await;
    });
    let t = target.pid().clone();
    let (tx, mut downs) = mpsc::unbounded_channel();
    let (set_tx, set) = tokio::sync::oneshot::channel();
    a.spawn(move |mut ctx: Ctx<()>| async move {
        for _ in 0..N {
            ctx.monitor(&t);
        }
        let _ = set_tx.send(());
        while let Signal::Down(d) = ctx.recv().await {
            let _ = tx.send(d.reason);
        }
    });
    within("remote monitors", set).await.unwrap();
    let t = target.pid().clone();
    let (done_tx, done) = tokio::sync::oneshot::channel();
    b.spawn(move |mut ctx: Ctx<()>| async move {
        let refs: Vec<_> = (0..N).map(|_| ctx.monitor(&t)).collect();
        for r in refs {
            ctx.demonitor(r);
        }
        let _ = done_tx.send(());
    });
    within("local demonitors", done).await.unwrap();
    // The remote monitors reach b after the frames in flight: a round trip orders them.
    assert!(a.ping(b.name()).await);
    target.send(()).unwrap();
    for _ in 0..N {
        assert_eq!(
            within("down", downs.recv()).await.unwrap(),
            ExitReason::Normal
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_connects_with_different_cookies_fail_with_the_cookie_error() {
    // Both sides connect at once, repeatedly, so the simultaneous-connect path (one side
    // adopts the other's attempt) is taken; the adopted attempt failing must fail the entry
    // with its own error, not leave it waiting for the setup timeout.
    let epmd = support::free_port();
    let start = |name: &'static str, cookie: &'static str| {
        Node::builder()
            .name(format!("{name}@127.0.0.1"))
            .cookie(cookie)
            .epmd_port(epmd)
            .start()
    };
    let a = start("a", "cookie-one").await.unwrap();
    let b = start("b", "cookie-two").await.unwrap();
    for _ in 0..20 {
        let (ra, rb) = within(
            "both attempts",
            futures::future::join(a.connect(b.name()), b.connect(a.name())),
        )
        .await;
        for r in [ra, rb] {
            match r {
                Err(locus::ConnectError::Handshake(_)) => {}
                other => panic!("expected a handshake (cookie) error, got {other:?}"),
            }
        }
    }
    assert!(a.nodes().is_empty() && b.nodes().is_empty());
}
