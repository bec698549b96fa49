//! What a node tells about itself (`Node::info`, the `locus.info` rpc, `locus info`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use locus::Ctx;
use locus::introspect::NodeInfo;
use support::os::{OsNode, run};
use support::{eventually, free_port, named};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_shows_processes_names_mailboxes_connections_groups_and_events() {
    let epmd = free_port();
    let a = named("a", epmd).await;
    let b = named("b", epmd).await;
    // The node runs on this test's runtime, of two workers.
    assert_eq!(a.info().workers, Some(2));
    // A process that never reads, with 25 messages waiting: the busiest.
    let sink = a.spawn(|_ctx: Ctx<u32>| std::future::pending::<()>());
    a.register("sink", sink.pid()).unwrap();
    for i in 0u32..25 {
        a.send(sink.pid(), i).unwrap();
    }
    a.global().register("the-sink", sink.pid()).await.unwrap();
    a.pg().join("workers", sink.pid()).await.unwrap();
    b.connect(a.name()).await.unwrap();
    let answer: locus::NodeName = b
        .rpc()
        .call(a.name(), "node.self", (), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(&answer, a.name());

    let info = a.info();
    assert_eq!(&info.node, a.name());
    assert!(info.processes >= 2, "{}", info.processes);
    assert!(info.registered.contains(&"sink".to_owned()));
    let top = &info.busiest[0];
    assert_eq!((top.name.as_deref(), top.mailbox), (Some("sink"), 25));
    assert_eq!(
        info.global,
        vec![("the-sink".to_owned(), sink.pid().clone())]
    );
    assert!(
        info.groups
            .iter()
            .any(|g| g.group == "workers" && g.members == 1)
    );
    let conn = info
        .connections
        .iter()
        .find(|c| &c.peer == b.name())
        .expect("a connection to b");
    assert!(conn.frames_in > 0 && conn.frames_out > 0 && conn.bytes_in > 0 && conn.bytes_out > 0);
    assert!(info.events.iter().any(|e| e.up && &e.peer == b.name()));
    assert!(info.memory_bytes.unwrap_or(1) > 0);

    // The same from another node, through rpc; and node events as they happen.
    let remote: NodeInfo = b
        .rpc()
        .call(a.name(), "locus.info", (), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(remote.busiest[0].mailbox, 25);
    b.shutdown().await;
    eventually("a records b going down", || {
        a.info()
            .events
            .iter()
            .any(|e| !e.up && e.peer.as_str() == "b@127.0.0.1")
    })
    .await;
}

#[test]
fn locus_info_prints_the_snapshot_as_json() {
    let epmd = free_port();
    let _n = OsNode::start("n1@127.0.0.1", epmd, &[]);
    let epmd_s = epmd.to_string();
    let (ok, out) = run(&[
        "info",
        "n1@127.0.0.1",
        "--cookie",
        "os-test",
        "--epmd-port",
        &epmd_s,
    ]);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["node"], "n1@127.0.0.1");
    assert!(
        v["registered"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "ping")
    );
    assert!(v["processes"].as_u64().unwrap() > 0);
}

/// `--workers N` sizes the node's runtime (Erlang's `+S`), and `locus info` tells it.
#[test]
fn workers_size_the_runtime_and_info_tells_how_many() {
    let epmd = free_port();
    let epmd_s = epmd.to_string();
    let _one = OsNode::start("w1@127.0.0.1", epmd, &["--workers", "1"]);
    let _three = OsNode::start("w3@127.0.0.1", epmd, &["--workers", "3"]);
    for (node, workers) in [("w1@127.0.0.1", 1), ("w3@127.0.0.1", 3)] {
        let (ok, out) = run(&["info", node, "--cookie", "os-test", "--epmd-port", &epmd_s]);
        assert!(ok, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(v["workers"], workers, "{node}: {out}");
    }
    let out = support::os::locus()
        .args(["--workers", "0", "names"])
        .output()
        .expect("run locus");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--workers"), "{err}");
}
