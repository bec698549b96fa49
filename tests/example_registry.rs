//! The custom-strategy example (`examples/registry_cluster.rs`) as OS processes: a registry
//! and nodes that find each other through it, heal after a kill, and rejoin.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::free_port;
use support::os::OsNode;

fn example() -> Command {
    support::os::example("registry_cluster")
}

fn node(name: &str, epmd: u16, registry: &str) -> OsNode {
    let mut cmd = example();
    cmd.args([
        "node",
        "--name",
        name,
        "--epmd-port",
        &epmd.to_string(),
        "--registry",
        registry,
        "--interval",
        "0.1",
    ]);
    let mut n = OsNode::spawn(name, cmd);
    n.expect(&format!("ready {name}"));
    n
}

#[test]
fn nodes_cluster_through_the_http_registry_and_rejoin_after_a_kill() {
    let port = free_port();
    let mut cmd = example();
    cmd.args([
        "registry",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--lease",
        "1",
    ]);
    let mut registry = OsNode::spawn("registry", cmd);
    registry.expect(&format!("registry listening on http://127.0.0.1:{port}"));
    let url = format!("http://127.0.0.1:{port}");
    let epmd = free_port();
    let mut a = node("a@127.0.0.1", epmd, &url);
    let mut b = node("b@127.0.0.1", epmd, &url);
    a.expect("nodeup b@127.0.0.1");
    b.expect("nodeup a@127.0.0.1");
    let mut c = node("c@127.0.0.1", epmd, &url);
    c.expect_nodeup(&["a@127.0.0.1", "b@127.0.0.1"]);
    a.expect("nodeup c@127.0.0.1");

    b.kill_9();
    a.expect_prefix("nodedown b@127.0.0.1 ");
    c.expect_prefix("nodedown b@127.0.0.1 ");
    let _b = node("b@127.0.0.1", epmd, &url);
    a.expect("nodeup b@127.0.0.1");
    c.expect("nodeup b@127.0.0.1");
}
