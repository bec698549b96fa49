//! What a newcomer meets first (issue "the API as an Elixir developer meets it"): nodes in
//! one process with no port to pick (`epmd_port(0)`), a per-call timeout on a generated
//! client, `whereis` on another node, bytes arguments that cross as bytes, and an abrupt
//! `halt` as peers see it; and `examples/first_steps.rs`, run as a user runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use locus::prelude::*;
use locus::{NodeDownReason, NodeEvent};
use support::within;

/// A server with a slow call and a bytes argument.
struct Store;

#[gen_server]
impl Store {
    #[call]
    async fn slow(&mut self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }

    #[call]
    fn size(&mut self, #[serde(with = "serde_bytes")] data: Vec<u8>) -> usize {
        data.len()
    }
}

/// Two nodes of this process on a private port mapper.
async fn two(prefix: &str) -> (Node, Node) {
    let a = Node::builder()
        .name(format!("{prefix}a@127.0.0.1"))
        .cookie("first-steps-test")
        .epmd_port(0)
        .start()
        .await
        .expect("a starts with a private port mapper");
    let port = a.epmd_port().expect("distributed");
    assert_ne!(port, 0, "the private port mapper's port is reported");
    let b = Node::builder()
        .name(format!("{prefix}b@127.0.0.1"))
        .cookie("first-steps-test")
        .epmd_port(port)
        .start()
        .await
        .expect("b starts on a's port mapper");
    within("b connects to a", b.connect(a.name().as_str()))
        .await
        .expect("connects");
    (a, b)
}

/// A process on `a` monitoring `pid` (on `b`); the receiver gets the `Down`'s reason. Returns
/// once `b` has the monitor (a round trip over the same connection follows it).
async fn monitor_from(
    a: &Node,
    b: &Node,
    pid: Pid,
) -> tokio::sync::mpsc::UnboundedReceiver<ExitReason> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    a.spawn(move |mut ctx: Ctx<()>| async move {
        ctx.monitor(&pid);
        let _ = ready_tx.send(());
        loop {
            if let Signal::Down(d) = ctx.recv().await {
                let _ = tx.send(d.reason);
                return;
            }
        }
    });
    ready.await.unwrap();
    a.whereis_on(b.name(), "nobody", Duration::from_secs(5))
        .await
        .unwrap();
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_of_one_process_need_no_port_and_calls_take_a_timeout_each() {
    let (a, b) = two("t1").await;
    Store::start(&b, Store).register("store").await.unwrap();
    let store = Store::client(&a, ("store", b.name()));
    // One call with its own timeout; the client itself keeps its default.
    assert!(matches!(
        store
            .with_timeout(Duration::from_millis(50))
            .slow(2_000)
            .await,
        Err(CallError::Timeout)
    ));
    assert_eq!(store.slow(10).await.unwrap(), 10);
    // whereis on another node, and on this one.
    let pid = a
        .whereis_on(b.name(), "store", Duration::from_secs(5))
        .await
        .unwrap()
        .expect("store is registered on b");
    assert_eq!(Some(pid), b.whereis("store"));
    assert_eq!(
        a.whereis_on(b.name(), "nobody", Duration::from_secs(5))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_are_named_as_users_write_them() {
    let (a, b) = two("t4").await;
    let b_name: String = b.name().to_string();
    // `&str`, `String`, `&String`, `&NodeName` and `NodeName` alike.
    assert!(a.ping(b_name.as_str()).await);
    assert!(a.ping(&b_name).await);
    assert!(a.ping(b.name()).await);
    let n: String = a
        .rpc()
        .call(b_name.as_str(), "node.self", (), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(n, b_name);
    // A malformed name is a clear error where it can fail, and nothing else happens.
    let e = a.connect("no-at-sign").await.unwrap_err();
    assert!(e.to_string().contains("alive@host"), "{e}");
    let e = a
        .rpc()
        .call::<_, String>("b@", "node.self", (), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(e, locus::RpcError::BadNodeName(_)), "{e}");
    // A destination with the node as a string: `("store", "b@127.0.0.1")`.
    Store::start(&b, Store).register("store").await.unwrap();
    let by_string = Store::client(&a, ("store", b_name.as_str()));
    assert_eq!(by_string.slow(1).await.unwrap(), 1);
    // One that names no node reaches nothing: a call fails as to a node that is down.
    let nowhere = Store::client(&a, ("store", "not a node"));
    assert!(matches!(
        nowhere.with_timeout(Duration::from_secs(5)).slow(1).await,
        Err(CallError::NodeDown(_))
    ));
    assert!(!a.disconnect("not a node"));
    assert!(!a.ping("@").await);
    assert!(a.disconnect(b_name));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bytes_argument_crosses_as_bytes() {
    let (a, b) = two("t2").await;
    Store::start(&b, Store).register("store").await.unwrap();
    let data = vec![0xFF_u8; 1 << 20];
    // `#[serde(with = "serde_bytes")]` on the argument reaches the message enum: the request
    // is the bytes and a few bytes of framing, not an array of a million integers.
    let encoded = rmp_serde::to_vec(&StoreCall::Size(data.clone())).unwrap();
    assert!(encoded.len() < data.len() + 32, "{} bytes", encoded.len());
    let store = Store::client(&a, ("store", b.name()));
    assert_eq!(store.size(data).await.unwrap(), 1 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_looks_like_a_crash_to_peers_and_shutdown_does_not() {
    for (graceful, want) in [
        (false, NodeDownReason::ConnectionClosed),
        (true, NodeDownReason::Shutdown),
    ] {
        let (a, b) = two(if graceful { "t3s" } else { "t3h" }).await;
        let mut events = a.node_events();
        let target = b.spawn(|mut ctx: Ctx<()>| async move {
            loop {
                ctx.recv().await;
            }
        });
        let pid = target.pid().clone();
        let mut rx = monitor_from(&a, &b, pid).await;
        if graceful {
            b.shutdown().await;
        } else {
            b.halt().await;
        }
        let reason = within("the Down", rx.recv()).await.unwrap();
        if graceful {
            // The process ended first, and said why.
            assert_eq!(reason, ExitReason::Shutdown);
        } else {
            assert_eq!(reason, ExitReason::NoConnection);
        }
        loop {
            match within("the NodeDown", events.recv()).await {
                Some(NodeEvent::Down(n, r)) if &n == b.name() => {
                    assert_eq!(r, want);
                    break;
                }
                Some(_) => continue,
                None => panic!("events ended"),
            }
        }
        a.shutdown().await;
    }
}

/// Crashes on request.
struct Crasher;

#[gen_server]
impl Crasher {
    #[call]
    fn crash(&mut self, why: String) -> u8 {
        panic!("{why}")
    }
}

/// Log lines, captured.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_genserver_logs_a_crash_report() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    )
    .expect("the only subscriber of this test binary");
    let node = Node::builder().start().await.unwrap();
    Crasher::start(&node, Crasher)
        .register("crasher")
        .await
        .unwrap();
    let c = Crasher::client(&node, "crasher");
    assert!(c.crash("bad input".into()).await.is_err());
    support::eventually("the crash report", || {
        String::from_utf8_lossy(&logs.0.lock().unwrap()).contains("GenServer terminating")
    })
    .await;
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    let report = text
        .lines()
        .find(|l| l.contains("GenServer terminating"))
        .unwrap();
    for want in [
        "ERROR",
        "name=\"crasher\"",
        "Crasher",
        "bad input",
        "last_message=a call",
    ] {
        assert!(report.contains(want), "{want:?} missing from {report}");
    }
}

#[test]
fn the_first_steps_example_runs_as_its_docs_say() {
    let out = support::os::example("first_steps")
        .output()
        .expect("the example runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "b@127.0.0.1 answered: hello, a@127.0.0.1 (1 greeting so far)"
    );
    assert!(lines[1].starts_with("monitoring "), "{lines:?}");
    assert_eq!(lines[2], "b@127.0.0.1 halted");
    assert_eq!(lines[3], "Down: greeter on b@127.0.0.1 ended: noconnection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_node_listens_on_loopback_only() {
    let epmd = support::free_port();
    let node = Node::builder()
        .name("loop@127.0.0.1")
        .cookie("first-steps-test")
        .epmd_port(epmd)
        .start()
        .await
        .unwrap();
    // Another loopback address can take the same ports: the node and the port mapper it
    // serves hold 127.0.0.1 only, not every interface.
    let port = node.listen_port().unwrap();
    std::net::TcpListener::bind(("127.0.0.2", port)).expect("distribution is on 127.0.0.1 only");
    std::net::TcpListener::bind(("127.0.0.2", epmd)).expect("the port mapper is on 127.0.0.1 only");
    // Addresses as users write them; a bad one fails at start and says which setting.
    let v6 = Node::builder()
        .name("six@127.0.0.1")
        .cookie("first-steps-test")
        .epmd_port(epmd)
        .listen("::1")
        .start()
        .await;
    if let Ok(n) = v6 {
        n.shutdown().await;
    }
    let bad = Node::builder()
        .name("bad@127.0.0.1")
        .cookie("first-steps-test")
        .epmd_port(epmd)
        .listen("localhost:80")
        .start()
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("listen"), "{bad}");
}

/// Why a worker gave up: a reason of the application's own.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum GaveUp {
    TooManyRetries(u32),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structured_exit_reasons_cross_nodes_intact() {
    let (a, b) = two("t5").await;
    for (reason, normal) in [
        (ExitReason::custom(&GaveUp::TooManyRetries(3)), false),
        (ExitReason::shutdown_with(&GaveUp::TooManyRetries(4)), true),
    ] {
        assert_eq!(reason.is_normal(), normal);
        let (go_tx, go) = tokio::sync::oneshot::channel::<()>();
        let why = reason.clone();
        let worker = b.spawn(move |_ctx: Ctx<()>| async move {
            let _ = go.await;
            why
        });
        let pid = worker.pid().clone();
        let mut rx = monitor_from(&a, &b, pid).await;
        go_tx.send(()).unwrap();
        let got = within("the Down", rx.recv()).await.unwrap();
        // Matched as a value, not parsed from text.
        assert_eq!(got, reason);
        assert!(got.downcast::<GaveUp>().is_some());
    }
}
