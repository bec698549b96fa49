//! Cluster services in one OS process: rpc and multicall, remote spawn, global names,
//! process groups, pubsub; partitions made and healed with the test hook.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use locus::{
    Ctx, ExitReason, GenServer, GlobalError, Keep, Node, NodeName, PgEvent, RpcError, Signal,
    SpawnRequest, StartError, gen_server,
};
use support::{cluster, eventually, node, within};

const T: Duration = Duration::from_secs(5);

// ---------- rpc ----------

fn install(node: &Node) {
    node.rpc()
        .register("math.add", |_n, (a, b): (i64, i64)| async move {
            Ok::<_, String>(a + b)
        });
    node.rpc().register(
        "fail",
        |_n, (): ()| async move { Err::<(), _>("no can do") },
    );
    node.rpc().register("boom", |_n, (): ()| async move {
        panic!("exploded");
        #[allow(unreachable_code)]
        Ok::<(), String>(())
    });
    node.rpc().register("sleep", |_n, ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, String>(ms)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_calls_run_on_the_other_node_and_errors_are_told_apart() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    install(b);
    let rpc = a.rpc();
    let sum: i64 = within("call", rpc.call(b.name(), "math.add", (2, 40), T))
        .await
        .unwrap();
    assert_eq!(sum, 42);
    let who: NodeName = rpc.call(b.name(), "node.self", (), T).await.unwrap();
    assert_eq!(&who, b.name());
    let seen: Vec<NodeName> = rpc.call(b.name(), "node.list", (), T).await.unwrap();
    assert_eq!(seen, vec![a.name().clone()]);
    assert_eq!(
        rpc.call::<_, ()>(b.name(), "nope", (), T).await,
        Err(RpcError::NoSuchFunction("nope".into()))
    );
    assert!(matches!(
        rpc.call::<_, i64>(b.name(), "math.add", "not a pair", T)
            .await,
        Err(RpcError::BadArgs(_))
    ));
    assert_eq!(
        rpc.call::<_, ()>(b.name(), "fail", (), T).await,
        Err(RpcError::Failed("no can do".into()))
    );
    assert!(
        matches!(rpc.call::<_, ()>(b.name(), "boom", (), T).await, Err(RpcError::Panicked(m)) if m == "exploded")
    );
    assert!(matches!(
        rpc.call::<_, String>(b.name(), "math.add", (1, 2), T).await,
        Err(RpcError::BadResult(_))
    ));
    assert_eq!(
        rpc.call::<_, u64>(b.name(), "sleep", 500u64, Duration::from_millis(20))
            .await,
        Err(RpcError::Timeout)
    );
    // The node survived the panic.
    let sum: i64 = rpc.call(b.name(), "math.add", (1, 1), T).await.unwrap();
    assert_eq!(sum, 2);
    let ghost: NodeName = "ghost@127.0.0.1".parse().unwrap();
    assert_eq!(
        rpc.call::<_, ()>(&ghost, "node.self", (), T).await,
        Err(RpcError::NodeDown(ghost))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multicall_returns_results_in_node_order_and_the_bad_nodes() {
    let nodes = cluster(3).await;
    for n in &nodes {
        install(n);
    }
    let ghost: NodeName = "ghost@127.0.0.1".parse().unwrap();
    let mut targets: Vec<NodeName> = nodes.iter().map(|n| n.name().clone()).collect();
    targets.insert(1, ghost.clone());
    let r = nodes[0]
        .rpc()
        .multicall::<_, NodeName>(&targets, "node.self", (), T)
        .await;
    let answered: Vec<NodeName> = r.results.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(
        answered,
        vec![
            nodes[0].name().clone(),
            nodes[1].name().clone(),
            nodes[2].name().clone()
        ]
    );
    assert!(r.results.iter().all(|(n, res)| res.as_ref() == Ok(n)));
    assert_eq!(r.bad_nodes, vec![ghost]);
    // A failing function is a result, not a bad node.
    let all: Vec<NodeName> = nodes.iter().map(|n| n.name().clone()).collect();
    let r = nodes[0].rpc().multicall::<_, ()>(&all, "fail", (), T).await;
    assert_eq!(r.results.len(), 3);
    assert!(r.bad_nodes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_cast_runs_without_an_answer() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = Arc::new(parking_lot::Mutex::new(Some(tx)));
    b.rpc().register("ring", move |_n, v: u8| {
        let tx = tx.clone();
        async move {
            if let Some(tx) = tx.lock().take() {
                let _ = tx.send(v);
            }
            Ok::<_, String>(())
        }
    });
    a.rpc().cast(b.name(), "ring", 9u8);
    assert_eq!(within("cast", rx).await.unwrap(), 9);
}

// ---------- remote spawn ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_kind_spawns_on_another_node_linked_or_monitored() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    b.register_kind("echo", |req: SpawnRequest<String>| {
        let prefix = req.args().clone();
        let addr = req.node().spawn_opts(
            req.opts(),
            move |mut ctx: Ctx<(locus::Pid, String)>| async move {
                while let Signal::Message((from, text)) = ctx.recv().await {
                    if text == "die" {
                        return Err("asked to die".to_string());
                    }
                    let _ = ctx.send(&from, format!("{prefix}{text}"));
                }
                Ok(())
            },
        )?;
        Ok(addr.pid().clone())
    });
    let (tx, rx) = tokio::sync::oneshot::channel();
    let bname = b.name().clone();
    a.spawn(move |mut ctx: Ctx<String>| async move {
        ctx.trap_exit(true);
        let echo = ctx
            .spawn_link_on(&bname, "echo", ">> ".to_string())
            .await
            .unwrap();
        assert_eq!(echo.node(), &bname);
        ctx.send(&echo, (ctx.pid().clone(), "hi".to_string()))
            .unwrap();
        let reply = match ctx.recv().await {
            Signal::Message(m) => m,
            _ => String::new(),
        };
        ctx.send(&echo, (ctx.pid().clone(), "die".to_string()))
            .unwrap();
        let exit = loop {
            if let Signal::Exit(e) = ctx.recv().await {
                break e.reason;
            }
        };
        let missing = ctx.spawn_monitor_on(&bname, "missing", ()).await;
        let _ = tx.send((reply, exit, missing.map(|_| ())));
    });
    let (reply, exit, missing) = within("remote spawn", rx).await.unwrap();
    assert_eq!(reply, ">> hi");
    assert_eq!(exit, ExitReason::Error("asked to die".into()));
    let Err(RpcError::Failed(text)) = missing else {
        panic!("{missing:?}")
    };
    assert!(
        text.contains("missing") && text.contains("no process kind"),
        "{text}"
    );
}

// ---------- global names ----------

fn idle(node: &Node) -> locus::Pid {
    node.spawn(|mut ctx: Ctx<String>| async move {
        ctx.recv().await;
    })
    .pid()
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_name_has_one_owner_everywhere_and_is_freed_when_it_dies() {
    let nodes = cluster(3).await;
    let p = idle(&nodes[1]);
    nodes[1].global().register("the-one", &p).await.unwrap();
    for n in &nodes {
        assert_eq!(
            n.global().whereis("the-one").as_ref(),
            Some(&p),
            "{}",
            n.name()
        );
    }
    let q = idle(&nodes[2]);
    match nodes[2].global().register("the-one", &q).await {
        Err(GlobalError::Taken { holder, .. }) => assert_eq!(holder, p),
        other => panic!("{other:?}"),
    }
    // Send by global name from another node.
    nodes[0]
        .global()
        .send("the-one", "bye".to_string())
        .unwrap();
    for n in &nodes {
        let n = n.clone();
        eventually("freed everywhere", move || {
            n.global().whereis("the-one").is_none()
        })
        .await;
    }
    assert!(nodes[0].global().send("the-one", "x".to_string()).is_err());
    nodes[2].global().register("the-one", &q).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_registrations_from_three_nodes_have_exactly_one_winner() {
    for _round in 0..5 {
        let nodes = cluster(3).await;
        let pids: Vec<_> = nodes.iter().map(idle).collect();
        let tries = nodes.iter().zip(pids.iter()).map(|(n, p)| {
            let n = n.clone();
            let p = p.clone();
            tokio::spawn(async move { n.global().register("race", &p).await })
        });
        let results: Vec<_> = futures::future::join_all(tries)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        let winners: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        let owner = nodes[0].global().whereis("race").unwrap();
        for n in &nodes {
            assert_eq!(n.global().whereis("race").as_ref(), Some(&owner));
        }
        for n in &nodes {
            n.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_name_is_freed_when_its_node_goes_down() {
    let nodes = cluster(3).await;
    let p = idle(&nodes[2]);
    nodes[2].global().register("n2-name", &p).await.unwrap();
    nodes[2].shutdown().await;
    for n in &nodes[..2] {
        let n = n.clone();
        eventually("freed on nodedown", move || {
            n.global().whereis("n2-name").is_none()
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_partition_heals_one_owner_is_kept_and_the_other_exits_saying_why() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.partition_from(b.name());
    b.partition_from(a.name());
    eventually("partitioned", || {
        a.nodes().is_empty() && b.nodes().is_empty()
    })
    .await;
    let pa = idle(a);
    a.global().register("leader", &pa).await.unwrap();
    let pb = idle(b);
    b.global().register("leader", &pb).await.unwrap();
    let (wa, wb) = (a.watch(&pa), b.watch(&pb));
    a.heal_with(b.name());
    b.heal_with(a.name());
    a.connect(b.name()).await.unwrap();
    // The earlier registration (a's) is kept; b's process is exited with the reason.
    let reason = within("loser exits", wb).await;
    let ExitReason::Error(text) = &reason else {
        panic!("{reason:?}")
    };
    assert!(
        text.contains("global name conflict") && text.contains("leader"),
        "{text}"
    );
    for n in &nodes {
        let n = n.clone();
        let pa = pa.clone();
        eventually("one owner", move || {
            n.global().whereis("leader") == Some(pa.clone())
        })
        .await;
    }
    assert!(a.is_alive(&pa));
    drop(wa);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolver_can_be_replaced() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    for n in &nodes {
        n.global().set_resolver(|_, first, second| {
            // Keep the later registration.
            if first.registered_at >= second.registered_at {
                Keep::First
            } else {
                Keep::Second
            }
        });
    }
    a.partition_from(b.name());
    b.partition_from(a.name());
    eventually("partitioned", || a.nodes().is_empty()).await;
    let pa = idle(a);
    a.global().register("x", &pa).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await; // a later timestamp is the point
    let pb = idle(b);
    b.global().register("x", &pb).await.unwrap();
    let wa = a.watch(&pa);
    a.heal_with(b.name());
    b.heal_with(a.name());
    a.connect(b.name()).await.unwrap();
    assert!(matches!(
        within("a's exits", wa).await,
        ExitReason::Error(_)
    ));
    assert!(b.is_alive(&pb));
}

/// A periodic singleton: each node runs a starter that tries to start it under a global
/// name and, if another node holds it, watches that one and tries again when it ends.
struct Singleton {
    alive: Arc<AtomicUsize>,
    /// Counts this instance as running from init until the process ends, however it ends.
    counted: Option<Counted>,
}

struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[gen_server]
impl Singleton {
    #[init]
    fn init(&mut self) {
        self.alive.fetch_add(1, Ordering::SeqCst);
        self.counted = Some(Counted(self.alive.clone()));
    }

    #[call]
    fn node(&mut self, ctx: &mut locus::ServerCtx<Self>) -> NodeName {
        ctx.node().name().clone()
    }
}

fn starter(node: &Node, alive: Arc<AtomicUsize>) {
    node.spawn(move |mut ctx: Ctx<()>| async move {
        loop {
            let server = Singleton {
                alive: alive.clone(),
                counted: None,
            };
            match Singleton::start(ctx.node(), server)
                .link(ctx.pid())
                .register_global("singleton")
                .await
            {
                Ok(_) => {
                    ctx.recv().await;
                    return;
                }
                Err(StartError::AlreadyStarted(holder)) => {
                    ctx.monitor(&holder);
                    while !matches!(ctx.recv().await, Signal::Down(_)) {}
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_singleton_keeps_exactly_one_instance_while_nodes_come_and_go() {
    let alive = Arc::new(AtomicUsize::new(0));
    let nodes = cluster(3).await;
    for n in &nodes {
        starter(n, alive.clone());
    }
    let a = alive.clone();
    eventually("one instance", move || a.load(Ordering::SeqCst) == 1).await;
    let holder = nodes[0].global().whereis("singleton").unwrap();
    let home = nodes
        .iter()
        .position(|n| n.name() == holder.node())
        .unwrap();
    // Kill the node running it: another takes over, and only one runs.
    nodes[home].shutdown().await;
    let survivors: Vec<Node> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != home)
        .map(|(_, n)| n.clone())
        .collect();
    let s = survivors.clone();
    let h = holder.clone();
    eventually("taken over", move || {
        s[0].global().whereis("singleton").is_some_and(|p| p != h)
    })
    .await;
    let a = alive.clone();
    eventually("still one", move || a.load(Ordering::SeqCst) == 1).await;
    // A new node joins and starts its own starter: still one instance.
    let epmd_node = &survivors[0];
    let newcomer = Node::builder()
        .name("late@127.0.0.1")
        .cookie("test-cookie")
        .epmd_port(epmd_port_of(epmd_node))
        .start()
        .await
        .unwrap();
    // The port mapper may be changing hands (its node just stopped): retry, as a discovery
    // strategy does.
    let deadline = tokio::time::Instant::now() + support::DEADLINE;
    while newcomer.connect(epmd_node.name()).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "newcomer cannot connect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let n = newcomer.clone();
    eventually("newcomer synced", move || {
        n.global().whereis("singleton").is_some()
    })
    .await;
    starter(&newcomer, alive.clone());
    let owner = newcomer.global().whereis("singleton").unwrap();
    let answered = Singleton::client(&newcomer, owner).node().await.unwrap();
    assert_ne!(answered, *newcomer.name());
    assert_eq!(alive.load(Ordering::SeqCst), 1);
}

fn epmd_port_of(_node: &Node) -> u16 {
    support::last_epmd_port()
}

// ---------- process groups ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_are_seen_from_every_node_and_leave_when_they_exit() {
    let nodes = cluster(3).await;
    let p0 = idle(&nodes[0]);
    let p1 = idle(&nodes[1]);
    nodes[0].pg().join("g", &p0).await.unwrap();
    nodes[0].pg().join("g", &p0).await.unwrap(); // twice: counts twice
    nodes[1].pg().join("g", &p1).await.unwrap();
    for n in &nodes {
        let n = n.clone();
        eventually("members everywhere", move || n.pg().members("g").len() == 3).await;
    }
    assert_eq!(
        nodes[0].pg().local_members("g"),
        vec![p0.clone(), p0.clone()]
    );
    assert_eq!(nodes[2].pg().which_groups(), vec!["g".to_string()]);
    assert!(nodes[0].pg().leave("g", &p0).await.unwrap());
    assert!(matches!(
        nodes[0].pg().join("g", &p1).await,
        Err(locus::PgError::NotLocal(_))
    ));
    // p1 exits: it leaves everywhere.
    nodes[1].send(&p1, "bye".to_string()).unwrap();
    for n in &nodes {
        let n = n.clone();
        let p0 = p0.clone();
        eventually("p1 gone", move || n.pg().members("g") == vec![p0.clone()]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_subscribers_see_joins_and_leaves_and_node_down_removes_members() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (now, mut events) = a.pg().subscribe("workers").await.unwrap();
    assert!(now.is_empty());
    let pb = idle(b);
    b.pg().join("workers", &pb).await.unwrap();
    assert_eq!(
        within("joined", events.recv()).await.unwrap(),
        PgEvent::Joined("workers".into(), vec![pb.clone()])
    );
    b.shutdown().await;
    assert_eq!(
        within("left", events.recv()).await.unwrap(),
        PgEvent::Left("workers".into(), vec![pb.clone()])
    );
    assert!(a.pg().members("workers").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_membership_converges_after_a_partition_heals() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.partition_from(b.name());
    b.partition_from(a.name());
    eventually("partitioned", || {
        a.nodes().is_empty() && b.nodes().is_empty()
    })
    .await;
    let pa = idle(a);
    let pb = idle(b);
    a.pg_scope("s").join("g", &pa).await.unwrap();
    b.pg_scope("s").join("g", &pb).await.unwrap();
    assert_eq!(a.pg_scope("s").members("g"), vec![pa.clone()]);
    a.heal_with(b.name());
    b.heal_with(a.name());
    a.connect(b.name()).await.unwrap();
    for n in &nodes {
        let n = n.clone();
        eventually("converged", move || n.pg_scope("s").members("g").len() == 2).await;
    }
}

// ---------- pubsub ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_reaches_subscribers_on_every_node() {
    let nodes = cluster(3).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for n in &nodes {
        let tx = tx.clone();
        let name = n.name().clone();
        let sub = n.spawn(move |mut ctx: Ctx<String>| async move {
            while let Signal::Message(m) = ctx.recv().await {
                let _ = tx.send(format!("{name}: {m}"));
            }
        });
        n.pubsub().subscribe("progress", sub.pid()).await.unwrap();
    }
    for n in &nodes {
        let n = n.clone();
        eventually("subscribers known", move || {
            n.pubsub().subscribers("progress").len() == 3
        })
        .await;
    }
    assert_eq!(
        nodes[1].pubsub().broadcast("progress", &"50%".to_string()),
        3
    );
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(within("broadcast", rx.recv()).await.unwrap());
    }
    got.sort();
    let mut want: Vec<String> = nodes.iter().map(|n| format!("{}: 50%", n.name())).collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        nodes[2]
            .pubsub()
            .local_broadcast("progress", &"local".to_string()),
        1
    );
    assert_eq!(
        within("local", rx.recv()).await.unwrap(),
        format!("{}: local", nodes[2].name())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_work_on_a_local_node_too() {
    let n = node().await;
    install(&n);
    let sum: i64 = n.rpc().call(n.name(), "math.add", (1, 2), T).await.unwrap();
    assert_eq!(sum, 3);
    let p = idle(&n);
    n.global().register("g", &p).await.unwrap();
    assert_eq!(n.global().whereis("g"), Some(p.clone()));
    n.pg().join("grp", &p).await.unwrap();
    assert_eq!(n.pg().members("grp"), vec![p]);
    let _ = GenServer::remote as fn() -> Option<locus::RemoteCodec<Singleton>>;
}
