//! Overload from other nodes: a flood of messages to one process that does not keep up is
//! cut at the node's `max_mailbox`, counted, and refused to callers at once, while the
//! rest of the node and the connection carry on. (Peers that stop reading, oversized
//! frames and stalled handshakes are covered next to the connection code, in
//! `runtime/src/dist/tests.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use locus::{CallError, Node, gen_server};
use support::{eventually, free_port, within};

/// A server stuck in its first call: everything after it waits in its mailbox. It says
/// when it is stuck.
struct Stuck {
    entered: Option<tokio::sync::oneshot::Sender<()>>,
}

#[gen_server]
impl Stuck {
    #[call]
    async fn stall(&mut self) {
        if let Some(tx) = self.entered.take() {
            let _ = tx.send(());
        }
        std::future::pending::<()>().await;
    }

    #[cast]
    async fn note(&mut self, _n: u32) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_to_a_slow_process_is_bounded_counted_and_refused_to_callers() {
    let epmd = free_port();
    let limit = 100;
    let b = Node::builder()
        .name("b@127.0.0.1")
        .cookie("c")
        .epmd_port(epmd)
        .max_mailbox(limit)
        .start()
        .await
        .unwrap();
    let a = Node::builder()
        .name("a@127.0.0.1")
        .cookie("c")
        .epmd_port(epmd)
        .start()
        .await
        .unwrap();
    let (entered, stuck_now) = tokio::sync::oneshot::channel();
    let stuck = Stuck::start(
        &b,
        Stuck {
            entered: Some(entered),
        },
    )
    .register("stuck")
    .await
    .unwrap();
    a.connect(b.name()).await.unwrap();
    let remote = Stuck::client(&a, ("stuck", b.name()));
    // Occupy the server for good: one poll sends the call, ahead of the flood on the same
    // connection.
    let patient = remote.clone().timeout(Duration::from_secs(3600));
    let mut stalled = Box::pin(patient.stall());
    assert!(futures::poll!(stalled.as_mut()).is_pending());
    within("the server to be stuck", stuck_now).await.unwrap();
    // A flood, bounded in count.
    let sent = 5_000u32;
    for i in 0..sent {
        remote.note(i).await.unwrap();
    }
    // The server is stuck with an empty queue: `limit` messages queue, the rest are dropped.
    let expected_drops = u64::from(sent) - limit as u64;
    eventually("the excess is dropped and counted", || {
        b.overload_drops() >= expected_drops
    })
    .await;
    let waiting = b.mailbox_len(&stuck.pid().unwrap()).unwrap();
    assert!(
        waiting <= limit,
        "{waiting} messages wait, over the limit of {limit}"
    );
    // A call to the overloaded server fails at once, saying why.
    let err = within(
        "an immediate refusal",
        remote.timeout(Duration::from_secs(3600)).stall(),
    )
    .await
    .unwrap_err();
    assert_eq!(err, CallError::Overloaded(limit));
    // The connection and the rest of the node carry on.
    assert!(a.ping(b.name()).await);
    let answer: locus::NodeName = a
        .rpc()
        .call(b.name(), "node.self", (), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(&answer, b.name());
    assert!(futures::poll!(stalled.as_mut()).is_pending());
    // Messages sent on the node itself are not limited (as in Erlang): only remote ones.
    assert_eq!(a.overload_drops(), 0);
}
