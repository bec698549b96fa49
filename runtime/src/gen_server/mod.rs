//! GenServer: a process that serves calls, casts and messages through callbacks, as OTP's
//! `gen_server`.
//!
//! | Client side ([`Client`])                     | Server callback ([`GenServer`])     |
//! |----------------------------------------------|-------------------------------------|
//! | [`GenServer::start`] (`.register`, `.link`)  | [`init`](GenServer::init)           |
//! | [`Client::call`], [`Client::call_timeout`]   | [`handle_call`](GenServer::handle_call) |
//! | [`Client::cast`]                             | [`handle_cast`](GenServer::handle_cast) |
//! | [`Client::send`], timers, exits, monitors    | [`handle_info`](GenServer::handle_info) |
//! | a callback returns [`Flow::Stop`], a panic, the parent's exit | [`terminate`](GenServer::terminate) |
//!
//! Rules, as in OTP:
//! - A callback that panics ends the server with [`ExitReason::Panic`], after
//!   `terminate` runs.
//! - Exits are not trapped by default: an abnormal exit of a linked process kills the server
//!   without calling `terminate`. A server that traps exits and receives an exit signal from
//!   its parent (the process it was started linked to, such as its supervisor) stops with that
//!   reason, calling `terminate`.
//! - Every call ends: a reply, [`CallError::Timeout`] after 5 s by default, or an error at
//!   once when the server is gone or exits with the call pending or queued.
//!
//! # Guarantees
//!
//! - Calls and casts from one client are handled in the order they were made.
//! - A reply that comes after the caller gave up is discarded; it never shows up later as a
//!   stray message.
//! - When the server exits, every call it has not answered fails at once with
//!   [`CallError::Exited`] and the exit reason. Other queued messages (casts, infos) are
//!   dropped, as in Erlang.
//!
//! # Failure
//!
//! See [`CallError`]: `NoProc` when nothing runs at the destination, `Exited` when the server
//! ended before answering, `Timeout` when it answered too late, `CallingSelf` when a server
//! calls itself.
//!
//! # Example
//!
//! ```
//! use locus::{Flow, GenServer, Node, ReplyHandle, ServerCtx};
//!
//! #[derive(Default)]
//! struct Counter { n: u64 }
//!
//! impl GenServer for Counter {
//!     type Call = ();          // "what is the count?"
//!     type Reply = u64;
//!     type Cast = u64;         // "add this much"
//!     type Info = ();
//!
//!     async fn handle_call(&mut self, _: (), from: ReplyHandle<u64>, _: &mut ServerCtx<Self>) -> Flow {
//!         from.reply(self.n);
//!         Flow::Continue
//!     }
//!
//!     async fn handle_cast(&mut self, by: u64, _: &mut ServerCtx<Self>) -> Flow {
//!         self.n += by;
//!         Flow::Continue
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder().start().await?;
//! let counter = Counter::start(&node, Counter::default()).register("counter").await?;
//! counter.cast(2)?;
//! assert_eq!(counter.call(()).await?, 2);
//! # Ok(()) }
//! ```
//!
//! # Implementation notes
//!
//! These may change. A call puts the request and a one-shot reply slot in the server's
//! mailbox and waits on the slot; the slot replaces OTP's monitor-plus-alias. The reply
//! handle fails its slot when it is dropped unanswered, which is how a dying server fails the
//! calls it holds without any per-call monitor.

mod client;
mod codec;
mod reply;
mod server;

pub use client::{Client, DEFAULT_CALL_TIMEOUT};
pub use codec::RemoteCodec;
pub(crate) use codec::decode_server;
// Why a call fails is the process layer's (a call is a process primitive); servers and
// their clients see it here.
pub(crate) use crate::process::CallError;
pub use reply::ReplyHandle;
pub use server::{ServerMsg, Start, StartError};

use std::future::Future;

use crate::node::{Ctx, Node};
use crate::process::{ExitReason, Signal};

/// The context of a GenServer's callbacks: a [`Ctx`] whose mailbox holds the server's calls,
/// casts and infos.
pub type ServerCtx<S> = Ctx<ServerMsg<S>>;

/// What a callback tells the server loop to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a callback's Flow decides whether the server goes on"]
pub enum Flow {
    /// Wait for the next message.
    Continue,
    /// Run [`terminate`](GenServer::terminate) and exit with this reason.
    Stop(ExitReason),
}

/// The callbacks of a server. Every callback but [`handle_call`](Self::handle_call) has a
/// default; see each one.
///
/// Callbacks are `async`; the server handles one message at a time, in mailbox order.
/// The four associated types are the messages the server understands:
/// - `Call`: requests answered with a `Reply` ([`Client::call`]);
/// - `Cast`: one-way requests ([`Client::cast`]);
/// - `Info`: plain messages sent to the server's pid or name (including timers it sets for
///   itself with [`Ctx::send_after`]).
pub trait GenServer: Sized + Send + 'static {
    /// Requests that expect a reply.
    type Call: Send + 'static;
    /// Replies to `Call`s.
    type Reply: Send + 'static;
    /// One-way requests.
    type Cast: Send + 'static;
    /// Plain messages.
    type Info: Send + 'static;

    /// Runs first, before any message is handled; [`start`](Self::start) waits for it.
    /// Returning `Err(reason)` (or panicking) makes `start` fail with
    /// [`StartError::Init`]. Default: `Ok(())`.
    fn init(
        &mut self,
        ctx: &mut ServerCtx<Self>,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Handles a call. Answer it with [`ReplyHandle::reply`], now or later (the handle can be
    /// moved elsewhere); dropping `from` unanswered fails the call with
    /// [`CallError::NoReply`]. Return [`Flow::Stop`] to end the server (reply first if the
    /// caller should hear back).
    ///
    /// Default: logs the call as unexpected and drops it, so the caller gets `NoReply`.
    fn handle_call(
        &mut self,
        request: Self::Call,
        from: ReplyHandle<Self::Reply>,
        ctx: &mut ServerCtx<Self>,
    ) -> impl Future<Output = Flow> + Send {
        let _ = request;
        tracing::warn!(server = %ctx.pid(), "unexpected call: handle_call is not implemented");
        drop(from);
        async { Flow::Continue }
    }

    /// Handles a cast. Default: logs it as unexpected and carries on.
    fn handle_cast(
        &mut self,
        msg: Self::Cast,
        ctx: &mut ServerCtx<Self>,
    ) -> impl Future<Output = Flow> + Send {
        let _ = msg;
        tracing::warn!(server = %ctx.pid(), "unexpected cast: handle_cast is not implemented");
        async { Flow::Continue }
    }

    /// Handles everything else: plain messages ([`Signal::Message`]), exits of linked
    /// processes when trapping exits, [`Signal::Down`] of monitors, and messages from other
    /// nodes that could not be decoded.
    ///
    /// Default: logs plain and undecodable messages as unexpected and carries on; ignores
    /// `Exit` and `Down`.
    fn handle_info(
        &mut self,
        info: Signal<Self::Info>,
        ctx: &mut ServerCtx<Self>,
    ) -> impl Future<Output = Flow> + Send {
        match &info {
            Signal::Message(_) => {
                tracing::warn!(server = %ctx.pid(), "unexpected message: handle_info is not implemented");
            }
            Signal::Unexpected(u) => {
                tracing::warn!(server = %ctx.pid(), type_name = %u.type_name, error = %u.error, "undecodable message");
            }
            Signal::Exit(e) => {
                tracing::debug!(server = %ctx.pid(), from = %e.from, reason = %e.reason, "ignored exit")
            }
            Signal::Down(d) => {
                tracing::debug!(server = %ctx.pid(), pid = %d.pid, reason = %d.reason, "ignored down")
            }
            Signal::NodeUp(n) => tracing::debug!(server = %ctx.pid(), node = %n, "ignored nodeup"),
            Signal::NodeDown(n, r) => {
                tracing::debug!(server = %ctx.pid(), node = %n, reason = %r, "ignored nodedown")
            }
        }
        async { Flow::Continue }
    }

    /// Runs when the server stops on its own ([`Flow::Stop`], a panic in a callback, its
    /// parent's exit while trapping). Not run when the server is killed. Default: nothing.
    fn terminate(
        &mut self,
        reason: &ExitReason,
        ctx: &mut ServerCtx<Self>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (reason, ctx);
        async {}
    }

    /// How this server's messages cross nodes. Default: `None`, the server is reachable from
    /// its own node only (its message types need not be serializable). Return
    /// `Some(RemoteCodec::serde())` to make it callable from other nodes; `#[gen_server]`
    /// does so.
    fn remote() -> Option<RemoteCodec<Self>> {
        None
    }

    /// Starts `server` as a new process on `node`. Await the returned [`Start`] (after
    /// setting a name or a link on it) to run [`init`](Self::init) and get a [`Client`].
    fn start(node: &Node, server: Self) -> Start<Self> {
        Start::new(node, server)
    }

    /// A client for the server at `dest`: a pid, a local name or `(name, node)`.
    fn client(node: &Node, dest: impl Into<crate::process::Dest>) -> Client<Self> {
        Client::new(node, dest)
    }
}
