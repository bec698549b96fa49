//! The real `locus` binary, several OS processes on this machine: meshing, kill -9,
//! port-mapper takeover, and the inspection commands.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use support::os::{OsNode, run};
use support::{DEADLINE, free_port};

/// Three nodes meshed through the first.
fn three(epmd: u16) -> Vec<OsNode> {
    let mut n1 = OsNode::start("n1@127.0.0.1", epmd, &[]);
    let mut n2 = OsNode::start("n2@127.0.0.1", epmd, &["--connect", "n1@127.0.0.1"]);
    let mut n3 = OsNode::start("n3@127.0.0.1", epmd, &["--connect", "n1@127.0.0.1"]);
    for (node, others) in [
        (&mut n1, ["n2", "n3"]),
        (&mut n2, ["n1", "n3"]),
        (&mut n3, ["n1", "n2"]),
    ] {
        let others = others.map(|o| format!("{o}@127.0.0.1"));
        node.expect_nodeup(&[&others[0], &others[1]]);
    }
    vec![n1, n2, n3]
}

#[test]
fn three_nodes_mesh_and_kill_9_is_reported_by_the_others() {
    let epmd = free_port();
    let mut nodes = three(epmd);
    let epmd_s = epmd.to_string();
    let common = ["--cookie", "os-test", "--epmd-port", &epmd_s];
    let (ok, out) = run(&[&["nodes", "n2@127.0.0.1"][..], &common].concat());
    assert!(ok);
    assert_eq!(out, "n1@127.0.0.1\nn3@127.0.0.1\n");
    nodes[2].kill_9();
    nodes[0].expect("nodedown n3@127.0.0.1 connection_closed");
    nodes[1].expect("nodedown n3@127.0.0.1 connection_closed");
    let (ok, out) = run(&[&["ping", "n3@127.0.0.1"][..], &common].concat());
    assert!(!ok);
    assert_eq!(out, "pang\n");
    let (ok, out) = run(&[&["ping", "n1@127.0.0.1"][..], &common].concat());
    assert!(ok);
    assert_eq!(out, "pong\n");
    // SIGTERM: a clean exit, and the peer sees a shutdown.
    assert!(nodes[0].terminate().success());
    nodes[1].expect("nodedown n1@127.0.0.1 shutdown");
}

#[test]
fn a_wrong_cookie_is_pang() {
    let epmd = free_port();
    let _n1 = OsNode::start("n1@127.0.0.1", epmd, &[]);
    let (ok, out) = run(&[
        "ping",
        "n1@127.0.0.1",
        "--cookie",
        "wrong",
        "--epmd-port",
        &epmd.to_string(),
    ]);
    assert!(!ok);
    assert_eq!(out, "pang\n");
}

/// Nodes registered with the port mapper, as `locus names` prints them.
fn names(epmd: u16) -> Option<Vec<String>> {
    let (ok, out) = run(&["names", "--epmd-port", &epmd.to_string()]);
    ok.then(|| {
        let mut v: Vec<String> = out
            .lines()
            .filter_map(|l| l.strip_prefix("name "))
            .filter_map(|l| l.split(' ').next())
            .filter(|n| !n.starts_with("locus-cli"))
            .map(str::to_owned)
            .collect();
        v.sort();
        v
    })
}

#[test]
fn a_surviving_node_takes_the_port_mapper_over() {
    let epmd = free_port();
    // n1 starts first, finds no port mapper, and serves it.
    let mut nodes = three(epmd);
    assert_eq!(names(epmd).unwrap(), vec!["n1", "n2", "n3"]);
    nodes[0].kill_9();
    // n2 or n3 takes the port; both register again.
    let start = Instant::now();
    while names(epmd).as_deref() != Some(&["n2".to_string(), "n3".to_string()][..]) {
        assert!(start.elapsed() < DEADLINE, "no takeover: {:?}", names(epmd));
        std::thread::sleep(Duration::from_millis(20));
    }
    // The cluster still works through the new port mapper: a new node joins.
    let mut n4 = OsNode::start("n4@127.0.0.1", epmd, &["--connect", "n2@127.0.0.1"]);
    n4.expect_nodeup(&["n2@127.0.0.1", "n3@127.0.0.1"]);
}

#[test]
fn bench_prints_the_figures_and_the_floor_as_json() {
    let epmd = free_port();
    let _n1 = OsNode::start("n1@127.0.0.1", epmd, &[]);
    let (ok, out) = run(&[
        "bench",
        "n1@127.0.0.1",
        "--calls",
        "200",
        "--payload",
        "64",
        "--json",
        "--cookie",
        "os-test",
        "--epmd-port",
        &epmd.to_string(),
    ]);
    assert!(ok, "{out}");
    for key in [
        "p50_us",
        "p99_us",
        "p999_us",
        "calls_per_sec",
        "floor_p50_us",
        "ratio_p50",
    ] {
        assert!(
            out.contains(&format!("\"{key}\":")),
            "{key} missing in {out}"
        );
    }
    // Both sides' worker threads, the node's from its `locus.info`.
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert!(v["workers"].as_u64().is_some_and(|n| n >= 1), "{out}");
    assert!(
        v["target_workers"].as_u64().is_some_and(|n| n >= 1),
        "{out}"
    );
    // A payload large enough to go out by reference (a `Blob` of 1 MiB): the bench checks
    // that the first answer is the payload it sent, byte for byte.
    let (ok, out) = run(&[
        "bench",
        "n1@127.0.0.1",
        "--calls",
        "20",
        "--payload",
        "1048576",
        "--json",
        "--cookie",
        "os-test",
        "--epmd-port",
        &epmd.to_string(),
    ]);
    assert!(ok, "{out}");
}

#[test]
fn a_node_in_fixed_port_mode_needs_no_port_mapper() {
    let epmd = free_port();
    let p = free_port();
    let mut a = OsNode::start("a@127.0.0.1", epmd, &["--dist-port", &p.to_string()]);
    assert!(names(epmd).is_none(), "no port mapper was started");
    a.expect_nothing_else();
}

impl OsNode {
    fn expect_nothing_else(&mut self) {
        let lines = self.drain();
        assert!(
            lines
                .iter()
                .all(|l| l.starts_with("ready") || l.starts_with("! ")),
            "{lines:?}"
        );
    }
}

#[test]
fn rpc_and_multicall_from_the_command_line() {
    let epmd = free_port();
    let nodes = three(epmd);
    let epmd_s = epmd.to_string();
    let common = ["--cookie", "os-test", "--epmd-port", &epmd_s];
    let (ok, out) = run(&[&["rpc", "n2@127.0.0.1", "node.self"][..], &common].concat());
    assert!(ok);
    assert_eq!(out, "\"n2@127.0.0.1\"\n");
    let (ok, out) = run(&[&["rpc", "n1@127.0.0.1", "node.list", "null"][..], &common].concat());
    assert!(ok);
    assert_eq!(out, "[\"n2@127.0.0.1\",\"n3@127.0.0.1\"]\n");
    let (ok, _) = run(&[&["rpc", "n1@127.0.0.1", "no.such.function"][..], &common].concat());
    assert!(!ok);
    let (ok, out) = run(&[&["multicall", "n1@127.0.0.1", "node.self"][..], &common].concat());
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut answered: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ok"].as_str().unwrap().to_owned())
        .collect();
    answered.sort();
    assert_eq!(
        answered,
        vec!["n1@127.0.0.1", "n2@127.0.0.1", "n3@127.0.0.1"]
    );
    assert_eq!(v["bad_nodes"], serde_json::json!([]));
    drop(nodes);
}

/// CPU seconds (user and system) process `pid` has used so far, from `/proc/PID/stat`.
#[cfg(target_os = "linux")]
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name sits in parentheses and may hold spaces: count fields after it.
    // utime and stime are fields 14 and 15 of the line, the 12th and 13th after the name.
    let after_name: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    let ticks: u64 =
        after_name[11].parse::<u64>().unwrap() + after_name[12].parse::<u64>().unwrap();
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .unwrap();
    let per_second: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    ticks as f64 / per_second
}

/// The spin before parking costs CPU only while traffic flows: a node given a long spin
/// window (20 ms) busy-polls during a burst of calls, and once the window has passed with
/// no traffic it uses no CPU, its connection still up.
#[test]
#[cfg(target_os = "linux")]
fn a_node_stops_spinning_once_traffic_stops() {
    let epmd = free_port();
    let n1 = OsNode::start("n1@127.0.0.1", epmd, &["--spin-us", "20000"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let me = locus::Node::builder()
            .name("caller@127.0.0.1")
            .cookie("os-test")
            .epmd_port(epmd)
            .start()
            .await
            .unwrap();
        let target: locus::NodeName = "n1@127.0.0.1".parse().unwrap();
        me.connect(&target).await.unwrap();
        let before = cpu_seconds(n1.pid());
        let start = Instant::now();
        for _ in 0..2_000 {
            let who: locus::NodeName = me
                .rpc()
                .call(&target, "node.self", (), DEADLINE)
                .await
                .unwrap();
            assert_eq!(who, target);
        }
        let busy = cpu_seconds(n1.pid()) - before;
        println!(
            "2,000 calls in {:?}: the callee used {busy:.3} s of CPU",
            start.elapsed()
        );
        // Two seconds of silence, measured from the last reply: the first 20 ms are the
        // spin window, which may still burn its share.
        let idle_from = cpu_seconds(n1.pid());
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle = cpu_seconds(n1.pid()) - idle_from;
        println!("two idle seconds: the callee used {idle:.3} s of CPU");
        // A spinning reader would burn close to 2 s; a sleeping node, a tick or two at most.
        assert!(
            idle < 0.1,
            "an idle node used {idle:.3} s of CPU in 2 s: something still spins"
        );
        assert_eq!(me.nodes(), vec![target.clone()], "the connection stays up");
        me.shutdown().await;
    });
    drop(n1);
}
