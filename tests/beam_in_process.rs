//! A locus node started in the test's own process, with `erlang_dist`, beside a real Elixir
//! node: links, monitors and exits across the boundary both ways, a dead BEAM node seen as
//! `NoConnection` and `NodeDown`, a locus client's errors against BEAM servers (no process,
//! a crash, a timeout, a node down), and messages of megabytes both ways. Skipped, with a
//! message, where Elixir is not installed (a failure under `LOCUS_TEST_STRICT=1`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use locus::{
    CallError, Client, Ctx, ExitReason, GenServer, Node, NodeDownReason, NodeEvent, Pid,
    RemoteCodec, Signal,
};
use serde::{Deserialize, Serialize};
use support::beam::{self, BeamNode, Mapper, unique};
use support::within;

const COOKIE: &str = "a-cookie-of-twenty-characters-or-more";

/// A locus node with Erlang distribution on its own port mapper, and an Elixir node on the
/// same port mapper, connected.
async fn pair(prefix: &str) -> Option<(Node, BeamNode)> {
    let elixir = beam::elixir()?;
    let mapper = Mapper::locus();
    let node = Node::builder()
        .name(unique(&format!("{prefix}l_")))
        .cookie(COOKIE)
        .epmd_port(mapper.port())
        .erlang_dist(true)
        .start()
        .await
        .expect("the locus node starts");
    let name = unique(&format!("{prefix}e_"));
    let beam =
        tokio::task::spawn_blocking(move || BeamNode::start(&elixir, &name, COOKIE, mapper, ""))
            .await
            .unwrap();
    let peer = beam.name.clone();
    within("connecting to the Elixir node", node.connect(&peer))
        .await
        .expect("connects");
    Some((node, beam))
}

/// Runs a blocking evaluation on the Elixir node off the runtime's threads.
async fn eval(beam: BeamNode, code: String) -> (BeamNode, String) {
    tokio::task::spawn_blocking(move || {
        let mut beam = beam;
        let v = beam.eval(&code);
        (beam, v)
    })
    .await
    .unwrap()
}

/// Waits for the first `Down` or `Exit` a process gets.
async fn next_signal<M: Send + 'static>(ctx: &mut Ctx<M>) -> Signal<M> {
    loop {
        match within("a signal", ctx.recv()).await {
            s @ (Signal::Down(_) | Signal::Exit(_)) => return s,
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn links_monitors_and_exits_cross_both_ways() {
    let Some((node, beam)) = pair("lm").await else {
        return;
    };
    let me = node.name().to_string();
    // An Elixir process that exits with the reason it is sent, its pid sent to `inbox`.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let inbox = node.spawn(move |mut ctx: Ctx<Pid>| async move {
        while let Signal::Message(p) = ctx.recv().await {
            let _ = tx.send(p);
        }
    });
    node.register("inbox", inbox.pid()).unwrap();
    let (beam, _) = eval(
        beam,
        format!(
            "send({{:inbox, :\"{me}\"}}, spawn(fn -> receive do {{:die, r}} -> exit(r) end end))"
        ),
    )
    .await;
    let victim = within("the Elixir pid", rx.recv()).await.unwrap();
    assert_eq!(victim.node().as_str(), beam.name);

    // A locus process links to it and monitors it; its exit reaches both.
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let v = victim.clone();
    node.spawn(move |mut ctx: Ctx<()>| async move {
        ctx.trap_exit(true);
        ctx.link(&v).unwrap();
        ctx.monitor(&v);
        let _ = seen_tx.send(None);
        for _ in 0..2 {
            let _ = seen_tx.send(Some(next_signal(&mut ctx).await));
        }
    });
    assert!(within("linked", seen.recv()).await.unwrap().is_none());
    // A round trip over the connection after the link and the monitor: the BEAM node has
    // them before the process is told to die (signals between nodes are asynchronous).
    node.whereis_on(victim.node(), "nobody", Duration::from_secs(5))
        .await
        .unwrap();
    let (beam, _) = eval(
        beam,
        format!(
            "send(:erlang.list_to_pid('{}'), {{:die, :boom}})",
            erl_pid(&victim)
        ),
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(within("exit and down", seen.recv()).await.unwrap().unwrap());
    }
    assert!(
        got.iter().any(|s| matches!(s,
        Signal::Exit(e) if e.from == victim && e.reason.to_string() == "boom")),
        "{got:?}"
    );
    assert!(
        got.iter().any(|s| matches!(s,
        Signal::Down(d) if d.pid == victim && d.reason.to_string() == "boom")),
        "{got:?}"
    );

    // An Elixir process monitors and links to a locus process that then fails. (An rpc
    // round trip after `monitor` and `link` makes sure locus has them: signals to another
    // node are asynchronous, in Erlang too.)
    let (go_tx, go) = tokio::sync::oneshot::channel::<()>();
    let failing = node.spawn(move |_ctx: Ctx<()>| async move {
        let _ = go.await;
        Err::<(), _>("bad input")
    });
    let target = failing.pid().clone();
    let (mut beam, _) = eval(
        beam,
        "spawn(fn -> Process.flag(:trap_exit, true); Process.register(self(), :watcher); receive do p -> Process.monitor(p); Process.link(p); :erpc.call(node(p), :erlang, :node, []); IO.puts(\"event watching\"); Stream.repeatedly(fn -> receive do m -> IO.puts(\"event \" <> inspect(m)) end end) |> Stream.run() end end)".into(),
    )
    .await;
    node.send(("watcher", beam.name.as_str()), target.clone())
        .unwrap();
    beam = tokio::task::spawn_blocking(move || {
        beam.os.expect_ever("event watching");
        beam
    })
    .await
    .unwrap();
    go_tx.send(()).unwrap();
    tokio::task::spawn_blocking(move || {
        // The link's exit and the monitor's DOWN, in either order.
        let mut got: Vec<String> = Vec::new();
        for _ in 0..2 {
            got.push(beam.os.expect_line("an EXIT or a DOWN", |l| {
                l.starts_with("event {:DOWN") || l.starts_with("event {:EXIT")
            }));
        }
        got.sort();
        assert!(got[0].starts_with("event {:DOWN"), "{got:?}");
        assert!(got[1].starts_with("event {:EXIT"), "{got:?}");
        for line in &got {
            assert!(line.ends_with("{:error, \"bad input\"}}"), "{line}");
        }
    })
    .await
    .unwrap();
}

/// `<0.ID.SERIAL>` for `:erlang.list_to_pid/1` on the pid's own node.
fn erl_pid(p: &Pid) -> String {
    let id = p.id();
    format!("<0.{}.{}>", id & 0xffff_ffff, id >> 32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_beam_node_is_nodedown_and_its_processes_noconnection() {
    let Some((node, beam)) = pair("kd").await else {
        return;
    };
    let me = node.name().to_string();
    let mut events = node.node_events();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let inbox = node.spawn(move |mut ctx: Ctx<Pid>| async move {
        if let Signal::Message(p) = ctx.recv().await {
            ctx.monitor(&p);
            let _ = tx.send(None);
            let _ = tx.send(Some(next_signal(&mut ctx).await));
        }
    });
    node.register("inbox", inbox.pid()).unwrap();
    let (mut beam, _) = eval(
        beam,
        format!("send({{:inbox, :\"{me}\"}}, Process.whereis(Echo))"),
    )
    .await;
    assert!(within("monitoring", rx.recv()).await.unwrap().is_none());
    let peer = beam.name.clone();
    beam.os.kill_9();
    let down = within("the Down", rx.recv()).await.unwrap().unwrap();
    assert!(
        matches!(&down, Signal::Down(d) if d.reason == ExitReason::NoConnection),
        "{down:?}"
    );
    loop {
        match within("the NodeDown", events.recv()).await {
            Some(NodeEvent::Down(n, reason)) if n.as_str() == peer => {
                assert_eq!(reason, NodeDownReason::ConnectionClosed);
                break;
            }
            Some(_) => continue,
            None => panic!("node events ended"),
        }
    }
}

/// An Elixir GenServer as a locus client sees it.
struct Echo;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum EchoCall {
    Echo(String),
}

impl GenServer for Echo {
    type Call = EchoCall;
    type Reply = String;
    type Cast = ();
    type Info = ();

    fn remote() -> Option<RemoteCodec<Self>> {
        Some(RemoteCodec::serde())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_locus_client_gets_the_usual_errors_and_big_messages_cross() {
    let Some((node, beam)) = pair("ce").await else {
        return;
    };
    let peer: locus::NodeName = beam.name.parse().unwrap();
    let echo = Client::<Echo>::new(&node, ("Elixir.Echo", &peer));
    let t = Duration::from_secs(5);
    assert_eq!(
        echo.call_timeout(EchoCall::Echo("hi".into()), t)
            .await
            .unwrap(),
        "hi"
    );
    // 8 MiB each way (the BEAM sends it whole: locus offers no fragments).
    let big = "x".repeat(8 << 20);
    assert_eq!(
        echo.call_timeout(EchoCall::Echo(big.clone()), Duration::from_secs(30))
            .await
            .unwrap()
            .len(),
        big.len()
    );
    node.rpc().register(
        "blob.size",
        |_n: Node, b: serde_bytes::ByteBuf| async move { Ok::<_, String>(b.len()) },
    );
    let me = node.name().to_string();
    let (beam, size) = eval(
        beam,
        format!(":rpc.call(:\"{me}\", :blob, :size, [:binary.copy(\"a\", 8_000_000)])"),
    )
    .await;
    assert_eq!(size, "8000000");

    let nobody = Client::<Echo>::new(&node, ("nobody", &peer));
    assert!(matches!(
        nobody.call_timeout(EchoCall::Echo("x".into()), t).await,
        Err(CallError::NoProc)
    ));
    // `:ping` has no clause for `{:echo, _}`: it crashes, and the call says so.
    let crash = Client::<Echo>::new(&node, ("ping", &peer));
    assert!(matches!(
        crash.call_timeout(EchoCall::Echo("x".into()), t).await,
        Err(CallError::Exited(_))
    ));
    let (mut beam, _) = eval(
        beam,
        "Process.register(spawn(fn -> Process.sleep(:infinity) end), :silent)".into(),
    )
    .await;
    let silent = Client::<Echo>::new(&node, ("silent", &peer));
    assert!(matches!(
        silent
            .call_timeout(EchoCall::Echo("x".into()), Duration::from_millis(300))
            .await,
        Err(CallError::Timeout)
    ));
    beam.os.kill_9();
    support::eventually("the node down", || !node.nodes().contains(&peer)).await;
    assert!(matches!(
        echo.call_timeout(EchoCall::Echo("x".into()), t).await,
        Err(CallError::NodeDown(_))
    ));
}

/// Fixed ports and no port mapper (`-erl_epmd_port P -start_epmd false` on the BEAM,
/// `dist_port` on locus): with `dist_protocol = erlang` locus dials the BEAM node without
/// asking anyone what it speaks, and the BEAM node dials locus (who tells by its first
/// bytes). Two loopback addresses give both the same port.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fixed_ports_without_a_port_mapper() {
    let Some(elixir) = beam::elixir() else {
        return;
    };
    let port = support::free_port();
    let node = Node::builder()
        .name(unique("fixl_"))
        .cookie(COOKIE)
        .listen("127.0.0.1")
        .dist_port(port)
        .erlang_dist(true)
        .dist_protocol(locus::DistProtocol::Erlang)
        .start()
        .await
        .expect("the locus node starts");
    let name = format!("fixe_{}@127.0.0.2", std::process::id());
    let flags = format!(
        "-kernel inet_dist_use_interface {{127,0,0,2}} -erl_epmd_port {port} -start_epmd false"
    );
    let beam_name = name.clone();
    let beam = tokio::task::spawn_blocking(move || {
        BeamNode::start(&elixir, &beam_name, COOKIE, Mapper::Epmd, &flags)
    })
    .await
    .unwrap();
    within("dialling the BEAM node", node.connect(&name))
        .await
        .expect("connects without a port mapper");
    assert!(node.ping(&name).await);
    let me = node.name().to_string();
    let (beam, nodes) = eval(beam, "Node.list()".into()).await;
    assert_eq!(nodes, format!("[:\"{me}\"]"));
    // And the other way: the BEAM node dials locus after a disconnect.
    assert!(node.disconnect(&name));
    // Until the BEAM node has seen the connection close, `Node.connect` answers `true`
    // from the old connection and dials nothing.
    let beam = tokio::task::spawn_blocking(move || {
        let mut beam = beam;
        beam.eval_until("Node.list()", "[]");
        beam
    })
    .await
    .unwrap();
    let (_beam, up) = eval(beam, format!("Node.connect(:\"{me}\")")).await;
    assert_eq!(up, "true");
    support::eventually("listed again", || {
        node.nodes().iter().any(|p| p.as_str() == name)
    })
    .await;
}

/// The allow-lists apply to BEAM peers: a BEAM node not in `allow_nodes` cannot connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_allow_list_refuses_a_beam_node_not_on_it() {
    let Some(elixir) = beam::elixir() else {
        return;
    };
    let mapper = Mapper::locus();
    let node = Node::builder()
        .name(unique("allowl_"))
        .cookie(COOKIE)
        .epmd_port(mapper.port())
        .erlang_dist(true)
        .allow_nodes(["friend@127.0.0.1"])
        .start()
        .await
        .expect("the locus node starts");
    let name = unique("stranger_");
    let beam =
        tokio::task::spawn_blocking(move || BeamNode::start(&elixir, &name, COOKIE, mapper, ""))
            .await
            .unwrap();
    let me = node.name().to_string();
    let (_beam, up) = eval(beam, format!("Node.connect(:\"{me}\")")).await;
    assert_eq!(up, "false");
    assert!(node.nodes().is_empty());
}
