//! The seed examples as a user runs them: several OS processes of each example on one
//! machine, driven through their prompt (standard input) and checked by what they print
//! or answer over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::os::{OsNode, example, run};
use support::{DEADLINE, free_port};

/// Starts `name` of example `which` on port mapper `epmd`, joining `hosts`, and waits
/// for its `ready` line.
fn start(which: &str, name: &str, epmd: u16, hosts: &[&str], extra: &[&str]) -> OsNode {
    let mut cmd = example(which);
    cmd.args(["--name", name, "--cookie", "examples", "--epmd-port"])
        .arg(epmd.to_string());
    if !hosts.is_empty() {
        cmd.args(["--hosts", &hosts.join(",")]);
    }
    cmd.args(extra);
    let mut node = OsNode::spawn(name, cmd);
    node.expect_prefix(&format!("ready {name}"));
    node
}

/// Waits until `node` lists each of `peers` (asked with `locus nodes`): a joining node
/// prints `ready` once its side of the connection is up, a moment before the other side's.
fn wait_for_peers(node: &str, epmd: u16, peers: &[&str]) {
    let epmd = epmd.to_string();
    let start = Instant::now();
    loop {
        let (ok, out) = run(&["nodes", node, "--cookie", "examples", "--epmd-port", &epmd]);
        if ok && peers.iter().all(|p| out.lines().any(|l| l == *p)) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{node} did not list {peers:?} within {DEADLINE:?}: {out}"
        );
        // A poll interval between attempts, not a wait for the event.
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn observer_logs_nodes_joining_and_leaving() {
    let epmd = free_port();
    let mut n1 = start("observer", "n1@127.0.0.1", epmd, &[], &[]);
    let mut n2 = start("observer", "n2@127.0.0.1", epmd, &["n1@127.0.0.1"], &[]);
    n1.expect("--- Node up: n2@127.0.0.1");
    // n2 may see n1 before it prints `ready` (it waits for its hosts at start).
    n2.expect_ever("--- Node up: n1@127.0.0.1");
    // Ctrl-C / SIGTERM on n2: n1 sees it leave.
    assert!(n2.terminate().success());
    n1.expect("--- Node down: n2@127.0.0.1");
}

#[test]
fn ping_calls_the_ping_server_of_every_node() {
    let epmd = free_port();
    let mut n1 = start("ping", "n1@127.0.0.1", epmd, &[], &[]);
    let mut n2 = start("ping", "n2@127.0.0.1", epmd, &["n1@127.0.0.1"], &[]);
    let mut n3 = start("ping", "n3@127.0.0.1", epmd, &["n1@127.0.0.1"], &[]);
    wait_for_peers("n1@127.0.0.1", epmd, &["n2@127.0.0.1", "n3@127.0.0.1"]);
    n1.send_line("nodes");
    n1.expect_line("Node.list with both peers", |l| {
        l == "[n2@127.0.0.1, n3@127.0.0.1]"
    });
    n1.send_line("ping");
    n1.expect("[{ok, n2@127.0.0.1, pong}, {ok, n3@127.0.0.1, pong}]");
    // Each callee logged the call.
    for n in [&mut n2, &mut n3] {
        n.expect_prefix("--- Receiving ping from ");
    }
}

#[test]
fn multicall_gathers_every_nodes_answer_on_the_caller_and_names_bad_nodes() {
    let epmd = free_port();
    let mut barry = start("multicall", "barry@127.0.0.1", epmd, &[], &[]);
    let _maurice = start(
        "multicall",
        "maurice@127.0.0.1",
        epmd,
        &["barry@127.0.0.1"],
        &[],
    );
    let _robin = start(
        "multicall",
        "robin@127.0.0.1",
        epmd,
        &["barry@127.0.0.1"],
        &[],
    );
    wait_for_peers(
        "barry@127.0.0.1",
        epmd,
        &["maurice@127.0.0.1", "robin@127.0.0.1"],
    );
    barry.send_line("multicall ghost@127.0.0.1");
    barry.expect(
        "jokes.start on [barry@127.0.0.1, maurice@127.0.0.1, robin@127.0.0.1, ghost@127.0.0.1]: \
         {[ok, ok, ok], [ghost@127.0.0.1]}",
    );
    barry.expect("jokes.fetch: {[");
    let mut from = Vec::new();
    loop {
        let line = barry.expect_line("a result or the end", |_| true);
        if let Some(bad) = line.strip_prefix("], [") {
            assert_eq!(bad, "ghost@127.0.0.1]}");
            break;
        }
        let (node, joke) = line.trim().split_once(": ").expect("node: joke");
        assert!(joke.starts_with('"'), "{line}");
        from.push(node.to_owned());
    }
    assert_eq!(
        from,
        ["barry@127.0.0.1", "maurice@127.0.0.1", "robin@127.0.0.1"]
    );
}

/// `GET path` on `port`; returns the body.
fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The status JSON as (current node, connected nodes).
fn status(body: &str) -> (String, Vec<String>) {
    let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
    let current = v["current_node"].as_str().expect("current_node").to_owned();
    let connected = v["connected_nodes"]
        .as_array()
        .expect("connected_nodes")
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    (current, connected)
}

/// Three `cluster_status` nodes, meshed; returns them with their HTTP ports.
fn status_cluster(epmd: u16) -> Vec<(OsNode, u16)> {
    let names = ["app1@127.0.0.1", "app2@127.0.0.1", "app3@127.0.0.1"];
    let mut nodes = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let port = free_port();
        let hosts: Vec<&str> = names[..i].to_vec();
        let node = start(
            "cluster_status",
            name,
            epmd,
            &hosts,
            &["--port", &port.to_string()],
        );
        nodes.push((node, port));
    }
    // Wait until each node's answer lists the two others.
    let start = Instant::now();
    for (_, port) in &nodes {
        loop {
            let (_, connected) = status(&http_get(*port, "/"));
            if connected.len() == 2 {
                break;
            }
            assert!(start.elapsed() < DEADLINE, "no full mesh: {connected:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    nodes
}

#[test]
fn cluster_status_answers_with_the_serving_node_and_its_peers() {
    let epmd = free_port();
    let nodes = status_cluster(epmd);
    let (current, mut connected) = status(&http_get(nodes[1].1, "/"));
    connected.sort();
    assert_eq!(current, "app2@127.0.0.1");
    assert_eq!(connected, ["app1@127.0.0.1", "app3@127.0.0.1"]);
}

#[test]
fn cluster_status_behind_haproxy_round_robin_answers_from_every_node() {
    let Some(haproxy) = support::netns::tool("haproxy") else {
        support::netns::missing("haproxy", "apt-get install haproxy");
        return;
    };
    let epmd = free_port();
    let nodes = status_cluster(epmd);
    // seeds/000's haproxy.cfg, on loopback ports.
    let front = free_port();
    let servers: String = nodes
        .iter()
        .enumerate()
        .map(|(i, (_, port))| format!("    server app{} 127.0.0.1:{port} check\n", i + 1))
        .collect();
    let cfg = format!(
        "global\n    maxconn 2000\n\
         defaults\n    mode http\n    timeout connect 10000\n    timeout client 20000\n    timeout server 20000\n\
         listen locus-app\n    bind 127.0.0.1:{front}\n    balance roundrobin\n    option http-server-close\n{servers}"
    );
    let path =
        std::env::temp_dir().join(format!("locus-haproxy-{}-{front}.cfg", std::process::id()));
    std::fs::write(&path, cfg).unwrap();
    let check = std::process::Command::new(&haproxy)
        .args(["-c", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut cmd = std::process::Command::new(&haproxy);
    cmd.args(["-db", "-f"]).arg(&path);
    let _proxy = OsNode::spawn("haproxy", cmd);
    // Until HAProxy listens, connections are refused: retry within the deadline.
    let start = Instant::now();
    let first = loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", front)) {
            let _ = s.write_all(b"");
            break http_get(front, "/");
        }
        assert!(start.elapsed() < DEADLINE, "HAProxy did not listen");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut seen = vec![status(&first).0];
    for _ in 0..5 {
        let (current, connected) = status(&http_get(front, "/"));
        assert_eq!(connected.len(), 2, "every node sees the whole cluster");
        seen.push(current);
    }
    let _ = std::fs::remove_file(&path);
    // Round robin: three different nodes answer in turn, and each again.
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct,
        ["app1@127.0.0.1", "app2@127.0.0.1", "app3@127.0.0.1"],
        "{seen:?}"
    );
    assert_eq!(seen[0..3], seen[3..6], "{seen:?}");
}

#[test]
fn singleton_runs_once_in_the_cluster_and_moves_when_its_node_dies() {
    let epmd = free_port();
    let names = ["n1@127.0.0.1", "n2@127.0.0.1", "n3@127.0.0.1"];
    let every = ["--every-ms", "100"];
    let mut nodes: Vec<OsNode> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        nodes.push(start("singleton", name, epmd, &names[..i], &every));
    }
    // Whoever ticks holds the singleton.
    let holder = wait_for_ticks(&mut nodes, None);
    // Exactly one node ticks: the others report the holder.
    for (i, n) in nodes.iter_mut().enumerate() {
        if i != holder {
            n.expect_ever(&format!("singleton runs on {}", names[holder]));
        }
    }
    // Kill it: another node takes over, within the deadline.
    nodes[holder].kill_9();
    let next = wait_for_ticks(&mut nodes, Some(holder));
    assert_ne!(next, holder);
    nodes[next].expect_ever(&format!("tick 1 on {}", names[next]));
}

/// Waits until some node other than `dead` prints ticks; returns its index. No two live
/// nodes may tick at once.
fn wait_for_ticks(nodes: &mut [OsNode], dead: Option<usize>) -> usize {
    let start = Instant::now();
    loop {
        let mut ticking = Vec::new();
        for (i, n) in nodes.iter_mut().enumerate() {
            if Some(i) == dead {
                continue;
            }
            let seen = n.drain().len();
            // Ticks after a start on this node.
            let started = n
                .seen
                .iter()
                .rposition(|l| l.starts_with("singleton started on"));
            if let Some(at) = started
                && n.seen[at..seen]
                    .iter()
                    .filter(|l| l.starts_with("tick "))
                    .count()
                    >= 3
            {
                ticking.push(i);
            }
        }
        match ticking.as_slice() {
            [one] => return *one,
            [] => {}
            many => panic!("more than one singleton ticks: {many:?}"),
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no node took the singleton over"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn progress_of_a_download_reaches_every_node() {
    let epmd = free_port();
    let names = ["n1@127.0.0.1", "n2@127.0.0.1", "n3@127.0.0.1"];
    let fast = ["--chunk-ms", "50"];
    let mut nodes: Vec<OsNode> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        nodes.push(start("progress", name, epmd, &names[..i], &fast));
    }
    for name in names {
        let others: Vec<&str> = names.iter().copied().filter(|n| *n != name).collect();
        wait_for_peers(name, epmd, &others);
    }
    nodes[0].send_line("download big.iso 4 on n3@127.0.0.1");
    nodes[0].expect("requested big.iso on n3@127.0.0.1");
    for n in &mut nodes {
        for pct in [25, 50, 75, 100] {
            n.expect(&format!("big.iso {pct}% (on n3@127.0.0.1)"));
        }
    }
    // Without a target, downloads go to the nodes in turn.
    nodes[1].send_line("download a.bin 1");
    let first = nodes[1].expect_prefix("requested a.bin on ");
    nodes[1].send_line("download b.bin 1");
    let second = nodes[1].expect_prefix("requested b.bin on ");
    assert_ne!(
        first["requested a.bin on ".len()..],
        second["requested b.bin on ".len()..]
    );
}

#[test]
fn version_monitor_follows_a_rolling_deploy() {
    let epmd = free_port();
    let v = |version: &'static str| ["--app-version", version, "--every-ms", "200"];
    let mut n1 = start("version_monitor", "n1@127.0.0.1", epmd, &[], &v("1.0.0"));
    let n2 = start(
        "version_monitor",
        "n2@127.0.0.1",
        epmd,
        &["n1@127.0.0.1"],
        &v("1.0.0"),
    );
    n1.expect("versions: 1.0.0 on [n1@127.0.0.1, n2@127.0.0.1] -- uniform");
    // The deploy starts: a node on 1.1.0 joins.
    let _n3 = start(
        "version_monitor",
        "n3@127.0.0.1",
        epmd,
        &["n1@127.0.0.1"],
        &v("1.1.0"),
    );
    n1.expect("versions: 1.0.0 on [n1@127.0.0.1, n2@127.0.0.1]; 1.1.0 on [n3@127.0.0.1] -- MIXED");
    // n2 is replaced by its 1.1.0 build.
    drop(n2);
    let _n2 = start(
        "version_monitor",
        "n2@127.0.0.1",
        epmd,
        &["n1@127.0.0.1"],
        &v("1.1.0"),
    );
    n1.expect("versions: 1.0.0 on [n1@127.0.0.1]; 1.1.0 on [n2@127.0.0.1, n3@127.0.0.1] -- MIXED");
    // Finally n1 itself: watched from n3.
    drop(n1);
    let mut n1 = start(
        "version_monitor",
        "n1@127.0.0.1",
        epmd,
        &["n3@127.0.0.1"],
        &v("1.1.0"),
    );
    n1.expect("versions: 1.1.0 on [n1@127.0.0.1, n2@127.0.0.1, n3@127.0.0.1] -- uniform");
}
