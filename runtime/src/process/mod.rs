//! Processes: lightweight tasks with a mailbox, a pid, links, monitors and exit signals,
//! as in Erlang.
//!
//! A process is an async function that receives a [`Ctx`] and runs until it returns, panics
//! or is killed. It is identified by a [`Pid`] and receives messages of one type `M` plus
//! system signals ([`Signal`]) through [`Ctx::recv`].
//!
//! # Guarantees
//!
//! - **Per-pair FIFO.** Messages and signals from one sender to one process arrive in the
//!   order they were sent; a signal never overtakes an earlier message from the same sender.
//! - **Every end is seen.** However a process ends (returns, returns an error, panics, is
//!   killed), its links receive an exit signal and its monitors exactly one
//!   [`Down`]. A monitor set on a process that is already gone fires at once with
//!   [`ExitReason::NoProc`].
//! - **Names are freed first.** A process's registered name is released before its links
//!   and monitors are told, so whoever restarts it can take the name again.
//!
//! # Failure
//!
//! - A panic ends the process with [`ExitReason::Panic`] carrying the message; the node and
//!   every other process carry on.
//! - An exit signal with a reason other than `Normal` kills a process that does not trap
//!   exits; [`ExitReason::Kill`] kills even one that does. A killed process stops at its
//!   next `.await`.
//! - When a process ends, messages still in its mailbox are dropped (a queued GenServer call
//!   fails at once with the exit reason), as in Erlang.
//!
//! # Example
//!
//! ```
//! use locus::{Node, Signal, ExitReason};
//!
//! # #[tokio::main] async fn main() {
//! let node = Node::builder().start().await.unwrap();
//! let worker = node.spawn(|mut ctx: locus::Ctx<u32>| async move {
//!     match ctx.recv().await {
//!         Signal::Message(0) => Err("zero is not allowed"),
//!         _ => Ok(()),
//!     }
//! });
//! let exit = node.watch(worker.pid());
//! worker.send(0).unwrap();
//! assert_eq!(exit.await, ExitReason::Error("zero is not allowed".into()));
//! # }
//! ```
//!
//! # Implementation notes
//!
//! These may change. Each process is one tokio task. Its mailbox is a locked queue that the
//! process drains in batches, and it is typed: a local send moves the value in without
//! serializing or boxing it. A pid lookup is one probe of a sharded map. Killing a process
//! aborts its task; the task's drop runs the same exit path as a return.

mod blob;
mod cell;
mod dest;
mod error;
mod exit;
mod incoming;
mod kind;
mod mailbox;
mod node_name;
mod pid;
mod signal;
mod table;

pub use blob::Blob;
pub use dest::Dest;
pub use error::{CallError, NoProcError, RegisterError, SendError};
pub use exit::{CustomReason, Down, Exit, ExitReason, IntoExitReason};
pub use kind::SpawnOpts;
pub use node_name::{IntoNodeName, NodeName, NodeNameError};
pub use pid::{MonitorRef, Pid};
pub use signal::{NodeDownReason, Signal, Unexpected};

pub(crate) use blob::{Shared, shared_len_after, sharing, unshare_after};
pub(crate) use cell::{
    Delivery, ProcessCell, Relations, TypedCell, Watcher, catching, current_pid_id, dying,
    dying_reason, enter_process, is_down_of, orphan, panic_message_of, poll_catching,
};
pub(crate) use incoming::{
    BareVariant, DecodeFn, EncodeError, Format, Incoming, Payload, Rejected, RemoteReplyTo,
    ReplySink, WireBytes, WireKind, as_payload, decode_value, wire_name,
};
pub(crate) use kind::Kind;
pub(crate) use mailbox::Envelope;
pub(crate) use signal::SysSignal;
pub(crate) use table::ProcessTable;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A message type other nodes can send: serializable, sendable, owned.
///
/// Implemented for every type that is `Serialize + DeserializeOwned + Send + 'static`; derive
/// serde's traits to get it. Processes whose messages cannot be serialized are spawned with
/// [`Node::spawn_local_only`](crate::Node::spawn_local_only).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent between nodes",
    note = "derive serde's Serialize and Deserialize for it, or spawn with `Node::spawn_local_only`"
)]
pub trait Message: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Message for T {}
