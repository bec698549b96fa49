//! Cluster formation in one process: static hosts with sync, the port mapper strategies,
//! gossip over loopback multicast, DNS against a real dnsmasq on loopback, replaceable
//! connect functions and a custom strategy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use locus::cluster::{
    Cluster, ClusterError, Discover, DnsPoll, DnsSrv, EpmdHosts, Gossip, LocalEpmd, Polling,
    StaticHosts,
};
use locus::{Node, NodeName};
use parking_lot::Mutex;
use support::{eventually, free_port, named, within};

fn name(s: &str) -> NodeName {
    s.parse().unwrap()
}

const FAST: Duration = Duration::from_millis(50);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_hosts_connect_and_reconnect() {
    let epmd = free_port();
    let a = named("a", epmd).await;
    let b = named("b", epmd).await;
    let c = named("c", epmd).await;
    let hosts = StaticHosts::new([b.name().clone(), c.name().clone()]).interval(FAST);
    within(
        "cluster start",
        Cluster::builder().topology("hosts", hosts).start(&a),
    )
    .await
    .unwrap();
    eventually("a connects to b and c", || a.nodes().len() == 2).await;
    // A dropped connection is made again.
    assert!(b.disconnect(a.name()));
    eventually("a reconnects to b", || a.nodes().contains(b.name())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_optional_waits_for_present_nodes_and_not_for_absent_ones() {
    let epmd = free_port();
    let a = named("a", epmd).await;
    let b = named("b", epmd).await;
    let hosts = StaticHosts::new([])
        .sync_optional([b.name().clone()])
        .sync_timeout(Duration::from_secs(30));
    within(
        "cluster start",
        Cluster::builder().topology("hosts", hosts).start(&a),
    )
    .await
    .unwrap();
    assert!(
        a.nodes().contains(b.name()),
        "start returns once b is connected"
    );

    let c = named("c", epmd).await;
    let ghost = name("ghost@127.0.0.1");
    let hosts = StaticHosts::new([])
        .sync_optional([ghost.clone()])
        .sync_timeout(Duration::from_millis(300));
    within(
        "cluster start",
        Cluster::builder().topology("h", hosts).start(&c),
    )
    .await
    .expect("a missing optional node does not fail the start");
    assert!(!c.nodes().contains(&ghost));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_mandatory_missing_fails_start_with_the_node_named() {
    let epmd = free_port();
    let a = named("a", epmd).await;
    let b = named("b", epmd).await;
    let ghost = name("ghost@127.0.0.1");
    let hosts = StaticHosts::new([])
        .sync_mandatory([b.name().clone(), ghost.clone()])
        .sync_timeout(Duration::from_millis(500));
    let err = within(
        "cluster start",
        Cluster::builder().topology("hosts", hosts).start(&a),
    )
    .await
    .unwrap_err();
    match &err {
        ClusterError::MandatoryNodesDown { missing, .. } => assert_eq!(missing, &[ghost]),
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("ghost@127.0.0.1"), "{err}");
    // Present mandatory nodes succeed.
    let hosts = StaticHosts::new([]).sync_mandatory([b.name().clone()]);
    within(
        "cluster start",
        Cluster::builder().topology("hosts", hosts).start(&a),
    )
    .await
    .unwrap();
    assert!(a.nodes().contains(b.name()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_epmd_and_epmd_hosts_find_registered_nodes() {
    let epmd = free_port();
    let a = named("a", epmd).await;
    let b = named("b", epmd).await;
    let c = named("c", epmd).await;
    within(
        "cluster start",
        Cluster::builder()
            .topology("local", LocalEpmd::new().interval(FAST))
            .start(&a),
    )
    .await
    .unwrap();
    eventually("a finds b and c on its port mapper", || {
        a.nodes().len() == 2
    })
    .await;

    let epmd2 = free_port();
    let d = named("d", epmd2).await;
    let e = named("e", epmd2).await;
    within(
        "cluster start",
        Cluster::builder()
            .topology("hosts", EpmdHosts::new(["127.0.0.1"]).interval(FAST))
            .start(&d),
    )
    .await
    .unwrap();
    eventually("d finds e through 127.0.0.1's port mapper", || {
        d.nodes() == vec![e.name().clone()]
    })
    .await;
    drop((b, c));
}

/// Records what a topology tries, then connects for real.
type Attempts = Arc<Mutex<Vec<(NodeName, Result<(), String>)>>>;

async fn gossip_node(name: &str, epmd: u16, cookie: &str) -> Node {
    Node::builder()
        .name(format!("{name}@127.0.0.1"))
        .cookie(cookie)
        .epmd_port(epmd)
        .start()
        .await
        .unwrap()
}

fn loopback_gossip(port: u16) -> Gossip {
    Gossip::new()
        .port(port)
        .interface(Ipv4Addr::LOCALHOST)
        .interval(FAST)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_forms_a_cluster_and_keeps_other_secrets_and_cookies_out() {
    let epmd = free_port();
    let port = free_port();
    let a = gossip_node("a", epmd, "cookie").await;
    let b = gossip_node("b", epmd, "cookie").await;
    let c = gossip_node("c", epmd, "cookie").await;
    let stranger = gossip_node("stranger", epmd, "cookie").await;
    let impostor = gossip_node("impostor", epmd, "other-cookie").await;

    let a_gossip = loopback_gossip(port).secret("s3cret");
    let a_stats = a_gossip.stats();
    let attempts: Attempts = Arc::default();
    let seen = attempts.clone();
    within(
        "start a",
        Cluster::builder()
            .topology("gossip", a_gossip)
            .connect_with(move |node: Node, peer: NodeName| {
                let seen = seen.clone();
                async move {
                    let r = node.connect(&peer).await.map_err(|e| e.to_string());
                    seen.lock().push((peer, r.clone()));
                    r
                }
            })
            .start(&a),
    )
    .await
    .unwrap();
    for n in [&b, &c] {
        let g = loopback_gossip(port).secret("s3cret");
        Cluster::builder()
            .topology("gossip", g)
            .start(n)
            .await
            .unwrap();
    }
    // Another secret: heard, rejected, counted.
    let s_gossip = loopback_gossip(port).secret("another");
    let s_stats = s_gossip.stats();
    Cluster::builder()
        .topology("gossip", s_gossip)
        .start(&stranger)
        .await
        .unwrap();
    // The right secret, another cookie: heard, but its handshake fails.
    let i_gossip = loopback_gossip(port).secret("s3cret");
    Cluster::builder()
        .topology("gossip", i_gossip)
        .start(&impostor)
        .await
        .unwrap();

    eventually("a, b and c mesh", || {
        [&a, &b, &c].iter().all(|n| n.nodes().len() == 2)
    })
    .await;
    eventually("a rejects the stranger's heartbeats", || {
        a_stats.rejected() > 0
    })
    .await;
    eventually("the stranger rejects ours", || s_stats.rejected() > 0).await;
    eventually("a tried the impostor and failed", || {
        attempts
            .lock()
            .iter()
            .any(|(p, r)| p == impostor.name() && r.is_err())
    })
    .await;
    assert!(a_stats.accepted() > 0 && a_stats.sent() > 0);
    for n in [&a, &b, &c] {
        assert!(
            !n.nodes().contains(stranger.name()),
            "{} let the stranger in",
            n.name()
        );
        assert!(
            !n.nodes().contains(impostor.name()),
            "{} let the impostor in",
            n.name()
        );
    }
    assert!(stranger.nodes().is_empty());
    assert!(impostor.nodes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_list_and_disconnect_functions_are_used_by_prune() {
    // A custom discovery whose answer the test changes; prune on.
    #[derive(Clone)]
    struct Registry(Arc<Mutex<Vec<NodeName>>>);
    impl Discover for Registry {
        async fn discover(&self, _node: &Node) -> Result<Vec<NodeName>, String> {
            Ok(self.0.lock().clone())
        }
    }
    let epmd = free_port();
    let a = named("a", epmd).await;
    let b = named("b", epmd).await;
    let c = named("c", epmd).await;
    let registry = Registry(Arc::new(Mutex::new(vec![
        b.name().clone(),
        c.name().clone(),
    ])));
    let disconnected: Arc<Mutex<Vec<NodeName>>> = Arc::default();
    let d2 = disconnected.clone();
    let listed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let l2 = listed.clone();
    Cluster::builder()
        .topology(
            "registry",
            Polling::new(registry.clone()).interval(FAST).prune(true),
        )
        .disconnect_with(move |node: &Node, peer: &NodeName| {
            d2.lock().push(peer.clone());
            node.disconnect(peer)
        })
        .list_nodes_with(move |node: &Node| {
            l2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            node.nodes()
        })
        .start(&a)
        .await
        .unwrap();
    // d is connected by hand, not by the topology: pruning leaves it alone.
    let d = named("d", epmd).await;
    a.connect(d.name()).await.unwrap();
    eventually("a connects to the registry's nodes", || {
        a.nodes().len() == 3
    })
    .await;
    registry.0.lock().retain(|n| n != c.name());
    eventually("c is pruned through the replaced disconnect", || {
        disconnected.lock().contains(c.name())
    })
    .await;
    eventually("a no longer lists c", || !a.nodes().contains(c.name())).await;
    assert!(a.nodes().contains(b.name()));
    assert!(
        a.nodes().contains(d.name()),
        "pruned a node the topology did not connect"
    );
    assert!(!disconnected.lock().contains(d.name()));
    assert!(listed.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_discovery_disconnects_nobody() {
    struct Flaky {
        failing: Arc<AtomicBool>,
        polls: Arc<AtomicUsize>,
        peer: NodeName,
    }
    impl Discover for Flaky {
        async fn discover(&self, _node: &Node) -> Result<Vec<NodeName>, String> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                Err("registry unreachable".into())
            } else {
                Ok(vec![self.peer.clone()])
            }
        }
    }
    let epmd = free_port();
    let a = named("a", epmd).await;
    let b = named("b", epmd).await;
    let failing = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicUsize::new(0));
    let flaky = Flaky {
        failing: failing.clone(),
        polls: polls.clone(),
        peer: b.name().clone(),
    };
    Cluster::builder()
        .topology("flaky", Polling::new(flaky).interval(FAST).prune(true))
        .start(&a)
        .await
        .unwrap();
    eventually("a connects to b", || a.nodes().contains(b.name())).await;
    let mut events = a.node_events();
    failing.store(true, Ordering::SeqCst);
    let before = polls.load(Ordering::SeqCst);
    eventually("five failing polls", || {
        polls.load(Ordering::SeqCst) >= before + 5
    })
    .await;
    assert!(a.nodes().contains(b.name()), "a failing discovery pruned b");
    assert!(
        events.try_recv().is_none(),
        "no node event while discovery failed"
    );
}

/// A dnsmasq serving fixed records on a loopback port, stopped on drop.
struct Dnsmasq {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dnsmasq(records: &[String]) -> Option<Dnsmasq> {
    let Some(bin) = support::netns::tool("dnsmasq") else {
        support::netns::missing("dnsmasq", "apt-get install dnsmasq-base");
        return None;
    };
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let child = std::process::Command::new(bin)
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--user=root",
            "--pid-file=",
            &format!("--port={port}"),
        ])
        .args(records)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run dnsmasq");
    // No need to wait for it to listen: discovery retries every interval.
    Some(Dnsmasq { child, addr })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_poll_and_srv_name_nodes_from_records_including_ipv6() {
    let Some(dns) = dnsmasq(&[
        "--host-record=app.test,10.9.0.2".into(),
        "--host-record=app.test,10.9.0.3".into(),
        "--host-record=app.test,fd00:9::4".into(),
        "--host-record=app-0.svc.test,10.9.1.1".into(),
        "--host-record=app-1.svc.test,10.9.1.2".into(),
        "--srv-host=_app._tcp.svc.test,app-0.svc.test,4369".into(),
        "--srv-host=_app._tcp.svc.test,app-1.svc.test,4369".into(),
    ]) else {
        return;
    };
    let a = Node::builder()
        .name("app@10.9.0.2")
        .cookie("c")
        .epmd_port(free_port())
        .start()
        .await
        .unwrap();
    let attempts: Attempts = Arc::default();
    let record = |attempts: &Attempts| {
        let seen = attempts.clone();
        move |_node: Node, peer: NodeName| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .push((peer, Err("not connecting in this test".into())));
                Err::<(), String>("not connecting in this test".into())
            }
        }
    };
    let srv_attempts: Attempts = Arc::default();
    Cluster::builder()
        .topology(
            "dns",
            DnsPoll::new("app.test", "app")
                .server(dns.addr)
                .interval(FAST),
        )
        .connect_with(record(&attempts))
        .topology(
            "srv",
            DnsSrv::new("_app._tcp.svc.test", "app")
                .server(dns.addr)
                .interval(FAST),
        )
        .connect_with(record(&srv_attempts))
        .start(&a)
        .await
        .unwrap();
    let tried = |attempts: &Attempts| {
        let mut v: Vec<String> = attempts.lock().iter().map(|(p, _)| p.to_string()).collect();
        v.sort();
        v.dedup();
        v
    };
    let want = vec!["app@10.9.0.3".to_owned(), "app@fd00:9::4".to_owned()];
    eventually("DNS poll tries every other address, IPv6 included", || {
        tried(&attempts) == want
    })
    .await;
    let want = vec![
        "app@app-0.svc.test".to_owned(),
        "app@app-1.svc.test".to_owned(),
    ];
    eventually("DNS SRV tries every target", || {
        tried(&srv_attempts) == want
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_sync_list_naming_this_node_does_not_wait_for_it() {
    // One list for every node, as a configuration file shared by all hosts would have.
    let epmd = free_port();
    let a = named("a", epmd).await;
    let b = named("b", epmd).await;
    let all = [a.name().clone(), b.name().clone()];
    let hosts = StaticHosts::new(all.clone())
        .sync_mandatory(all)
        .sync_timeout(Duration::from_secs(30));
    within(
        "cluster start",
        Cluster::builder().topology("hosts", hosts).start(&a),
    )
    .await
    .expect("a is not missing from its own sync list");
    assert!(a.nodes().contains(b.name()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_node_forms_its_connections_and_syncs() {
    let epmd = free_port();
    let b = named("b", epmd).await;
    let hidden = Node::builder()
        .name("h@127.0.0.1")
        .cookie("test-cookie")
        .epmd_port(epmd)
        .hidden(true)
        .start()
        .await
        .unwrap();
    let hosts = StaticHosts::new([])
        .sync_mandatory([b.name().clone()])
        .sync_timeout(Duration::from_secs(30));
    within(
        "cluster start",
        Cluster::builder().topology("hosts", hosts).start(&hidden),
    )
    .await
    .expect("the hidden connection counts");
    assert_eq!(hidden.hidden_nodes(), vec![b.name().clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_level_sync_works_with_any_strategy() {
    let epmd = free_port();
    let a = named("a", epmd).await;
    let b = named("b", epmd).await;
    within(
        "cluster start",
        Cluster::builder()
            .topology("local", LocalEpmd::new().interval(FAST))
            .sync(locus::cluster::SyncNodes {
                optional: vec![],
                mandatory: vec![b.name().clone()],
                timeout: Duration::from_secs(30),
            })
            .start(&a),
    )
    .await
    .unwrap();
    assert!(
        a.nodes().contains(b.name()),
        "start returned before b was up"
    );
    let ghost = name("ghost@127.0.0.1");
    let err = within(
        "cluster start",
        Cluster::builder()
            .topology("local", LocalEpmd::new().interval(FAST))
            .sync(locus::cluster::SyncNodes {
                optional: vec![],
                mandatory: vec![ghost.clone()],
                timeout: Duration::from_millis(300),
            })
            .start(&a),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ClusterError::MandatoryNodesDown { ref missing, .. } if missing == &[ghost])
    );
}
