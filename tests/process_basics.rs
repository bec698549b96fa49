//! Processes: spawning, sending, exit reasons, exit signals, timers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use locus::{Ctx, ExitReason, Node, Pid, SendError, Signal, SpawnOpts};
use support::{node, within};
use tokio::sync::mpsc;

/// Spawns a process that forwards every signal it receives to the test.
fn probe<M: locus::Message + std::fmt::Debug>(
    node: &Node,
    opts: SpawnOpts,
) -> (locus::Addr<M>, mpsc::UnboundedReceiver<Signal<M>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let addr = node
        .spawn_opts(opts, move |mut ctx: Ctx<M>| async move {
            loop {
                let sig = ctx.recv().await;
                if tx.send(sig).is_err() {
                    break;
                }
            }
        })
        .unwrap();
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pid_names_its_node_and_prints_readably() {
    let node = node().await;
    let (addr, _rx) = probe::<u32>(&node, SpawnOpts::new());
    let pid = addr.pid();
    assert_eq!(pid.node(), node.name());
    assert_eq!(pid.creation(), node.creation());
    // As an Elixir user reads a pid: #PID<number.serial.creation@node>, a short creation.
    assert_eq!(
        pid.to_string(),
        format!(
            "#PID<{}.{}.{}@nonode@nohost>",
            pid.id() & 0xffff_ffff,
            pid.id() >> 32,
            pid.creation() % 1000
        )
    );
    assert!(format!("{pid:?}").contains(&pid.creation().to_string()));
    // Pids are plain serde values: a round trip gives the same pid.
    let bytes = rmp_serde::to_vec(pid).unwrap();
    let back: Pid = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(&back, pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_a_pid_a_name_and_a_typed_address() {
    let node = node().await;
    let (addr, mut rx) = probe::<String>(&node, SpawnOpts::new().register("echo"));
    addr.send("by addr".into()).unwrap();
    node.send(addr.pid(), "by pid".to_string()).unwrap();
    node.send("echo", "by name".to_string()).unwrap();
    node.send(("echo", node.name().clone()), "by name at node".to_string())
        .unwrap();
    for want in ["by addr", "by pid", "by name", "by name at node"] {
        match within("a message", rx.recv()).await {
            Some(Signal::Message(m)) => assert_eq!(m, want),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_to_nobody_or_of_the_wrong_type_hand_the_message_back() {
    let node = node().await;
    let (addr, _rx) = probe::<u32>(&node, SpawnOpts::new());
    match node.send("nobody", 5u32) {
        Err(SendError::NoProc(5)) => {}
        other => panic!("unexpected {other:?}"),
    }
    match node.send(addr.pid(), "text".to_string()) {
        Err(SendError::BadType(t)) if t == "text" => {}
        other => panic!("unexpected {other:?}"),
    }
    // Local-only messages need not be serializable.
    let not_serializable = std::sync::Arc::new(std::sync::Mutex::new(1u8));
    assert!(matches!(
        node.send_local(addr.pid(), not_serializable),
        Err(SendError::BadType(_))
    ));
    let e = node.send(addr.pid(), "text".to_string()).unwrap_err();
    assert!(e.to_string().contains("does not accept"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_thousand_messages_from_one_sender_arrive_in_order() {
    const N: u64 = 100_000;
    let node = node().await;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let sink = node.spawn(move |mut ctx: Ctx<u64>| async move {
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
    let sender = node.spawn(move |_ctx: Ctx<()>| async move {
        for i in 0..N {
            sink.send(i).map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    });
    let _ = sender;
    assert_eq!(within("all messages", done_rx).await.unwrap(), N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_reasons_report_how_a_process_ended() {
    let node = node().await;

    let normal = node.spawn(|_: Ctx<()>| async {});
    let error = node.spawn(|_: Ctx<()>| async { Err::<(), _>("disk full") });
    let panicked = node.spawn(|_: Ctx<()>| async { panic!("boom {}", 42) });
    let shutdown = node.spawn(|_: Ctx<()>| async { ExitReason::Shutdown });
    for (addr, want) in [
        (normal, ExitReason::Normal),
        (error, ExitReason::Error("disk full".into())),
        (panicked, ExitReason::Panic("boom 42".into())),
        (shutdown, ExitReason::Shutdown),
    ] {
        // Watching a process that already ended gives NoProc, so accept either.
        let got = within("exit", node.watch(addr.pid())).await;
        assert!(
            got == want || got == ExitReason::NoProc,
            "{got:?} vs {want:?}"
        );
    }

    // With the watch in place first, the exact reason is seen.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let waiter = node
        .spawn_local_only(SpawnOpts::new(), move |_: Ctx<()>| async move {
            let _ = rx.await;
            panic!("released");
        })
        .unwrap();
    let watch = node.watch(waiter.pid());
    tx.send(()).unwrap();
    assert_eq!(
        within("panic exit", watch).await,
        ExitReason::Panic("released".into())
    );
    assert!(!node.is_alive(waiter.pid()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_signals_follow_erlang_rules() {
    let node = node().await;

    // Normal is ignored by a process that does not trap exits.
    let (plain, _rx) = probe::<()>(&node, SpawnOpts::new());
    node.exit(plain.pid(), ExitReason::Normal);
    let (other, _rx2) = probe::<()>(&node, SpawnOpts::new());
    // Any other reason kills it, with that reason.
    let w = node.watch(other.pid());
    node.exit(other.pid(), ExitReason::error("go away"));
    assert_eq!(within("exit", w).await, ExitReason::Error("go away".into()));
    assert!(
        node.is_alive(plain.pid()),
        "a normal exit signal must be ignored"
    );

    // A trapping process gets the signal as a message...
    let (trapper, mut rx) = probe::<()>(&node, SpawnOpts::new().trap_exit(true));
    node.exit(trapper.pid(), ExitReason::Shutdown);
    match within("exit message", rx.recv()).await {
        Some(Signal::Exit(e)) => assert_eq!(e.reason, ExitReason::Shutdown),
        other => panic!("unexpected {other:?}"),
    }
    assert!(node.is_alive(trapper.pid()));
    // ...but Kill cannot be trapped, and ends it with Killed.
    let w = node.watch(trapper.pid());
    node.exit(trapper.pid(), ExitReason::Kill);
    assert_eq!(within("kill", w).await, ExitReason::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_can_be_killed_while_it_awaits_something_else() {
    let node = node().await;
    let busy = node.spawn(|_: Ctx<()>| async {
        std::future::pending::<()>().await;
    });
    let w = node.watch(busy.pid());
    node.exit(busy.pid(), ExitReason::Kill);
    assert_eq!(within("kill", w).await, ExitReason::Killed);
    assert_eq!(node.process_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_after_delivers_later_and_cancel_prevents_it() {
    let node = node().await;
    let (addr, mut rx) = probe::<String>(&node, SpawnOpts::new());
    let pid = addr.pid().clone();
    let kept = node.send_after(&pid, "kept".to_string(), Duration::from_millis(20));
    let cancelled = node.send_after(&pid, "cancelled".to_string(), Duration::from_millis(10));
    assert!(cancelled.cancel(), "cancel before firing prevents delivery");
    match within("timer", rx.recv()).await {
        Some(Signal::Message(m)) => assert_eq!(m, "kept"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!kept.cancel(), "a timer that fired cannot be cancelled");
    // Nothing else arrives: prove it with a later marker message.
    node.send(&pid, "marker".to_string()).unwrap();
    match within("marker", rx.recv()).await {
        Some(Signal::Message(m)) => assert_eq!(m, "marker"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctx_knows_its_pid_and_node_and_receives_with_timeout() {
    let node = node().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let addr = node
        .spawn_local_only(SpawnOpts::new(), move |mut ctx: Ctx<u8>| async move {
            let nothing = ctx.recv_timeout(Duration::from_millis(20)).await.is_none();
            let _ = tx.send((
                ctx.pid().clone(),
                ctx.node().name().clone(),
                nothing,
                ctx.try_recv().is_none(),
            ));
        })
        .unwrap();
    let (pid, name, timed_out, empty) = within("report", rx).await.unwrap();
    assert_eq!(&pid, addr.pid());
    assert_eq!(&name, node.name());
    assert!(timed_out && empty);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_every_process() {
    let node = node().await;
    for _ in 0..100 {
        let _ = probe::<()>(&node, SpawnOpts::new().trap_exit(true));
    }
    for _ in 0..100 {
        node.spawn(|_: Ctx<()>| std::future::pending::<()>());
    }
    within("shutdown", node.shutdown()).await;
    assert_eq!(node.process_count(), 0);
}
