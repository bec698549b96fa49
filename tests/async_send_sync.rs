//! Public types are Send and Sync (and call futures Send) so they cross tasks and threads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use locus::*;

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn send_val<T: Send>(_: &T) {}

struct S;
impl GenServer for S {
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ();
}

#[test]
fn handles_errors_and_futures_are_send_and_sync() {
    send::<Pid>();
    sync::<Pid>();
    send::<Node>();
    sync::<Node>();
    send::<NodeName>();
    send::<Client<S>>();
    sync::<Client<S>>();
    send::<Addr<u8>>();
    sync::<Addr<u8>>();
    send::<SupervisorRef>();
    sync::<SupervisorRef>();
    send::<ReplyHandle<u8>>();
    send::<CallError>();
    sync::<CallError>();
    send::<StartError>();
    send::<SendError<u8>>();
    send::<RegisterError>();
    send::<ExitReason>();
    send::<Ctx<u8>>();
    send::<TimerRef>();
    send::<ExitWatch>();
    send::<ChildSpec>();
    sync::<ChildSpec>();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let node = rt.block_on(Node::builder().start()).unwrap();
    let client = S::client(&node, "s");
    send_val(&client.call(()));
    send_val(&S::start(&node, S).into_future_boxed());
    send_val(&node.watch(&node.spawn(|_: Ctx<()>| async {}).pid().clone()));
}

trait IntoFutureBoxed: std::future::IntoFuture + Sized {
    fn into_future_boxed(self) -> Self::IntoFuture {
        self.into_future()
    }
}
impl<T: std::future::IntoFuture> IntoFutureBoxed for T {}
