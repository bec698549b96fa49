//! The server loop and how a server is started.

use std::any::Any;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::Poll;

use tokio::sync::oneshot;

use super::{Client, Flow, GenServer, ReplyHandle, ServerCtx, StartError};
use crate::node::Node;
use crate::process::{ExitReason, Kind, Pid, Signal, SpawnOpts, poll_catching};

/// What a GenServer's mailbox holds. Built by [`Client`]; a server sees its contents through
/// its callbacks.
#[non_exhaustive]
pub enum ServerMsg<S: GenServer> {
    /// A request and the handle to answer it.
    Call(S::Call, ReplyHandle<S::Reply>),
    /// A one-way request.
    Cast(S::Cast),
    /// A plain message.
    Info(S::Info),
    /// A request to stop with this reason ([`Client::stop`]): the server runs `terminate`
    /// and exits.
    Stop(ExitReason),
}

impl<S: GenServer> fmt::Debug for ServerMsg<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerMsg::Call(..) => "Call(..)",
            ServerMsg::Cast(_) => "Cast(..)",
            ServerMsg::Info(_) => "Info(..)",
            ServerMsg::Stop(_) => "Stop(..)",
        })
    }
}

/// A server mailbox takes its own messages and, from plain sends to its pid or name, values
/// of its `Info` type.
fn accept<S: GenServer>(slot: &mut dyn Any) -> Option<ServerMsg<S>> {
    if let Some(s) = slot.downcast_mut::<Option<S::Info>>() {
        return s.take().map(ServerMsg::Info);
    }
    slot.downcast_mut::<Option<ServerMsg<S>>>()
        .and_then(Option::take)
}

fn give_back<S: GenServer>(msg: ServerMsg<S>, slot: &mut dyn Any) {
    match msg {
        ServerMsg::Info(info) => {
            if let Some(s) = slot.downcast_mut::<Option<S::Info>>() {
                *s = Some(info);
            } else if let Some(s) = slot.downcast_mut::<Option<ServerMsg<S>>>() {
                *s = Some(ServerMsg::Info(info));
            }
        }
        other => {
            if let Some(s) = slot.downcast_mut::<Option<ServerMsg<S>>>() {
                *s = Some(other);
            }
        }
    }
}

pub(crate) fn server_kind<S: GenServer>() -> Kind<ServerMsg<S>> {
    Kind {
        accept: accept::<S>,
        give_back: give_back::<S>,
        decode: S::remote()
            .map(|_| super::decode_server::<S> as crate::process::DecodeFn<ServerMsg<S>>),
    }
}

/// A server being started; await it to run `init` and get a [`Client`].
///
/// ```
/// # use locus::{GenServer, Node};
/// # struct Cache;
/// # impl GenServer for Cache { type Call = (); type Reply = (); type Cast = (); type Info = ();
/// #   async fn handle_call(&mut self, _: (), from: locus::ReplyHandle<()>, _: &mut locus::ServerCtx<Self>) -> locus::Flow { from.reply(()); locus::Flow::Continue } }
/// # #[tokio::main] async fn main() -> Result<(), locus::StartError> {
/// # let node = Node::builder().start().await.unwrap();
/// let cache = Cache::start(&node, Cache).register("cache").await?;
/// assert_eq!(node.whereis("cache"), cache.pid());
/// # Ok(()) }
/// ```
#[must_use = "a server starts only when its Start is awaited"]
pub struct Start<S: GenServer> {
    node: Node,
    server: S,
    opts: SpawnOpts,
    parent: Option<Pid>,
}

impl<S: GenServer> fmt::Debug for Start<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Start")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl<S: GenServer> Start<S> {
    pub(crate) fn new(node: &Node, server: S) -> Self {
        Self {
            node: node.clone(),
            server,
            opts: SpawnOpts::new(),
            parent: None,
        }
    }

    /// Registers the server under `name` before `init` runs (OTP's `name:` option). If the
    /// name is taken, nothing starts and the error names the holder.
    pub fn register(mut self, name: impl Into<String>) -> Self {
        self.opts = self.opts.register(name);
        self
    }

    /// Links the server to `parent` before `init` runs (OTP's `start_link`). If the server
    /// traps exits, an exit signal from `parent` stops it through `terminate`.
    pub fn link(mut self, parent: &Pid) -> Self {
        self.opts = self.opts.link(parent);
        self.parent = Some(parent.clone());
        self
    }

    /// Starts the server and waits for `init`.
    async fn run(self) -> Result<Client<S>, StartError> {
        let (ack_tx, ack_rx) = oneshot::channel();
        let Start {
            node,
            server,
            opts,
            parent,
        } = self;
        let (cell, opts_link) = node.prepare(opts, server_kind::<S>())?;
        // Watching before the task runs: if init fails, the watch resolves only after the
        // process has fully ended (its name is free again), as OTP's gen_server does.
        let exit = node.watch(cell.core.pid());
        let addr = node.start_cell(cell, opts_link.as_ref(), move |ctx| {
            serve(server, ctx, parent, ack_tx)
        });
        match ack_rx.await {
            Ok(()) => Ok(Client::new(&node, addr.pid())),
            Err(_) => Err(StartError::Init(exit.await)),
        }
    }
}

impl<S: GenServer> IntoFuture for Start<S> {
    type Output = Result<Client<S>, StartError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// Runs a callback, turning a panic into the server's exit reason.
async fn guarded<T>(fut: impl Future<Output = T>) -> Result<T, ExitReason> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| match poll_catching(|| fut.as_mut().poll(cx)) {
        Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(reason) => Poll::Ready(Err(reason)),
    })
    .await
}

/// The server loop.
async fn serve<S: GenServer>(
    mut server: S,
    mut ctx: ServerCtx<S>,
    parent: Option<Pid>,
    ack: oneshot::Sender<()>,
) -> ExitReason {
    match guarded(server.init(&mut ctx)).await {
        Ok(Ok(())) => {
            let _ = ack.send(());
        }
        // The starter learns the reason from the process's exit.
        Ok(Err(reason)) | Err(reason) => return reason,
    }
    let reason = loop {
        let handled = match ctx.recv().await.into_system() {
            Err(ServerMsg::Call(request, from)) => {
                guarded(server.handle_call(request, from, &mut ctx)).await
            }
            Err(ServerMsg::Cast(msg)) => guarded(server.handle_cast(msg, &mut ctx)).await,
            Err(ServerMsg::Info(info)) => {
                guarded(server.handle_info(Signal::Message(info), &mut ctx)).await
            }
            Err(ServerMsg::Stop(reason)) => Ok(Flow::Stop(reason)),
            Ok(Signal::Exit(exit)) if parent.as_ref() == Some(&exit.from) => {
                Ok(Flow::Stop(exit.reason))
            }
            Ok(system) => guarded(server.handle_info(system, &mut ctx)).await,
        };
        match handled {
            Ok(Flow::Continue) => {}
            Ok(Flow::Stop(reason)) | Err(reason) => break reason,
        }
    };
    if let Err(panic) = guarded(server.terminate(&reason, &mut ctx)).await {
        tracing::error!(server = %ctx.pid(), %panic, "terminate panicked");
    }
    if !reason.is_normal() {
        tracing::error!(server = %ctx.pid(), %reason, "GenServer terminating");
    }
    reason
}
