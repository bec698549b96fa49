//! Links: exit propagation, trapping exits, unlink, spawn_link.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use locus::{Ctx, ExitReason, Node, Signal, SpawnOpts};
use support::{node, within};
use tokio::sync::{mpsc, oneshot};

/// A process that links to `partner` and then reports every signal it receives.
fn linked_probe(
    node: &Node,
    partner: &locus::Pid,
    trap: bool,
) -> (locus::Pid, mpsc::UnboundedReceiver<Signal<()>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (linked_tx, linked_rx) = std::sync::mpsc::channel();
    let partner = partner.clone();
    let addr = node.spawn(move |mut ctx: Ctx<()>| async move {
        ctx.trap_exit(trap);
        let _ = linked_tx.send(ctx.link(&partner));
        loop {
            let s = ctx.recv().await;
            if tx.send(s).is_err() {
                break;
            }
        }
    });
    linked_rx.recv().unwrap().unwrap();
    (addr.pid().clone(), rx)
}

/// A process that waits for a oneshot, then exits with the reason it carries.
fn doomed(node: &Node) -> (locus::Pid, oneshot::Sender<ExitReason>) {
    let (tx, rx) = oneshot::channel::<ExitReason>();
    let addr = node
        .spawn_local_only(SpawnOpts::new(), move |_: Ctx<()>| async move {
            rx.await.unwrap_or(ExitReason::Normal)
        })
        .unwrap();
    (addr.pid().clone(), tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_process_dies_with_its_partner() {
    let node = node().await;
    let (victim, die) = doomed(&node);
    let (linked, _rx) = linked_probe(&node, &victim, false);
    let w = node.watch(&linked);
    die.send(ExitReason::error("crash")).unwrap();
    assert_eq!(
        within("linked death", w).await,
        ExitReason::Error("crash".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_traps_exits_gets_a_message_instead() {
    let node = node().await;
    let (victim, die) = doomed(&node);
    let (linked, mut rx) = linked_probe(&node, &victim, true);
    die.send(ExitReason::error("crash")).unwrap();
    match within("exit message", rx.recv()).await {
        Some(Signal::Exit(e)) => {
            assert_eq!(e.from, victim);
            assert_eq!(e.reason, ExitReason::Error("crash".into()));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(node.is_alive(&linked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_exit_does_not_kill_linked_processes() {
    let node = node().await;
    let (victim, die) = doomed(&node);
    let (linked, _rx) = linked_probe(&node, &victim, false);
    let w = node.watch(&victim);
    die.send(ExitReason::Normal).unwrap();
    within("victim exit", w).await;
    // Prove the linked process still serves messages after the exit was processed.
    let (tx, rx) = oneshot::channel();
    let pinger = node
        .spawn_local_only(SpawnOpts::new(), move |ctx: Ctx<()>| async move {
            let _ = tx.send(ctx.node().is_alive(&linked));
        })
        .unwrap();
    let _ = pinger;
    assert!(within("liveness", rx).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_work_in_both_directions_and_kill_propagates_as_killed() {
    let node = node().await;
    let (a, _a_die) = doomed(&node);
    let (b, mut rx) = linked_probe(&node, &a, true);
    // b linked to a; killing a reaches b as a trappable `killed`.
    node.exit(&a, ExitReason::Kill);
    match within("exit message", rx.recv()).await {
        Some(Signal::Exit(e)) => assert_eq!(e.reason, ExitReason::Killed),
        other => panic!("unexpected {other:?}"),
    }
    // And b's death reaches a process linked from the other side: a non-trapping process
    // dies of `killed` too.
    let (c, _rx) = linked_probe(&node, &b, false);
    let w = node.watch(&c);
    node.exit(&b, ExitReason::Kill);
    assert_eq!(within("c dies", w).await, ExitReason::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_to_a_dead_process_fails_with_noproc() {
    let node = node().await;
    let dead = node.spawn(|_: Ctx<()>| async {});
    within("dead", node.watch(dead.pid())).await;
    let dead = dead.pid().clone();
    let (tx, rx) = oneshot::channel();
    node.spawn_local_only(SpawnOpts::new(), move |ctx: Ctx<()>| async move {
        let _ = tx.send(ctx.link(&dead).map_err(|e| e.to_string()));
    })
    .unwrap();
    let err = within("link result", rx).await.unwrap().unwrap_err();
    assert!(err.contains("no such process"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlink_stops_propagation() {
    let node = node().await;
    let (victim, die) = doomed(&node);
    let (tx, rx) = oneshot::channel();
    let v = victim.clone();
    let survivor = node
        .spawn_local_only(SpawnOpts::new(), move |mut ctx: Ctx<()>| async move {
            ctx.link(&v).unwrap();
            ctx.unlink(&v);
            let _ = tx.send(());
            ctx.recv().await;
        })
        .unwrap();
    within("unlinked", rx).await.unwrap();
    let w = node.watch(&victim);
    die.send(ExitReason::error("crash")).unwrap();
    within("victim exit", w).await;
    assert!(node.is_alive(survivor.pid()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_link_ties_child_and_parent_before_the_child_runs() {
    let node = node().await;
    let (tx, rx) = oneshot::channel();
    let parent = node
        .spawn_local_only(SpawnOpts::new(), move |mut ctx: Ctx<()>| async move {
            // The child fails at once; the link already exists, so the parent dies too.
            let child = ctx.spawn_link(|_: Ctx<()>| async { Err::<(), _>("child failed") });
            let _ = tx.send(child.pid().clone());
            ctx.recv().await;
        })
        .unwrap();
    let w = node.watch(parent.pid());
    let _child = within("child pid", rx).await.unwrap();
    assert_eq!(
        within("parent dies", w).await,
        ExitReason::Error("child failed".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawning_linked_to_a_dead_pid_gives_the_child_a_noproc_exit() {
    let node = node().await;
    let dead = node.spawn(|_: Ctx<()>| async {});
    within("dead", node.watch(dead.pid())).await;
    let child = node
        .spawn_opts(
            SpawnOpts::new().link(dead.pid()),
            |mut ctx: Ctx<()>| async move {
                ctx.recv().await;
            },
        )
        .unwrap();
    let reason = within("child exit", node.watch(child.pid())).await;
    assert!(matches!(reason, ExitReason::NoProc), "{reason:?}");
}
