//! Distribution in one OS process: connecting, meshing, sending and calling across nodes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use locus::{
    Blob, CallError, Ctx, ExitReason, Flow, GenServer, RemoteCodec, ReplyHandle, ServerCtx, Signal,
};
use serde::{Deserialize, Serialize};
use support::{cluster, free_port, named, within};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
enum Req {
    Ping,
    Echo(Vec<u8>),
    EchoBlobs(Vec<Blob>),
    Sleep(u64),
    Crash,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
enum Resp {
    Pong(String),
    Echo(Vec<u8>),
    Blobs(Vec<Blob>),
    Slept,
}

struct Pinger;

impl GenServer for Pinger {
    type Call = Req;
    type Reply = Resp;
    type Cast = String;
    type Info = String;

    fn remote() -> Option<RemoteCodec<Self>> {
        Some(RemoteCodec::serde())
    }

    async fn handle_call(
        &mut self,
        req: Req,
        from: ReplyHandle<Resp>,
        ctx: &mut ServerCtx<Self>,
    ) -> Flow {
        match req {
            Req::Ping => from.reply(Resp::Pong(ctx.node().name().to_string())),
            Req::Echo(b) => from.reply(Resp::Echo(b)),
            Req::EchoBlobs(b) => from.reply(Resp::Blobs(b)),
            Req::Sleep(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                from.reply(Resp::Slept);
            }
            Req::Crash => panic!("crash requested"),
        }
        Flow::Continue
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_connect_and_list_each_other() {
    let epmd = free_port();
    let a = named("a", epmd).await;
    let b = named("b", epmd).await;
    assert!(a.nodes().is_empty(), "Node.list is [] before any connect");
    within("connect", a.connect(b.name())).await.unwrap();
    assert_eq!(a.nodes(), vec![b.name().clone()]);
    support::eventually("b sees a", || b.nodes() == vec![a.name().clone()]).await;
    // Connecting again, or to oneself, succeeds at once.
    a.connect(b.name()).await.unwrap();
    a.connect(a.name()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_reaches_a_named_server_on_another_node() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    Pinger::start(b, Pinger).register("ping").await.unwrap();
    let remote = Pinger::client(a, ("ping", b.name()));
    let reply = within("remote call", remote.call(Req::Ping)).await.unwrap();
    assert_eq!(reply, Resp::Pong(b.name().to_string()));
    let payload = vec![7u8; 64 * 1024];
    assert_eq!(
        remote.call(Req::Echo(payload.clone())).await.unwrap(),
        Resp::Echo(payload)
    );
}

/// A blob of `len` bytes whose content tells where each byte came from.
fn patterned(len: usize, seed: u8) -> Blob {
    Blob::from(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<u8>>(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_of_every_size_cross_and_come_back_intact() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    Pinger::start(b, Pinger).register("ping").await.unwrap();
    let remote = Pinger::client(a, ("ping", b.name()));
    // Around the size from which blobs are shared rather than copied, and far above it.
    let min = Blob::SHARE_MIN;
    let sizes = [0, 1, min - 1, min, min + 1, 64 * 1024, 1 << 20, 5 << 20];
    let blobs: Vec<Blob> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| patterned(n, i as u8))
        .collect();
    // All in one message, then one by one.
    let back = within(
        "blobs in one call",
        remote.call(Req::EchoBlobs(blobs.clone())),
    )
    .await
    .unwrap();
    assert_eq!(back, Resp::Blobs(blobs.clone()));
    for blob in &blobs {
        let back = within("a blob", remote.call(Req::EchoBlobs(vec![blob.clone()])))
            .await
            .unwrap();
        assert_eq!(back, Resp::Blobs(vec![blob.clone()]));
    }
    // Many at once from several callers, mixed with small calls: each answer is its own.
    let calls = (0..16u8).map(|i| {
        let remote = remote.clone();
        async move {
            let sent = vec![patterned(256 * 1024 + usize::from(i), i)];
            let back = remote.call(Req::EchoBlobs(sent.clone())).await.unwrap();
            assert_eq!(back, Resp::Blobs(sent));
            assert_eq!(
                remote.call(Req::Echo(vec![i; 3])).await.unwrap(),
                Resp::Echo(vec![i; 3])
            );
        }
    });
    within("concurrent blob calls", futures::future::join_all(calls)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_call_errors_are_told_apart() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    Pinger::start(b, Pinger).register("ping").await.unwrap();
    // No such name there.
    let nobody = Pinger::client(a, ("nobody", b.name()));
    assert_eq!(
        within("noproc", nobody.call(Req::Ping)).await,
        Err(CallError::NoProc)
    );
    // A timeout, and the late reply is discarded.
    let remote = Pinger::client(a, ("ping", b.name()));
    let r = remote
        .call_timeout(Req::Sleep(200), Duration::from_millis(20))
        .await;
    assert_eq!(r, Err(CallError::Timeout));
    assert_eq!(
        remote.call(Req::Ping).await.unwrap(),
        Resp::Pong(b.name().to_string())
    );
    // The server dies during the call: the caller learns at once, with the reason.
    let r = within(
        "exit",
        remote.call_timeout(Req::Crash, Duration::from_secs(3600)),
    )
    .await;
    assert_eq!(
        r,
        Err(CallError::Exited(ExitReason::Panic(
            "crash requested".into()
        )))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_messages_across_nodes_arrive_in_order() {
    const N: u64 = 100_000;
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let sink = b.spawn(move |mut ctx: Ctx<u64>| async move {
        let mut expected = 0;
        while expected < N {
            match ctx.recv().await {
                Signal::Message(n) if n == expected => expected += 1,
                Signal::Message(n) => return Err(format!("got {n}, expected {expected}")),
                _ => {}
            }
        }
        let _ = done_tx.send(expected);
        Ok(())
    });
    let sink = sink.pid().clone();
    a.spawn(move |ctx: Ctx<()>| async move {
        for i in 0..N {
            ctx.send(&sink, i).map_err(|e| e.to_string())?;
            if i % 256 == 0 {
                tokio::task::yield_now().await;
            }
        }
        Ok::<(), String>(())
    });
    assert_eq!(within("all messages", done_rx).await.unwrap(), N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_by_name_and_pid_across_nodes() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let echo = b
        .spawn_opts(
            locus::SpawnOpts::new().register("echo"),
            move |mut ctx: Ctx<(locus::Pid, String)>| async move {
                while let Signal::Message((from, text)) = ctx.recv().await {
                    let _ = tx.send(text.clone());
                    let _ = ctx.send(&from, format!("echo {text}"));
                }
            },
        )
        .unwrap();
    let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
    let bname = b.name().clone();
    let echo_pid = echo.pid().clone();
    a.spawn(move |mut ctx: Ctx<String>| async move {
        ctx.send(("echo", &bname), (ctx.pid().clone(), "by name".to_string()))
            .unwrap();
        ctx.send(&echo_pid, (ctx.pid().clone(), "by pid".to_string()))
            .unwrap();
        // A message to a name that does not exist there is silently dropped.
        ctx.send(("nobody", &bname), 1u8).unwrap();
        let mut got = vec![];
        for _ in 0..2 {
            if let Signal::Message(m) = ctx.recv().await {
                got.push(m);
            }
        }
        let _ = reply_tx.send(got);
    });
    assert_eq!(
        within("replies", reply_rx).await.unwrap(),
        vec!["echo by name", "echo by pid"]
    );
    assert_eq!(rx.recv().await.unwrap(), "by name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_of_the_wrong_type_is_reported_as_unexpected() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let target = b.spawn(move |mut ctx: Ctx<u64>| async move {
        if let Signal::Unexpected(u) = ctx.recv().await {
            let _ = tx.send(u.type_name);
        }
    });
    a.send(target.pid(), "not a number".to_string()).unwrap();
    let type_name = within("unexpected", rx).await.unwrap();
    assert!(type_name.contains("String"), "{type_name}");
    assert_eq!(b.undeliverable_messages(), 1);
}
