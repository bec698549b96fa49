//! Supervisors: strategies, restart types, intensity, ordered shutdown, dynamic and nested.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use locus::{
    ChildSpec, ChildStart, Ctx, ExitReason, Flow, GenServer, Node, Pid, ReplyHandle, Restart,
    ServerCtx, Shutdown, SpawnOpts, StartError, Strategy, Supervisor, SupervisorError,
};
use support::{eventually, node, within};

/// A worker that panics on request and records its start in a shared log.
struct Worker {
    name: &'static str,
    log: Log,
}

type Log = Arc<Mutex<Vec<String>>>;

#[derive(Debug)]
enum Cmd {
    Crash,
    Ping,
    Stop(ExitReason),
}

impl GenServer for Worker {
    type Call = Cmd;
    type Reply = ();
    type Cast = ();
    type Info = ();

    async fn init(&mut self, ctx: &mut ServerCtx<Self>) -> Result<(), ExitReason> {
        // Trapping exits, the supervisor's shutdown request runs `terminate` (logged).
        ctx.trap_exit(true);
        self.log
            .lock()
            .unwrap()
            .push(format!("start {}", self.name));
        Ok(())
    }

    async fn handle_call(
        &mut self,
        cmd: Cmd,
        from: ReplyHandle<()>,
        _: &mut ServerCtx<Self>,
    ) -> Flow {
        match cmd {
            Cmd::Crash => panic!("{} crashed", self.name),
            Cmd::Ping => from.reply(()),
            Cmd::Stop(reason) => {
                from.reply(());
                return Flow::Stop(reason);
            }
        }
        Flow::Continue
    }

    async fn terminate(&mut self, reason: &ExitReason, _: &mut ServerCtx<Self>) {
        self.log
            .lock()
            .unwrap()
            .push(format!("stop {} {reason}", self.name));
    }
}

fn worker(name: &'static str, log: &Log) -> ChildSpec {
    let log = log.clone();
    ChildSpec::gen_server(name, move || Worker {
        name,
        log: log.clone(),
    })
    .register(name)
}

fn starts(log: &Log) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("start"))
        .cloned()
        .collect()
}

async fn crash(node: &Node, name: &str) -> Pid {
    let pid = node.whereis(name).expect("registered");
    let _ = Worker::client(node, name).call(Cmd::Crash).await;
    pid
}

/// Waits until `name` is registered by a process other than `old`.
async fn restarted_supervisor(node: &Node, name: &str, old: &Pid) -> Pid {
    eventually(&format!("{name} restarted"), || {
        node.whereis(name).is_some_and(|p| &p != old)
    })
    .await;
    node.whereis(name).unwrap()
}

/// Waits until worker `name` is registered by a process other than `old` and that process has
/// finished `init` (names are registered before `init` runs, as in OTP; a call is served
/// only after it).
async fn restarted(node: &Node, name: &str, old: &Pid) -> Pid {
    let pid = restarted_supervisor(node, name, old).await;
    Worker::client(node, pid.clone())
        .call(Cmd::Ping)
        .await
        .expect("the restarted server answers");
    pid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_gen_server_is_restarted_under_its_name() {
    let node = node().await;
    let log = Log::default();
    let _sup = Supervisor::builder()
        .child(worker("a", &log))
        .start(&node)
        .await
        .unwrap();
    let old = crash(&node, "a").await;
    let new = restarted(&node, "a", &old).await;
    assert_ne!(old, new);
    Worker::client(&node, "a").call(Cmd::Ping).await.unwrap();
    assert_eq!(starts(&log), vec!["start a", "start a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_one_restarts_only_the_failed_child() {
    let node = node().await;
    let log = Log::default();
    let _sup = Supervisor::builder()
        .child(worker("a", &log))
        .child(worker("b", &log))
        .start(&node)
        .await
        .unwrap();
    let b = node.whereis("b").unwrap();
    let old = crash(&node, "a").await;
    restarted(&node, "a", &old).await;
    assert_eq!(node.whereis("b"), Some(b));
    assert_eq!(starts(&log), vec!["start a", "start b", "start a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_all_restarts_every_child_in_order() {
    let node = node().await;
    let log = Log::default();
    let _sup = Supervisor::builder()
        .strategy(Strategy::OneForAll)
        .child(worker("a", &log))
        .child(worker("b", &log))
        .child(worker("c", &log))
        .start(&node)
        .await
        .unwrap();
    let old_c = node.whereis("c").unwrap();
    let old = crash(&node, "b").await;
    restarted(&node, "b", &old).await;
    restarted(&node, "c", &old_c).await;
    let lines = log.lock().unwrap().clone();
    // Siblings stop last-first, then all start first-first.
    assert_eq!(
        lines,
        vec![
            "start a",
            "start b",
            "start c",
            "stop b panic: b crashed",
            "stop c shutdown",
            "stop a shutdown",
            "start a",
            "start b",
            "start c"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_for_one_restarts_the_failed_child_and_those_after_it() {
    let node = node().await;
    let log = Log::default();
    let _sup = Supervisor::builder()
        .strategy(Strategy::RestForOne)
        .child(worker("a", &log))
        .child(worker("b", &log))
        .child(worker("c", &log))
        .start(&node)
        .await
        .unwrap();
    let a = node.whereis("a").unwrap();
    let old_c = node.whereis("c").unwrap();
    let old = crash(&node, "b").await;
    restarted(&node, "b", &old).await;
    restarted(&node, "c", &old_c).await;
    assert_eq!(node.whereis("a"), Some(a));
    assert_eq!(
        starts(&log),
        vec!["start a", "start b", "start c", "start b", "start c"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_types_decide_who_comes_back() {
    let node = node().await;
    let log = Log::default();
    let sup = Supervisor::builder()
        .child(worker("perm", &log))
        .child(worker("trans", &log).restart(Restart::Transient))
        .child(worker("temp", &log).restart(Restart::Temporary))
        .start(&node)
        .await
        .unwrap();

    // A transient child that stops normally stays stopped; a permanent one comes back.
    let perm = node.whereis("perm").unwrap();
    Worker::client(&node, "perm")
        .call(Cmd::Stop(ExitReason::Normal))
        .await
        .unwrap();
    restarted(&node, "perm", &perm).await;
    let trans = node.whereis("trans").unwrap();
    let w = node.watch(&trans);
    Worker::client(&node, "trans")
        .call(Cmd::Stop(ExitReason::Normal))
        .await
        .unwrap();
    within("trans exit", w).await;
    // A transient child that fails comes back.
    sup.restart_child("trans").await.unwrap();
    let trans = crash(&node, "trans").await;
    restarted(&node, "trans", &trans).await;
    // A temporary child never comes back and is forgotten.
    let temp = node.whereis("temp").unwrap();
    let w = node.watch(&temp);
    crash(&node, "temp").await;
    within("temp exit", w).await;
    let children = sup.which_children().await.unwrap();
    let ids: Vec<_> = children.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["perm", "trans"]);
    assert!(children.iter().all(|c| c.pid.is_some()));
    assert_eq!(node.whereis("temp"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceeding_restart_intensity_stops_the_supervisor_with_a_clear_reason() {
    let node = node().await;
    let log = Log::default();
    let sup = Supervisor::builder()
        .intensity(2, Duration::from_secs(60))
        .child(worker("a", &log))
        .child(worker("b", &log))
        .start(&node)
        .await
        .unwrap();
    let exit = node.watch(sup.pid());
    for _ in 0..2 {
        let old = crash(&node, "a").await;
        restarted(&node, "a", &old).await;
    }
    crash(&node, "a").await;
    let reason = within("supervisor exit", exit).await;
    let ExitReason::Error(text) = &reason else {
        panic!("unexpected reason {reason:?}")
    };
    assert!(text.contains("maximum restart intensity"), "{text}");
    assert!(text.contains("2 restarts within 60s"), "{text}");
    assert!(text.contains("a crashed"), "{text}");
    // Its other children were stopped with it.
    assert_eq!(node.whereis("b"), None);
    assert_eq!(node.process_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_children_in_reverse_order_and_kills_the_stubborn() {
    let node = node().await;
    let log = Log::default();
    // A child that traps exits and ignores the shutdown request.
    let stubborn = ChildSpec::new("stubborn", |s: ChildStart| async move {
        let addr = s.node().spawn_opts(
            SpawnOpts::new().link(s.parent()).trap_exit(true),
            |mut ctx: Ctx<()>| async move {
                loop {
                    ctx.recv().await;
                }
            },
        )?;
        Ok(addr.pid().clone())
    })
    .shutdown(Shutdown::Timeout(Duration::from_millis(50)));
    let sup = Supervisor::builder()
        .child(worker("a", &log))
        .child(stubborn)
        .child(worker("c", &log))
        .start(&node)
        .await
        .unwrap();
    let stubborn_pid = sup.which_children().await.unwrap()[1].pid.clone().unwrap();
    let stubborn_exit = node.watch(&stubborn_pid);
    let sup_exit = node.watch(sup.pid());
    within("stop", sup.stop(ExitReason::Shutdown))
        .await
        .unwrap();
    assert_eq!(
        within("supervisor exit", sup_exit).await,
        ExitReason::Shutdown
    );
    assert_eq!(
        within("stubborn exit", stubborn_exit).await,
        ExitReason::Killed
    );
    let stops: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("stop"))
        .cloned()
        .collect();
    assert_eq!(stops, vec!["stop c shutdown", "stop a shutdown"]);
    assert_eq!(node.process_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_fails_to_start_fails_the_supervisor_start() {
    struct Broken;
    impl GenServer for Broken {
        type Call = ();
        type Reply = ();
        type Cast = ();
        type Info = ();
        async fn init(&mut self, _: &mut ServerCtx<Self>) -> Result<(), ExitReason> {
            Err(ExitReason::error("missing config"))
        }
    }
    let node = node().await;
    let log = Log::default();
    let r = Supervisor::builder()
        .child(worker("a", &log))
        .child(ChildSpec::gen_server("broken", || Broken))
        .start(&node)
        .await;
    let Err(StartError::Init(ExitReason::Error(text))) = r else {
        panic!("unexpected {r:?}")
    };
    assert!(
        text.contains("broken") && text.contains("missing config"),
        "{text}"
    );
    // The child started before it was stopped again.
    assert_eq!(node.process_count(), 0);
    assert_eq!(
        log.lock().unwrap().clone(),
        vec!["start a", "stop a shutdown"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_supervisor_takes_children_at_run_time() {
    let node = node().await;
    let log = Log::default();
    let sup = Supervisor::dynamic()
        .start(&node)
        .register("dyn")
        .await
        .unwrap();
    assert_eq!(sup.count_children().await.unwrap().specs, 0);
    let p1 = sup.start_child(worker("w1", &log)).await.unwrap();
    let p2 = sup.start_child(worker("w2", &log)).await.unwrap();
    let count = sup.count_children().await.unwrap();
    assert_eq!((count.specs, count.active, count.workers), (2, 2, 2));
    // A crashed dynamic child is restarted; a terminated one is forgotten.
    let old = crash(&node, "w1").await;
    assert_eq!(old, p1);
    restarted(&node, "w1", &old).await;
    sup.terminate_child(&p2).await.unwrap();
    assert!(!node.is_alive(&p2));
    assert_eq!(sup.count_children().await.unwrap().specs, 1);
    assert!(matches!(
        sup.terminate_child(&p2).await,
        Err(SupervisorError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_children_can_be_terminated_restarted_and_deleted() {
    let node = node().await;
    let log = Log::default();
    let sup = Supervisor::builder()
        .child(worker("a", &log))
        .start(&node)
        .await
        .unwrap();
    assert!(matches!(
        sup.start_child(worker("a", &log)).await,
        Err(SupervisorError::AlreadyPresent(_))
    ));
    sup.terminate_child("a").await.unwrap();
    assert_eq!(node.whereis("a"), None);
    assert!(matches!(
        sup.delete_child("nope").await,
        Err(SupervisorError::NotFound(_))
    ));
    let pid = sup.restart_child("a").await.unwrap();
    assert_eq!(node.whereis("a"), Some(pid));
    assert!(matches!(
        sup.delete_child("a").await,
        Err(SupervisorError::Running(_))
    ));
    sup.terminate_child("a").await.unwrap();
    sup.delete_child("a").await.unwrap();
    assert!(sup.which_children().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_supervisors_restart_their_own_subtrees() {
    let node = node().await;
    let log = Log::default();
    let inner = Supervisor::builder().child(worker("leaf", &log));
    let _outer = Supervisor::builder()
        .child(worker("top", &log))
        .child(ChildSpec::supervisor("inner", inner).register("inner"))
        .start(&node)
        .await
        .unwrap();
    // A leaf crash is handled inside.
    let inner_pid = node.whereis("inner").unwrap();
    let leaf = crash(&node, "leaf").await;
    restarted(&node, "leaf", &leaf).await;
    assert_eq!(node.whereis("inner"), Some(inner_pid.clone()));
    // Killing the inner supervisor makes the outer one restart it with its children.
    let leaf = node.whereis("leaf").unwrap();
    node.exit(&inner_pid, ExitReason::Kill);
    restarted_supervisor(&node, "inner", &inner_pid).await;
    restarted(&node, "leaf", &leaf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_all_forgets_temporary_siblings_and_restarts_the_failed_child() {
    let node = node().await;
    let log = Log::default();
    let sup = Supervisor::builder()
        .strategy(Strategy::OneForAll)
        .child(worker("t1", &log).restart(Restart::Temporary))
        .child(worker("p", &log))
        .child(worker("t2", &log).restart(Restart::Temporary))
        .start(&node)
        .await
        .unwrap();
    let old = crash(&node, "p").await;
    restarted(&node, "p", &old).await;
    let ids: Vec<_> = sup
        .which_children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec!["p"]);
    assert_eq!(node.whereis("t1"), None);
    assert_eq!(node.whereis("t2"), None);
}
