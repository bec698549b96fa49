//! Monitors: Down delivery, NoProc, demonitor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use locus::{Ctx, Down, ExitReason, MonitorRef, Signal, SpawnOpts};
use support::{node, within};
use tokio::sync::{mpsc, oneshot};

#[derive(Debug)]
enum Cmd {
    Monitor(locus::Pid, oneshot::Sender<MonitorRef>),
    Demonitor(MonitorRef, oneshot::Sender<()>),
}

/// A process that monitors on command and reports every `Down` it receives.
fn watcher(node: &locus::Node) -> (locus::Addr<Cmd>, mpsc::UnboundedReceiver<Down>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let addr = node
        .spawn_local_only(SpawnOpts::new(), move |mut ctx: Ctx<Cmd>| async move {
            loop {
                match ctx.recv().await {
                    Signal::Message(Cmd::Monitor(pid, reply)) => {
                        let _ = reply.send(ctx.monitor(&pid));
                    }
                    Signal::Message(Cmd::Demonitor(r, reply)) => {
                        ctx.demonitor(r);
                        let _ = reply.send(());
                    }
                    Signal::Down(d) => {
                        let _ = tx.send(d);
                    }
                    _ => {}
                }
            }
        })
        .unwrap();
    (addr, rx)
}

async fn monitor(w: &locus::Addr<Cmd>, pid: &locus::Pid) -> MonitorRef {
    let (tx, rx) = oneshot::channel();
    w.send(Cmd::Monitor(pid.clone(), tx)).unwrap();
    within("monitor ref", rx).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_fires_exactly_once_with_the_exit_reason() {
    let node = node().await;
    let (w, mut downs) = watcher(&node);
    let (go, wait) = oneshot::channel::<()>();
    let target = node
        .spawn_local_only(SpawnOpts::new(), move |_: Ctx<()>| async move {
            let _ = wait.await;
            Err::<(), _>("bye")
        })
        .unwrap();
    let m1 = monitor(&w, target.pid()).await;
    let m2 = monitor(&w, target.pid()).await;
    assert_ne!(m1, m2);
    go.send(()).unwrap();
    let mut seen = vec![];
    for _ in 0..2 {
        let d = within("down", downs.recv()).await.unwrap();
        assert_eq!(&d.pid, target.pid());
        assert_eq!(d.reason, ExitReason::Error("bye".into()));
        seen.push(d.monitor);
    }
    seen.sort();
    let mut want = vec![m1, m2];
    want.sort();
    assert_eq!(seen, want, "each monitor fires once");
    // No third Down: a fresh monitor on a dead pid is the next thing to arrive.
    let m3 = monitor(&w, target.pid()).await;
    let d = within("down", downs.recv()).await.unwrap();
    assert_eq!(d.monitor, m3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_a_dead_pid_fires_at_once_with_noproc() {
    let node = node().await;
    let (w, mut downs) = watcher(&node);
    let gone = node.spawn(|_: Ctx<()>| async {});
    within("exit", node.watch(gone.pid())).await;
    let m = monitor(&w, gone.pid()).await;
    let d = within("down", downs.recv()).await.unwrap();
    assert_eq!(d.monitor, m);
    assert_eq!(d.reason, ExitReason::NoProc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demonitor_means_no_down() {
    let node = node().await;
    let (w, mut downs) = watcher(&node);
    let target = node.spawn(|mut ctx: Ctx<()>| async move {
        ctx.recv().await;
    });
    let m = monitor(&w, target.pid()).await;
    let (tx, rx) = oneshot::channel();
    w.send(Cmd::Demonitor(m, tx)).unwrap();
    within("demonitor", rx).await.unwrap();
    let exit = node.watch(target.pid());
    node.exit(target.pid(), ExitReason::Kill);
    within("exit", exit).await;
    // A monitor set afterwards on a dead pid proves the ordering: its Down is the first one.
    let m2 = monitor(&w, target.pid()).await;
    assert_eq!(within("down", downs.recv()).await.unwrap().monitor, m2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demonitor_flushes_a_down_already_queued() {
    let node = node().await;
    let (tx, rx) = oneshot::channel();
    let target = node.spawn(|_: Ctx<()>| async {});
    let t = target.pid().clone();
    node.spawn_local_only(SpawnOpts::new(), move |mut ctx: Ctx<()>| async move {
        let m = ctx.monitor(&t);
        // Wait until the Down is certainly queued, then demonitor.
        while ctx.mailbox_len() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        ctx.demonitor(m);
        let _ = tx.send(ctx.try_recv().is_none());
    })
    .unwrap();
    assert!(
        within("flush", rx).await.unwrap(),
        "the queued Down was removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_monitor_reports_the_childs_end() {
    let node = node().await;
    let (tx, rx) = oneshot::channel();
    node.spawn_local_only(SpawnOpts::new(), move |mut ctx: Ctx<()>| async move {
        let (child, m) = ctx.spawn_monitor(|_: Ctx<()>| async { panic!("child panic") });
        loop {
            if let Signal::Down(d) = ctx.recv().await {
                let _ = tx.send((d.monitor == m, &d.pid == child.pid(), d.reason));
                break;
            }
        }
    })
    .unwrap();
    let (same_ref, same_pid, reason) = within("down", rx).await.unwrap();
    assert!(same_ref && same_pid);
    assert_eq!(reason, ExitReason::Panic("child panic".into()));
}
