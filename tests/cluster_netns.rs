//! Cluster formation across hosts: one `locus node` per Linux network namespace, the
//! namespaces joined by a bridge, each host with its own address and port mapper. Gossip
//! over real multicast, DNS poll (IPv4 and IPv6) and DNS SRV against dnsmasq on the test
//! network, late joiners, killed and restarted nodes, wrong secrets and cookies.
//!
//! Needs root, `ip` and dnsmasq; see `support/netns.rs` for how a missing one is handled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::netns::{Net, missing, tool};
use support::os::OsNode;

const COOKIE: &str = "netns-cookie";

/// `locus node` on host `i` of `net`, not yet waited for.
fn node_on(net: &Net, i: usize, name: &str, cookie: &str, args: &[&str]) -> OsNode {
    let mut cmd = net.cmd(i, env!("CARGO_BIN_EXE_locus"));
    cmd.args(["node", "--name", name, "--cookie", cookie])
        .args(args)
        .env("LOCUS_LOG", "info");
    OsNode::spawn(name, cmd)
}

/// Waits until `node` has printed `nodeup` for each of `peers`, in any order.
fn expect_up(node: &mut OsNode, peers: &[&str]) {
    node.expect_nodeup(peers);
}

/// Starts `names[i]` on each host `i` of `hosts` with `args`; waits until each is ready
/// and has seen all the others come up.
fn mesh(net: &Net, hosts: &[usize], names: &[String], args: &[&str]) -> Vec<OsNode> {
    let mut nodes: Vec<OsNode> = hosts
        .iter()
        .map(|&i| node_on(net, i, &names[i], COOKIE, args))
        .collect();
    for (n, &i) in nodes.iter_mut().zip(hosts) {
        n.expect(&format!("ready {}", names[i]));
        let others: Vec<&str> = hosts
            .iter()
            .filter(|&&j| j != i)
            .map(|&j| names[j].as_str())
            .collect();
        expect_up(n, &others);
    }
    nodes
}

fn gossip_args(secret: &str) -> Vec<String> {
    [
        "--strategy",
        "gossip",
        "--gossip-secret",
        secret,
        "--poll-interval",
        "200ms",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn gossip_forms_the_cluster_finds_late_nodes_and_heals() {
    let Some(net) = Net::new(5) else { return };
    let names: Vec<String> = net.hosts.iter().map(|h| format!("app@{}", h.v4)).collect();
    let args = gossip_args("s3cret");
    let mut nodes = mesh(&net, &[0, 1, 2], &names, &strs(&args));

    // A node that starts later is found by everyone.
    let mut late = node_on(&net, 3, &names[3], COOKIE, &strs(&args));
    late.expect(&format!("ready {}", names[3]));
    expect_up(&mut late, &[&names[0], &names[1], &names[2]]);
    for n in &mut nodes {
        expect_up(n, &[&names[3]]);
    }

    // A killed node is reported down, and rejoins when restarted.
    nodes[1].kill_9();
    for i in [0, 2] {
        nodes[i].expect_prefix(&format!("nodedown {} ", names[1]));
    }
    late.expect_prefix(&format!("nodedown {} ", names[1]));
    let mut back = node_on(&net, 1, &names[1], COOKIE, &strs(&args));
    back.expect(&format!("ready {}", names[1]));
    expect_up(&mut back, &[&names[0], &names[2], &names[3]]);
    for i in [0, 2] {
        expect_up(&mut nodes[i], &[&names[1]]);
    }

    // Another secret: its heartbeats are rejected on both sides; it never joins.
    let mut stranger = node_on(&net, 4, &names[4], COOKIE, &strs(&gossip_args("other")));
    stranger.expect(&format!("ready {}", names[4]));
    stranger.expect_line("rejecting our heartbeats", |l| {
        l.contains("ignoring packets from") && l.contains("another secret")
    });
    nodes[0].expect_line("rejecting the stranger's heartbeats", |l| {
        l.contains(&format!("ignoring packets from {}", net.hosts[4].v4))
    });
    assert!(!stranger.saw_prefix("nodeup"), "{:?}", stranger.seen);
    assert!(!nodes[0].saw_prefix(&format!("nodeup {}", names[4])));
    stranger.kill_9();

    // The right secret but another cookie: heard, its handshake fails, it stays out.
    let mut impostor = node_on(&net, 4, &names[4], "wrong-cookie", &strs(&args));
    impostor.expect(&format!("ready {}", names[4]));
    nodes[0].expect_line("a failed connection to the impostor", |l| {
        l.contains(&format!("unable to connect to {}", names[4]))
    });
    let (ok, listed) = nodes_of(&net, 0, &names[0]);
    assert!(ok);
    assert!(!listed.contains(&names[4]), "{listed:?}");
    assert!(!impostor.saw_prefix("nodeup"), "{:?}", impostor.seen);
}

/// `locus nodes NODE` run on host `i`: (success, the listed nodes).
fn nodes_of(net: &Net, i: usize, node: &str) -> (bool, Vec<String>) {
    let out = net
        .cmd(i, env!("CARGO_BIN_EXE_locus"))
        .args(["nodes", node, "--cookie", COOKIE])
        .output()
        .expect("run locus nodes");
    let text = String::from_utf8_lossy(&out.stdout);
    (
        out.status.success(),
        text.lines().map(str::to_owned).collect(),
    )
}

/// A dnsmasq on host `i` of `net`, answering on its addresses, port 53.
struct Dns {
    node: OsNode,
    hosts_file: std::path::PathBuf,
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.hosts_file);
    }
}

impl Dns {
    /// Starts dnsmasq serving `records` (its flags) and the hosts-file `entries`.
    fn start(net: &Net, i: usize, records: &[String], entries: &str) -> Option<Dns> {
        let Some(bin) = tool("dnsmasq") else {
            missing("dnsmasq", "apt-get install dnsmasq-base");
            return None;
        };
        let path = std::env::temp_dir().join(format!(
            "locus-dns-{}-{}.hosts",
            std::process::id(),
            net.hosts[i].ns
        ));
        std::fs::write(&path, entries).unwrap();
        let mut cmd = net.cmd(i, bin);
        cmd.args([
            "--keep-in-foreground",
            "--log-facility=-",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--user=root",
            "--pid-file=",
            "--local-ttl=0",
            &format!("--listen-address={},{}", net.hosts[i].v4, net.hosts[i].v6),
            &format!("--addn-hosts={}", path.display()),
        ])
        .args(records);
        let node = OsNode::spawn("dnsmasq", cmd);
        Some(Dns {
            node,
            hosts_file: path,
        })
    }

    /// Replaces the hosts-file entries and makes dnsmasq reread them.
    fn set_entries(&mut self, entries: &str) {
        std::fs::write(&self.hosts_file, entries).unwrap();
        // Lines so far (the first read of the file among them) are not the reread.
        self.node.drain();
        let pid = self.node.pid().to_string();
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        );
        self.node
            .expect_line("dnsmasq rereading the hosts file", |l| {
                l.contains("read") && l.contains(&self.hosts_file.display().to_string())
            });
    }
}

fn dns_args(query: &str, server: &str) -> Vec<String> {
    [
        "--strategy",
        "dns",
        "--dns-query",
        query,
        "--dns-basename",
        "app",
        "--dns-server",
        server,
        "--poll-interval",
        "200ms",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn dns_poll_forms_the_cluster_finds_late_nodes_and_heals() {
    let Some(net) = Net::new(4) else { return };
    let h = &net.hosts;
    let entries = |n: usize| -> String {
        (1..=n)
            .map(|i| format!("{} app.locus.test\n", h[i].v4))
            .collect()
    };
    let Some(mut dns) = Dns::start(&net, 0, &[], &entries(2)) else {
        return;
    };
    let names: Vec<String> = h.iter().map(|h| format!("app@{}", h.v4)).collect();
    let args = dns_args("app.locus.test", &h[0].v4);
    let mut a = node_on(&net, 1, &names[1], COOKIE, &strs(&args));
    let mut b = node_on(&net, 2, &names[2], COOKIE, &strs(&args));
    a.expect(&format!("ready {}", names[1]));
    b.expect(&format!("ready {}", names[2]));
    expect_up(&mut a, &[&names[2]]);
    expect_up(&mut b, &[&names[1]]);

    // A late node gets its record, starts, and is found.
    dns.set_entries(&entries(3));
    let mut c = node_on(&net, 3, &names[3], COOKIE, &strs(&args));
    c.expect(&format!("ready {}", names[3]));
    expect_up(&mut c, &[&names[1], &names[2]]);
    expect_up(&mut a, &[&names[3]]);
    expect_up(&mut b, &[&names[3]]);

    // Killed: down everywhere; restarted: back.
    b.kill_9();
    a.expect_prefix(&format!("nodedown {} ", names[2]));
    c.expect_prefix(&format!("nodedown {} ", names[2]));
    let mut b = node_on(&net, 2, &names[2], COOKIE, &strs(&args));
    b.expect(&format!("ready {}", names[2]));
    expect_up(&mut b, &[&names[1], &names[3]]);
    expect_up(&mut a, &[&names[2]]);
    expect_up(&mut c, &[&names[2]]);
}

#[test]
fn dns_poll_over_ipv6_connects_nodes_by_their_ipv6_addresses() {
    let Some(net) = Net::new(3) else { return };
    let h = &net.hosts;
    let entries: String = (1..3)
        .map(|i| format!("{} app6.locus.test\n", h[i].v6))
        .collect();
    let Some(_dns) = Dns::start(&net, 0, &[], &entries) else {
        return;
    };
    let names: Vec<String> = h.iter().map(|h| format!("app@{}", h.v6)).collect();
    let server = format!("[{}]:53", h[0].v6);
    let args = dns_args("app6.locus.test", &server);
    mesh(&net, &[1, 2], &names, &strs(&args));
}

#[test]
fn dns_srv_forms_the_cluster_from_a_headless_service() {
    let Some(net) = Net::new(4) else { return };
    let h = &net.hosts;
    // As Kubernetes names the pods of a headless service.
    let pod = |i: usize| format!("app-{i}.app.default.svc.locus.test");
    let mut records = Vec::new();
    let mut entries = String::new();
    for (i, host) in h.iter().enumerate().skip(1) {
        records.push(format!(
            "--srv-host=app.default.svc.locus.test,{},4369",
            pod(i)
        ));
        entries.push_str(&format!("{} {}\n", host.v4, pod(i)));
    }
    let Some(_dns) = Dns::start(&net, 0, &records, &entries) else {
        return;
    };
    // No --dns-server: the SRV query and the targets' names go through each host's
    // resolv.conf, as in a pod.
    for i in 1..4 {
        net.set_nameserver(i, &h[0].v4);
    }
    let args = [
        "--strategy",
        "dns-srv",
        "--dns-query",
        "app.default.svc.locus.test",
        "--poll-interval",
        "200ms",
    ];
    let names: Vec<String> = (0..4).map(|i| format!("app@{}", pod(i))).collect();
    mesh(&net, &[1, 2, 3], &names, &args);
}

#[test]
fn gossip_in_broadcast_mode_forms_the_cluster() {
    let Some(net) = Net::new(2) else { return };
    let names: Vec<String> = net.hosts.iter().map(|h| format!("app@{}", h.v4)).collect();
    let args = [
        "--strategy",
        "gossip",
        "--gossip-broadcast",
        "--gossip-addr",
        "10.77.0.255",
        "--poll-interval",
        "200ms",
    ];
    mesh(&net, &[0, 1], &names, &args);
}

#[test]
fn static_hosts_with_a_port_range_and_port_mapper_hosts_across_machines() {
    // The EC2 set-up: every node lists the others, waits for them at start, and listens
    // on a fixed range of ports (what the firewall opens).
    let Some(net) = Net::new(4) else { return };
    let names: Vec<String> = net.hosts.iter().map(|h| format!("app@{}", h.v4)).collect();
    let peers = |i: usize| -> String {
        (0..3)
            .filter(|j| *j != i)
            .map(|j| names[j].clone())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut nodes: Vec<OsNode> = (0..3)
        .map(|i| {
            let p = peers(i);
            let args = [
                "--strategy",
                "static",
                "--sync-optional",
                p.as_str(),
                "--sync-timeout",
                "20s",
                "--port-range",
                "9100-9155",
            ];
            node_on(&net, i, &names[i], COOKIE, &args)
        })
        .collect();
    for (i, n) in nodes.iter_mut().enumerate() {
        n.expect(&format!("ready {}", names[i]));
        let others: Vec<&str> = (0..3)
            .filter(|j| *j != i)
            .map(|j| names[j].as_str())
            .collect();
        expect_up(n, &others);
    }
    // Every node listens inside the range, as the port mapper of its host reports.
    for (i, h) in net.hosts.iter().take(3).enumerate() {
        let out = net
            .cmd(i, env!("CARGO_BIN_EXE_locus"))
            .args(["names", "--host", &h.v4])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let port: u16 = text
            .lines()
            .find_map(|l| l.strip_prefix("name app at port "))
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no app in {text}"));
        assert!((9100..=9155).contains(&port), "port {port}");
    }
    // Port-mapper hosts: a fourth machine asks each host's port mapper who runs there.
    let hosts: Vec<String> = net.hosts.iter().take(3).map(|h| h.v4.clone()).collect();
    let hosts = hosts.join(",");
    let mut d = node_on(
        &net,
        3,
        &names[3],
        COOKIE,
        &[
            "--strategy",
            "epmd-hosts",
            "--hosts",
            &hosts,
            "--poll-interval",
            "200ms",
        ],
    );
    d.expect(&format!("ready {}", names[3]));
    expect_up(&mut d, &[&names[0], &names[1], &names[2]]);
}
