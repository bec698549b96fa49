//! GenServer: calls, casts, infos, replies later, timeouts, failures, start and stop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use locus::{
    CallError, Client, Ctx, ExitReason, Flow, GenServer, ReplyHandle, ServerCtx, Signal, SpawnOpts,
    StartError,
};
use support::{node, within};
use tokio::sync::{mpsc, oneshot};

/// A test server whose behaviour each request chooses.
#[derive(Default)]
struct Test {
    /// What terminate saw.
    terminated: Option<mpsc::UnboundedSender<ExitReason>>,
    infos: Option<mpsc::UnboundedSender<String>>,
    parked: Vec<ReplyHandle<Reply>>,
    count: u64,
}

#[derive(Debug)]
enum Req {
    Echo(u64),
    /// Reply from another task after a delay.
    Later(u64, Duration),
    /// Never reply (keep the handle).
    Park,
    /// Drop the handle.
    Drop,
    Panic,
    StopWith(ExitReason),
    /// Call ourselves (must fail with CallingSelf).
    CallSelf,
    Count,
    /// Send ourselves an info after a delay.
    Timer(Duration),
    Monitor(locus::Pid),
}

#[derive(Debug, PartialEq)]
enum Reply {
    N(u64),
    Err(CallError),
    Ok,
}

impl GenServer for Test {
    type Call = Req;
    type Reply = Reply;
    type Cast = u64;
    type Info = String;

    async fn handle_call(
        &mut self,
        req: Req,
        from: ReplyHandle<Reply>,
        ctx: &mut ServerCtx<Self>,
    ) -> Flow {
        match req {
            Req::Echo(n) => from.reply(Reply::N(n)),
            Req::Later(n, d) => {
                tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    from.reply(Reply::N(n));
                });
            }
            Req::Park => self.parked.push(from),
            Req::Drop => drop(from),
            Req::Panic => panic!("handler panicked"),
            Req::StopWith(reason) => {
                from.reply(Reply::Ok);
                return Flow::Stop(reason);
            }
            Req::CallSelf => {
                let me = Client::<Test>::new(ctx.node(), ctx.pid());
                let r = me.call(Req::Count).await;
                from.reply(Reply::Err(r.unwrap_err()));
            }
            Req::Count => from.reply(Reply::N(self.count)),
            Req::Timer(d) => {
                ctx.send_after(ctx.pid(), "tick".to_string(), d);
                from.reply(Reply::Ok);
            }
            Req::Monitor(pid) => {
                ctx.monitor(&pid);
                from.reply(Reply::Ok);
            }
        }
        Flow::Continue
    }

    async fn handle_cast(&mut self, by: u64, _: &mut ServerCtx<Self>) -> Flow {
        self.count += by;
        Flow::Continue
    }

    async fn handle_info(&mut self, info: Signal<String>, _: &mut ServerCtx<Self>) -> Flow {
        let text = match info {
            Signal::Message(m) => m,
            Signal::Down(d) => format!("down {}", d.reason),
            Signal::Exit(e) => format!("exit {}", e.reason),
            _ => "other".into(),
        };
        if let Some(tx) = &self.infos {
            let _ = tx.send(text);
        }
        Flow::Continue
    }

    async fn terminate(&mut self, reason: &ExitReason, _: &mut ServerCtx<Self>) {
        if let Some(tx) = &self.terminated {
            let _ = tx.send(reason.clone());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_cast_and_info_reach_their_callbacks_in_order() {
    let node = node().await;
    let (tx, mut infos) = mpsc::unbounded_channel();
    let c = Test::start(
        &node,
        Test {
            infos: Some(tx),
            ..Test::default()
        },
    )
    .register("test")
    .await
    .unwrap();
    assert_eq!(c.call(Req::Echo(7)).await.unwrap(), Reply::N(7));
    for _ in 0..10 {
        c.cast(2).unwrap();
    }
    // The call is queued after the casts, so it sees them all.
    assert_eq!(c.call(Req::Count).await.unwrap(), Reply::N(20));
    c.send("hello".into()).unwrap();
    node.send("test", "by name".to_string()).unwrap();
    assert_eq!(within("info", infos.recv()).await.unwrap(), "hello");
    assert_eq!(within("info", infos.recv()).await.unwrap(), "by name");
    // A named client resolves the name at each call.
    let by_name = Test::client(&node, "test");
    assert_eq!(by_name.call(Req::Echo(1)).await.unwrap(), Reply::N(1));
    assert_eq!(by_name.pid(), c.pid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_can_come_later_from_another_task() {
    let node = node().await;
    let c = Test::start(&node, Test::default()).await.unwrap();
    // While the first call waits for its late reply, the server answers another.
    let slow = tokio::spawn({
        let c = c.clone();
        async move { c.call(Req::Later(5, Duration::from_millis(50))).await }
    });
    assert_eq!(c.call(Req::Echo(1)).await.unwrap(), Reply::N(1));
    assert_eq!(
        within("late reply", slow).await.unwrap().unwrap(),
        Reply::N(5)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_times_out_and_its_late_reply_is_discarded() {
    let node = node().await;
    let c = Test::start(&node, Test::default()).await.unwrap();
    let r = c
        .call_timeout(
            Req::Later(9, Duration::from_millis(100)),
            Duration::from_millis(10),
        )
        .await;
    assert_eq!(r, Err(CallError::Timeout));
    // The late reply lands nowhere: the next call gets its own answer.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(c.call(Req::Echo(3)).await.unwrap(), Reply::N(3));
    // A client-wide timeout applies to every call.
    let impatient = c.clone().timeout(Duration::from_millis(10));
    assert_eq!(impatient.call(Req::Park).await, Err(CallError::Timeout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_nothing_fail_with_noproc() {
    let node = node().await;
    let nobody = Test::client(&node, "nobody");
    assert_eq!(nobody.call(Req::Echo(1)).await, Err(CallError::NoProc));
    let c = Test::start(&node, Test::default()).await.unwrap();
    let pid = c.pid().unwrap();
    node.exit(&pid, ExitReason::Kill);
    within("exit", node.watch(&pid)).await;
    assert_eq!(c.call(Req::Echo(1)).await, Err(CallError::NoProc));
    assert!(c.cast(1).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_a_process_of_another_type_fails_with_bad_type() {
    let node = node().await;
    let plain = node.spawn(|mut ctx: Ctx<u8>| async move {
        ctx.recv().await;
    });
    let c = Test::client(&node, plain.pid());
    assert!(matches!(
        c.call(Req::Echo(1)).await,
        Err(CallError::BadType(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_dies_mid_call_fails_the_call_at_once_with_its_reason() {
    let node = node().await;
    let c = Test::start(&node, Test::default()).await.unwrap();
    // A long timeout: the error must come from the death, not the timeout.
    let r = within(
        "failed call",
        c.call_timeout(Req::Panic, Duration::from_secs(3600)),
    )
    .await;
    assert_eq!(
        r,
        Err(CallError::Exited(ExitReason::Panic(
            "handler panicked".into()
        )))
    );

    // A server killed while holding a call fails it with the kill reason.
    let c = Test::start(&node, Test::default()).await.unwrap();
    let mut parked = std::pin::pin!(c.call_timeout(Req::Park, Duration::from_secs(3600)));
    // One poll sends Park (a local call is delivered before its first wait).
    assert!(futures::poll!(parked.as_mut()).is_pending());
    // The Echo is answered after Park was handled, so the handle is parked by now.
    assert_eq!(c.call(Req::Echo(0)).await.unwrap(), Reply::N(0));
    node.exit(&c.pid().unwrap(), ExitReason::Kill);
    assert_eq!(
        within("parked call", parked).await,
        Err(CallError::Exited(ExitReason::Killed))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_still_queued_when_the_server_dies_fail_with_its_reason() {
    let node = node().await;
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let (busy_tx, busy_rx) = oneshot::channel::<()>();
    struct Blocker(Option<oneshot::Receiver<()>>, Option<oneshot::Sender<()>>);
    impl GenServer for Blocker {
        type Call = ();
        type Reply = ();
        type Cast = ();
        type Info = ();
        async fn handle_call(
            &mut self,
            _: (),
            from: ReplyHandle<()>,
            _: &mut ServerCtx<Self>,
        ) -> Flow {
            let _ = self.1.take().map(|tx| tx.send(()));
            if let Some(rx) = self.0.take() {
                let _ = rx.await;
            }
            drop(from);
            Flow::Stop(ExitReason::error("blocker done"))
        }
    }
    let c = Blocker::start(&node, Blocker(Some(release_rx), Some(busy_tx)))
        .await
        .unwrap();
    let first = tokio::spawn({
        let c = c.clone();
        async move { c.call_timeout((), Duration::from_secs(3600)).await }
    });
    within("busy", busy_rx).await.unwrap();
    let queued: Vec<_> = (0..5)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.call_timeout((), Duration::from_secs(3600)).await })
        })
        .collect();
    // Wait until all five are in the mailbox, then let the server stop.
    let pid = c.pid().unwrap();
    support::eventually("queued calls", || node.mailbox_len(&pid) == Some(5)).await;
    release_tx.send(()).unwrap();
    assert_eq!(
        within("first", first).await.unwrap(),
        Err(CallError::NoReply)
    );
    for q in queued {
        assert_eq!(
            within("queued", q).await.unwrap(),
            Err(CallError::Exited(ExitReason::Error("blocker done".into())))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_reply_handle_fails_the_call_with_no_reply() {
    let node = node().await;
    let c = Test::start(&node, Test::default()).await.unwrap();
    assert_eq!(c.call(Req::Drop).await, Err(CallError::NoReply));
    // The server carries on.
    assert_eq!(c.call(Req::Echo(2)).await.unwrap(), Reply::N(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_calling_itself_gets_calling_self() {
    let node = node().await;
    let c = Test::start(&node, Test::default()).await.unwrap();
    assert_eq!(
        c.call(Req::CallSelf).await.unwrap(),
        Reply::Err(CallError::CallingSelf)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_replies_then_runs_terminate_with_the_reason() {
    let node = node().await;
    let (tx, mut terminated) = mpsc::unbounded_channel();
    let c = Test::start(
        &node,
        Test {
            terminated: Some(tx),
            ..Test::default()
        },
    )
    .register("stopper")
    .await
    .unwrap();
    let exit = node.watch(&c.pid().unwrap());
    assert_eq!(
        c.call(Req::StopWith(ExitReason::Shutdown)).await.unwrap(),
        Reply::Ok
    );
    assert_eq!(
        within("terminate", terminated.recv()).await.unwrap(),
        ExitReason::Shutdown
    );
    assert_eq!(within("exit", exit).await, ExitReason::Shutdown);
    assert_eq!(node.whereis("stopper"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_callback_still_runs_terminate() {
    let node = node().await;
    let (tx, mut terminated) = mpsc::unbounded_channel();
    let c = Test::start(
        &node,
        Test {
            terminated: Some(tx),
            ..Test::default()
        },
    )
    .await
    .unwrap();
    let _ = c.call(Req::Panic).await;
    assert_eq!(
        within("terminate", terminated.recv()).await.unwrap(),
        ExitReason::Panic("handler panicked".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_failure_fails_start_and_frees_the_name() {
    struct Failing(bool);
    impl GenServer for Failing {
        type Call = ();
        type Reply = ();
        type Cast = ();
        type Info = ();
        async fn init(&mut self, _: &mut ServerCtx<Self>) -> Result<(), ExitReason> {
            if self.0 {
                panic!("init exploded");
            }
            Err(ExitReason::error("no config"))
        }
    }
    let node = node().await;
    let r = Failing::start(&node, Failing(false)).register("f").await;
    assert_eq!(
        r.unwrap_err(),
        StartError::Init(ExitReason::Error("no config".into()))
    );
    assert_eq!(
        node.whereis("f"),
        None,
        "the name is free when start returns"
    );
    let r = Failing::start(&node, Failing(true)).register("f").await;
    assert_eq!(
        r.unwrap_err(),
        StartError::Init(ExitReason::Panic("init exploded".into()))
    );
    assert_eq!(node.process_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_under_a_taken_name_is_already_started() {
    let node = node().await;
    let first = Test::start(&node, Test::default())
        .register("one")
        .await
        .unwrap();
    let second = Test::start(&node, Test::default()).register("one").await;
    assert_eq!(
        second.unwrap_err(),
        StartError::AlreadyStarted(first.pid().unwrap())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_info_sees_timers_and_monitors() {
    let node = node().await;
    let (tx, mut infos) = mpsc::unbounded_channel();
    let c = Test::start(
        &node,
        Test {
            infos: Some(tx),
            ..Test::default()
        },
    )
    .await
    .unwrap();
    c.call(Req::Timer(Duration::from_millis(5))).await.unwrap();
    assert_eq!(within("tick", infos.recv()).await.unwrap(), "tick");
    let short = node.spawn(|mut ctx: Ctx<()>| async move {
        ctx.recv().await;
        Err::<(), _>("short-lived")
    });
    c.call(Req::Monitor(short.pid().clone())).await.unwrap();
    short.send(()).unwrap();
    assert_eq!(
        within("down", infos.recv()).await.unwrap(),
        "down error: short-lived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_server_stops_through_terminate_when_its_parent_exits() {
    struct Trapper(mpsc::UnboundedSender<ExitReason>);
    impl GenServer for Trapper {
        type Call = ();
        type Reply = ();
        type Cast = ();
        type Info = ();
        async fn init(&mut self, ctx: &mut ServerCtx<Self>) -> Result<(), ExitReason> {
            ctx.trap_exit(true);
            Ok(())
        }
        async fn terminate(&mut self, reason: &ExitReason, _: &mut ServerCtx<Self>) {
            let _ = self.0.send(reason.clone());
        }
    }
    let node = node().await;
    let (tx, mut terminated) = mpsc::unbounded_channel();
    let (parent_tx, parent_rx) = oneshot::channel::<ExitReason>();
    let parent = node
        .spawn_local_only(SpawnOpts::new(), move |_: Ctx<()>| async move {
            parent_rx.await.unwrap_or(ExitReason::Normal)
        })
        .unwrap();
    let server = Trapper::start(&node, Trapper(tx))
        .link(parent.pid())
        .await
        .unwrap();
    let exit = node.watch(&server.pid().unwrap());
    parent_tx.send(ExitReason::Shutdown).unwrap();
    assert_eq!(
        within("terminate", terminated.recv()).await.unwrap(),
        ExitReason::Shutdown
    );
    assert_eq!(within("exit", exit).await, ExitReason::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_handle_lost_in_a_panicking_task_fails_the_call_at_once() {
    struct Careless;
    impl GenServer for Careless {
        type Call = ();
        type Reply = ();
        type Cast = ();
        type Info = ();
        async fn handle_call(
            &mut self,
            _: (),
            from: ReplyHandle<()>,
            _: &mut ServerCtx<Self>,
        ) -> Flow {
            tokio::spawn(async move {
                let _keep = from;
                panic!("helper task failed");
            });
            Flow::Continue
        }
    }
    let node = node().await;
    let c = Careless::start(&node, Careless).await.unwrap();
    let r = within("failed call", c.call_timeout((), Duration::from_secs(3600))).await;
    assert!(
        matches!(r, Err(CallError::Exited(ExitReason::Panic(_)))),
        "{r:?}"
    );
}
