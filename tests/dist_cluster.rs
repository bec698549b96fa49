//! Cluster membership in one OS process: meshing through a seed, hidden nodes, node
//! monitors, simultaneous connects, restarts, refused cookies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use locus::{ConnectError, Ctx, HandshakeError, Node, NodeDownReason, NodeEvent, Signal};
use support::{cluster, eventually, free_port, named, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_mesh_through_one_seed() {
    let nodes = cluster(3).await;
    for n in &nodes {
        let mut others: Vec<_> = nodes
            .iter()
            .filter(|o| o.name() != n.name())
            .map(|o| o.name().clone())
            .collect();
        others.sort();
        assert_eq!(n.nodes(), others, "{} sees everyone else", n.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_mesh_through_one_seed() {
    let nodes = cluster(10).await;
    assert!(nodes.iter().all(|n| n.nodes().len() == 9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_cookie_is_refused_on_both_sides() {
    let epmd = free_port();
    let a = named("a", epmd).await;
    let intruder = Node::builder()
        .name("intruder@127.0.0.1")
        .cookie("another-cookie")
        .epmd_port(epmd)
        .start()
        .await
        .unwrap();
    let err = within("refusal", intruder.connect(a.name()))
        .await
        .unwrap_err();
    match &err {
        ConnectError::Handshake(HandshakeError::Refused { peer, reason }) => {
            assert_eq!(peer, "a@127.0.0.1");
            assert!(reason.contains("cookies differ"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("a@127.0.0.1"), "{err}");
    assert!(a.nodes().is_empty() && intruder.nodes().is_empty());
    // The other direction too.
    let err = within("refusal", a.connect(intruder.name()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectError::Handshake(HandshakeError::Refused { .. })),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_nodes_are_not_listed_and_do_not_mesh() {
    let epmd = free_port();
    let a = named("a", epmd).await;
    let b = named("b", epmd).await;
    a.connect(b.name()).await.unwrap();
    let h = Node::builder()
        .name("h@127.0.0.1")
        .cookie("test-cookie")
        .epmd_port(epmd)
        .hidden(true)
        .start()
        .await
        .unwrap();
    h.connect(a.name()).await.unwrap();
    assert!(h.nodes().is_empty(), "a hidden node lists no visible nodes");
    assert_eq!(
        h.hidden_nodes(),
        vec![a.name().clone()],
        "and did not mesh with b"
    );
    eventually("a sees h as hidden", || {
        a.hidden_nodes() == vec![h.name().clone()]
    })
    .await;
    assert_eq!(a.nodes(), vec![b.name().clone()], "a does not list h");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_monitors_see_up_then_down_with_a_reason() {
    let epmd = free_port();
    let a = named("a", epmd).await;
    let b = named("b", epmd).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    a.spawn(move |mut ctx: Ctx<()>| async move {
        ctx.monitor_nodes(true);
        let _ = ready_tx.send(());
        loop {
            match ctx.recv().await {
                Signal::NodeUp(n) => {
                    let _ = tx.send(format!("up {n}"));
                }
                Signal::NodeDown(n, r) => {
                    let _ = tx.send(format!("down {n} {r}"));
                }
                _ => {}
            }
        }
    });
    ready_rx.await.unwrap();
    let mut events = a.node_events();
    let mut b_events = b.node_events();
    a.connect(b.name()).await.unwrap();
    assert_eq!(within("nodeup", rx.recv()).await.unwrap(), "up b@127.0.0.1");
    assert_eq!(
        within("event", events.recv()).await.unwrap(),
        NodeEvent::Up(b.name().clone())
    );
    assert!(a.disconnect(b.name()));
    assert_eq!(
        within("nodedown", rx.recv()).await.unwrap(),
        "down b@127.0.0.1 disconnect"
    );
    assert_eq!(
        within("event", events.recv()).await.unwrap(),
        NodeEvent::Down(b.name().clone(), NodeDownReason::Disconnect)
    );
    assert!(a.nodes().is_empty());
    // The peer saw its side close.
    loop {
        match within("b sees a leave", b_events.recv()).await {
            Some(NodeEvent::Down(n, reason)) => {
                assert_eq!(&n, a.name());
                eprintln!("b saw {n} leave: {reason:?}; b lists {:?}", b.nodes());
                break;
            }
            Some(_) => {}
            None => panic!("b's node events ended"),
        }
    }
    // A clean shutdown is reported as such to the peer.
    a.connect(b.name()).await.unwrap();
    assert_eq!(within("nodeup", rx.recv()).await.unwrap(), "up b@127.0.0.1");
    b.shutdown().await;
    assert_eq!(
        within("nodedown", rx.recv()).await.unwrap(),
        "down b@127.0.0.1 shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_connects_end_with_exactly_one_connection() {
    for round in 0..10 {
        let epmd = free_port();
        let a = named(&format!("a{round}"), epmd).await;
        let b = named(&format!("b{round}"), epmd).await;
        let mut a_events = a.node_events();
        let mut b_events = b.node_events();
        let (ra, rb) = tokio::join!(a.connect(b.name()), b.connect(a.name()));
        ra.unwrap();
        rb.unwrap();
        assert_eq!(
            within("a up", a_events.recv()).await.unwrap(),
            NodeEvent::Up(b.name().clone())
        );
        assert_eq!(
            within("b up", b_events.recv()).await.unwrap(),
            NodeEvent::Up(a.name().clone())
        );
        // A round trip over the connection, then no second Up and no Down.
        let pong = a.spawn(|mut ctx: Ctx<locus::Pid>| async move {
            if let Signal::Message(from) = ctx.recv().await {
                let _ = ctx.send(&from, 1u8);
            }
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let pong = pong.pid().clone();
        b.spawn(move |mut ctx: Ctx<u8>| async move {
            ctx.send(&pong, ctx.pid().clone()).unwrap();
            if let Signal::Message(_) = ctx.recv().await {
                let _ = tx.send(());
            }
        });
        within("round trip", rx).await.unwrap();
        assert_eq!(a_events.try_recv(), None, "round {round}");
        assert_eq!(b_events.try_recv(), None, "round {round}");
        a.shutdown().await;
        b.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_with_a_taken_name_refuses_to_start() {
    let epmd = free_port();
    let _a = named("a", epmd).await;
    let err = Node::builder()
        .name("a@127.0.0.1")
        .cookie("c")
        .epmd_port(epmd)
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already registered"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_gets_a_new_creation_and_old_pids_never_reach_it() {
    let epmd = free_port();
    let a = named("a", epmd).await;
    let b1 = named("b", epmd).await;
    a.connect(b1.name()).await.unwrap();
    let old = b1.spawn(|mut ctx: Ctx<u64>| async move {
        ctx.recv().await;
    });
    let old_pid = old.pid().clone();
    let mut events = a.node_events();
    b1.shutdown().await;
    assert!(matches!(
        within("down", events.recv()).await,
        Some(NodeEvent::Down(..))
    ));
    drop(b1);
    let b2 = named("b", epmd).await;
    assert_ne!(b2.creation(), old_pid.creation(), "a new incarnation");
    // A process on the new node with the same local id as the old one.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut fresh = None;
    for _ in 0..=old_pid.id() {
        let tx = tx.clone();
        let p = b2.spawn(move |mut ctx: Ctx<u64>| async move {
            while let Signal::Message(m) = ctx.recv().await {
                let _ = tx.send(m);
            }
        });
        if p.pid().id() == old_pid.id() {
            fresh = Some(p);
        }
    }
    let fresh = fresh.expect("same id in the new incarnation");
    a.connect(b2.name()).await.unwrap();
    a.send(&old_pid, 1u64).unwrap();
    a.send(fresh.pid(), 2u64).unwrap();
    assert_eq!(
        within("message", rx.recv()).await.unwrap(),
        2,
        "the old pid's message was dropped"
    );
    // A monitor on the old pid reports it gone.
    let (dtx, drx) = tokio::sync::oneshot::channel();
    a.spawn(move |mut ctx: Ctx<()>| async move {
        ctx.monitor(&old_pid);
        if let Signal::Down(d) = ctx.recv().await {
            let _ = dtx.send(d.reason);
        }
    });
    assert_eq!(
        within("down", drx).await.unwrap(),
        locus::ExitReason::NoProc
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_missing_node_says_why() {
    let epmd = free_port();
    let a = named("a", epmd).await;
    let err = a.connect("ghost@127.0.0.1").await.unwrap_err();
    assert!(matches!(err, ConnectError::NotRegistered(_)), "{err:?}");
    assert!(err.to_string().contains("ghost@127.0.0.1"), "{err}");
    let err = a.connect("bad name").await.unwrap_err();
    assert!(matches!(err, ConnectError::Name(_)), "{err:?}");
    let local = Node::builder().start().await.unwrap();
    assert!(matches!(
        local.connect(a.name()).await,
        Err(ConnectError::NotDistributed)
    ));
    // A send to an unreachable node is dropped, not an error, and a call says NodeDown.
    let ghost: locus::NodeName = "ghost@127.0.0.1".parse().unwrap();
    a.send(("x", &ghost), 1u8).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_node_names_connect_over_ipv6() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED: no IPv6 loopback on this machine");
        return;
    }
    let epmd = free_port();
    let start = |name: &str| {
        Node::builder()
            .name(name.to_owned())
            .cookie("test-cookie")
            .epmd_port(epmd)
            .start()
    };
    let a = start("a@::1").await.unwrap();
    let b = start("b@::1").await.unwrap();
    assert_eq!(a.name().host(), "::1");
    within("connect over IPv6", a.connect(b.name()))
        .await
        .unwrap();
    assert_eq!(a.nodes(), vec![b.name().clone()]);
    assert!(a.ping(b.name()).await);
}
