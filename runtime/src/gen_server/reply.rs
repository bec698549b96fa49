//! Reply handles: how a call's answer gets back to its caller, now or later.

use std::fmt;

use tokio::sync::oneshot;

use super::CallError;
use crate::process::{dying_reason, orphan};

/// The right to answer one call. [`reply`](Self::reply) answers it; the handle can be moved
/// to another task or process and answered from there.
///
/// A handle dropped without replying fails the call at once: with
/// [`CallError::Exited`] if the server is exiting or panicking (its reason included), and
/// with [`CallError::NoReply`] otherwise. So a caller never waits for an answer that cannot come.
///
/// ```
/// use locus::{ReplyHandle, Flow, GenServer, Node, ServerCtx};
///
/// struct Doubler;
///
/// impl GenServer for Doubler {
///     type Call = u64;
///     type Reply = u64;
///     type Cast = ();
///     type Info = ();
///
///     async fn handle_call(&mut self, n: u64, from: ReplyHandle<u64>, _: &mut ServerCtx<Self>) -> Flow {
///         // Answer from another task; the server is free to take the next message.
///         tokio::spawn(async move { from.reply(n * 2) });
///         Flow::Continue
///     }
/// }
///
/// # #[tokio::main] async fn main() {
/// let node = Node::builder().start().await.unwrap();
/// let doubler = Doubler::start(&node, Doubler).await.unwrap();
/// assert_eq!(doubler.call(21).await, Ok(42));
/// # }
/// ```
#[must_use = "a reply handle dropped without replying fails the call"]
pub struct ReplyHandle<R: 'static> {
    tx: Option<oneshot::Sender<Result<R, CallError>>>,
}

impl<R: 'static> fmt::Debug for ReplyHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyHandle")
            .field("answered", &self.tx.is_none())
            .finish()
    }
}

impl<R: 'static> ReplyHandle<R> {
    /// A handle and the receiver its caller waits on.
    pub(crate) fn pair() -> (Self, oneshot::Receiver<Result<R, CallError>>) {
        let (tx, rx) = oneshot::channel();
        (Self { tx: Some(tx) }, rx)
    }

    /// Sends the answer. If the caller has given up (timed out, or its call future was
    /// dropped), the answer is discarded: late replies never reach a caller.
    pub fn reply(mut self, value: R) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Ok(value));
        }
    }

    /// Whether the caller has stopped waiting (a reply would be discarded).
    pub fn is_abandoned(&self) -> bool {
        self.tx.as_ref().is_none_or(|tx| tx.is_closed())
    }
}

impl<R: 'static> Drop for ReplyHandle<R> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            if std::thread::panicking() {
                // The server is panicking: the reason is known once the panic is caught.
                orphan(Box::new(move |reason| {
                    let _ = tx.send(Err(reason.map_or(CallError::NoReply, CallError::Exited)));
                }));
                return;
            }
            let err = match dying_reason() {
                Some(reason) => CallError::Exited(reason),
                None => CallError::NoReply,
            };
            let _ = tx.send(Err(err));
        }
    }
}
