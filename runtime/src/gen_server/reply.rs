//! Reply handles: how a call's answer gets back to its caller, now or later.

use std::fmt;

use tokio::sync::oneshot;

use super::CallError;
use crate::process::{ExitReason, Pid, RemoteReplyTo, catching, dying_reason, orphan};

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
    to: Option<To<R>>,
    from: Option<Pid>,
}

/// Where the reply goes.
enum To<R: 'static> {
    /// A caller on this node, waiting on a one-shot slot.
    Local(oneshot::Sender<Result<R, CallError>>),
    /// A caller on another node: the reply is encoded and sent back.
    Remote(RemoteReplyTo, super::codec::ReplyWith<R>),
    /// Another handle, reached through a conversion ([`ReplyHandle::map`]).
    Mapped(Box<dyn FnOnce(Result<R, CallError>) + Send + Sync>),
}

impl<R: 'static> fmt::Debug for ReplyHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyHandle")
            .field("from", &self.from)
            .field("answered", &self.to.is_none())
            .finish()
    }
}

impl<R: 'static> ReplyHandle<R> {
    /// A handle and the receiver its caller waits on.
    pub(crate) fn pair(from: Option<Pid>) -> (Self, oneshot::Receiver<Result<R, CallError>>) {
        let (tx, rx) = oneshot::channel();
        (
            Self {
                to: Some(To::Local(tx)),
                from,
            },
            rx,
        )
    }

    /// A handle for a call from another node.
    pub(crate) fn remote(to: RemoteReplyTo, payload: super::codec::ReplyWith<R>) -> Self {
        let from = to.from.clone();
        Self {
            to: Some(To::Remote(to, payload)),
            from,
        }
    }

    /// A handle for a part of the reply: replying `t` replies `f(t)` through this handle.
    /// A server whose reply type is an enum gives each handler a handle of its own variant
    /// this way (the `#[gen_server]` macro does).
    ///
    /// ```
    /// # use locus::ReplyHandle;
    /// pub enum Reply { Count(u64), Name(String) }
    ///
    /// pub fn count_handle(from: ReplyHandle<Reply>) -> ReplyHandle<u64> {
    ///     from.map(Reply::Count)
    /// }
    /// # fn main() { let _ = (count_handle, Reply::Name(String::new())); }
    /// ```
    pub fn map<T: 'static>(
        mut self,
        f: impl FnOnce(T) -> R + Send + Sync + 'static,
    ) -> ReplyHandle<T>
    where
        R: Send + Sync,
    {
        let from = self.from.take();
        let Some(inner) = self.to.take() else {
            return ReplyHandle { to: None, from };
        };
        let inner = ReplyHandle {
            to: Some(inner),
            from: from.clone(),
        };
        ReplyHandle {
            to: Some(To::Mapped(Box::new(move |result| match result {
                Ok(t) => inner.reply(f(t)),
                Err(e) => inner.fail_with(e),
            }))),
            from,
        }
    }

    /// Fails the call with `err` instead of replying.
    pub(crate) fn fail_with(mut self, err: CallError) {
        if let Some(to) = self.to.take() {
            fail(to, err);
        }
    }

    /// The calling process, when the call came from one (OTP's `from`).
    pub fn caller(&self) -> Option<&Pid> {
        self.from.as_ref()
    }

    /// Sends the answer. If the caller has given up (timed out, or its call future was
    /// dropped), the answer is discarded: late replies never reach a caller.
    pub fn reply(mut self, value: R) {
        match self.to.take() {
            Some(To::Local(tx)) => {
                let _ = tx.send(Ok(value));
            }
            Some(To::Remote(to, with)) => {
                with(&value, &mut |payload| {
                    to.sink.reply(to.call_ref, Ok(payload))
                });
            }
            Some(To::Mapped(f)) => f(Ok(value)),
            None => {}
        }
    }

    /// Whether the caller has stopped waiting (a reply would be discarded). Always `false`
    /// for a caller on another node, which cannot be asked.
    pub fn is_abandoned(&self) -> bool {
        match &self.to {
            Some(To::Local(tx)) => tx.is_closed(),
            Some(To::Remote(..) | To::Mapped(_)) => false,
            None => true,
        }
    }
}

fn fail<R>(to: To<R>, err: CallError) {
    match to {
        To::Local(tx) => {
            let _ = tx.send(Err(err));
        }
        To::Remote(to, _) => to.fail(err),
        To::Mapped(f) => f(Err(err)),
    }
}

impl<R: 'static> Drop for ReplyHandle<R> {
    fn drop(&mut self) {
        if let Some(to) = self.to.take() {
            if std::thread::panicking() {
                if catching() {
                    // The server is panicking: the reason is known once the panic is caught.
                    orphan(Box::new(move |reason| {
                        fail(to, reason.map_or(CallError::NoReply, CallError::Exited));
                    }));
                } else {
                    // A task that is not a process panicked holding the handle.
                    let why = "the task holding the reply handle panicked".to_owned();
                    fail(to, CallError::Exited(ExitReason::Panic(why)));
                }
                return;
            }
            let err = match dying_reason() {
                Some(reason) => CallError::Exited(reason),
                None => CallError::NoReply,
            };
            fail(to, err);
        }
    }
}
