//! Remote procedure calls: functions registered by name on a node, called from any node
//! (Erlang's `:rpc` / `:erpc`).
//!
//! A node registers functions with [`Rpc::register`]: typed arguments in, a typed result or
//! an error out, async. Any node calls them with [`Rpc::call`], fires them with
//! [`Rpc::cast`], or runs one on many nodes at once with [`Rpc::multicall`], which returns
//! each node's result and the nodes that could not answer (`{Results, BadNodes}`).
//!
//! Every node has the built-in functions `node.self` (its name), `node.list` (the nodes
//! it sees), `node.connect` (`Node.connect/1` run there: takes a node name, answers whether
//! the connection is up) and `node.disconnect` (`Node.disconnect/1`); `process.whereis`
//! (a registered name's pid there), `global.whereis` (a global name's owner, as that node
//! sees it) and `pg.members` (a group's members in the default scope, sorted, as that node
//! sees them), and `locus.info` (its [`NodeInfo`](crate::introspect::NodeInfo)).
//!
//! # Failure
//!
//! [`RpcError`] tells apart: no such function, arguments that do not decode, the function's
//! own error, a panic in the function (the node carries on), a result that does not
//! decode, a timeout, and an unreachable node. As with `:erpc`, after a timeout or a lost
//! connection the function may or may not have run, and its result is never delivered late.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use locus::Node;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder().start().await?;
//! node.rpc().register("math.add", |_node, (a, b): (i64, i64)| async move {
//!     Ok::<_, String>(a + b)
//! });
//! let sum: i64 = node.rpc().call(node.name(), "math.add", (2, 3), Duration::from_secs(1)).await?;
//! assert_eq!(sum, 5);
//! # Ok(()) }
//! ```
//!
//! # Implementation notes
//!
//! These may change. Each distributed node runs a server registered as `locus.rpc`; a call
//! is a GenServer call to it, carrying the function's name and the MessagePack-encoded
//! arguments. The server runs each call in its own task, so calls run side by side and a
//! panic costs only that call.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::dist::erlang::{ErlangRpc, RpcFailure};
use crate::etf::{self, Atom, Term};
use crate::gen_server::{
    CallError, Client, Flow, GenServer, RemoteCodec, ReplyHandle, ServerCtx, StartError,
};
use crate::kernel::beam::{Rex, RexRequest};
use crate::kernel::{Service, ensure_started};
use crate::node::{Node, NodeName};
use crate::process::IntoNodeName;
use crate::process::panic_message_of;

/// The name the rpc server is registered under on every distributed node.
pub(crate) const SERVER: &str = "locus.rpc";

/// Why an rpc did not return a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RpcError {
    /// The node has no function of that name.
    #[error("no function {0:?} is registered on that node")]
    NoSuchFunction(String),
    /// The arguments did not decode as the function's argument type.
    #[error("the arguments do not fit the function: {0}")]
    BadArgs(String),
    /// The function returned an error; its text.
    #[error("the function failed: {0}")]
    Failed(String),
    /// The function panicked; the node carries on.
    #[error("the function panicked: {0}")]
    Panicked(String),
    /// The result did not decode as the type the caller asked for.
    #[error("the result does not decode as the expected type: {0}")]
    BadResult(String),
    /// No answer within the timeout. The function may or may not have run.
    #[error("no answer in time (the function may still run)")]
    Timeout,
    /// The node is down or unreachable. The function may or may not have run.
    #[error("node {0} is down or unreachable")]
    NodeDown(NodeName),
    /// The node was named by a string that is no node name; nothing was sent.
    #[error("{0}")]
    BadNodeName(String),
}

impl RpcError {
    /// Whether the node could not be asked or did not answer: what `multicall` counts as a
    /// bad node (Erlang's `BadNodes`).
    pub fn is_bad_node(&self) -> bool {
        matches!(self, RpcError::Timeout | RpcError::NodeDown(_))
    }
}

/// How a call's arguments came, and so how its result goes back: MessagePack from a locus
/// node, an Erlang term (the argument list, no version byte) from a BEAM node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    MsgPack,
    Etf,
}

type Handler = Arc<
    dyn Fn(Node, Encoding, Vec<u8>) -> BoxFuture<'static, Result<Vec<u8>, RpcError>> + Send + Sync,
>;

/// The functions a node offers.
#[derive(Default)]
pub(crate) struct Registry {
    functions: DashMap<String, Handler>,
}

impl Registry {
    pub(crate) fn insert<A, R, E, F, Fut>(&self, name: &str, f: F)
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: Fn(Node, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        let f = Arc::new(f);
        let handler: Handler = Arc::new(move |node: Node, encoding: Encoding, args: Vec<u8>| {
            let f = f.clone();
            Box::pin(async move {
                let args: A = match encoding {
                    Encoding::MsgPack => rmp_serde::from_slice(&args)
                        .map_err(|e| RpcError::BadArgs(e.to_string()))?,
                    Encoding::Etf => erlang_args(&args)?,
                };
                let encode = |r: &R| match encoding {
                    Encoding::MsgPack => rmp_serde::to_vec(r).map_err(|e| e.to_string()),
                    Encoding::Etf => {
                        let mut out = Vec::new();
                        etf::write_term(r, &mut out)
                            .map(|()| out)
                            .map_err(|e| e.to_string())
                    }
                };
                match AssertUnwindSafe(f(node, args)).catch_unwind().await {
                    Ok(Ok(r)) => encode(&r)
                        .map_err(|e| RpcError::Failed(format!("the result does not encode: {e}"))),
                    Ok(Err(e)) => Err(RpcError::Failed(e.to_string())),
                    Err(panic) => Err(RpcError::Panicked(panic_message_of(&*panic))),
                }
            })
        });
        self.functions.insert(name.to_owned(), handler);
    }

    /// Runs a function here; a panic or an error becomes the result, never a crash.
    async fn run(
        &self,
        node: Node,
        function: &str,
        encoding: Encoding,
        args: Vec<u8>,
    ) -> Result<Vec<u8>, RpcError> {
        let handler = self
            .functions
            .get(function)
            .map(|h| h.clone())
            .ok_or_else(|| RpcError::NoSuchFunction(function.to_owned()))?;
        match AssertUnwindSafe(handler(node, encoding, args))
            .catch_unwind()
            .await
        {
            Ok(r) => r,
            Err(panic) => Err(RpcError::Panicked(panic_message_of(&*panic))),
        }
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.functions.iter().map(|e| e.key().clone()).collect();
        v.sort();
        v
    }
}

/// The rpc face of a node: register functions, call them anywhere. From [`Node::rpc`].
#[derive(Clone)]
pub struct Rpc {
    node: Node,
}

impl fmt::Debug for Rpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rpc")
            .field("node", self.node.name())
            .field("functions", &self.node.rpc_registry().names())
            .finish()
    }
}

/// What [`Rpc::multicall`] returns: Erlang's `{Results, BadNodes}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multicall<R> {
    /// Each node that answered, in the order asked, with its result (which may be the
    /// function's error or panic).
    pub results: Vec<(NodeName, Result<R, RpcError>)>,
    /// The nodes that could not be reached or did not answer in time.
    pub bad_nodes: Vec<NodeName>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    function: String,
    #[serde(with = "serde_bytes")]
    args: Vec<u8>,
}

pub(crate) type Reply = Result<serde_bytes::ByteBuf, RpcError>;

/// The server every distributed node runs as `locus.rpc`.
pub(crate) struct RpcServer;

impl GenServer for RpcServer {
    type Call = Request;
    type Reply = Reply;
    type Cast = Request;
    type Info = ();

    fn remote() -> Option<RemoteCodec<Self>> {
        Some(RemoteCodec::serde().named("locus.rpc.call", "locus.rpc.cast", "locus.rpc.info"))
    }

    async fn handle_call(
        &mut self,
        req: Request,
        from: ReplyHandle<Reply>,
        ctx: &mut ServerCtx<Self>,
    ) -> Flow {
        let node = ctx.node().clone();
        tokio::spawn(async move {
            let r = node
                .rpc_registry()
                .run(node.clone(), &req.function, Encoding::MsgPack, req.args)
                .await;
            from.reply(r.map(serde_bytes::ByteBuf::from));
        });
        Flow::Continue
    }

    async fn handle_cast(&mut self, req: Request, ctx: &mut ServerCtx<Self>) -> Flow {
        let node = ctx.node().clone();
        tokio::spawn(async move {
            if let Err(e) = node
                .rpc_registry()
                .run(node.clone(), &req.function, Encoding::MsgPack, req.args)
                .await
            {
                tracing::warn!(function = %req.function, error = %e, "rpc cast failed");
            }
        });
        Flow::Continue
    }
}

/// rpc as the kernel boots it: the built-in functions about the node itself on every node,
/// the server on distributed ones.
pub(crate) const SERVICE: Service = Service {
    name: "the rpc server",
    install: install_builtins,
    start: Some(|node| Box::pin(start(node))),
};

async fn start(node: &Node) -> Result<(), StartError> {
    ensure_started(node, SERVER, || async {
        RpcServer::start(node, RpcServer)
            .register(SERVER)
            .await
            .map(drop)
    })
    .await
}

/// The built-in functions about the node: `node.self`, `node.list`, `node.connect`,
/// `node.disconnect`, `process.whereis`. (Other services add theirs.)
fn install_builtins(node: &Node) {
    // BEAM nodes reach the same functions (`:erpc.call(node, m, f, args)` runs `"m.f"`).
    node.set_extension(Arc::new(ErlangRpc(Arc::new(
        |node: Node, function, args| {
            Box::pin(async move {
                let registry = node.rpc_registry();
                registry
                    .run(node.clone(), &function, Encoding::Etf, args)
                    .await
                    .map_err(|e| match e {
                        RpcError::NoSuchFunction(_) => RpcFailure::Undef,
                        RpcError::BadArgs(why) => RpcFailure::BadArgs(why),
                        other => RpcFailure::Failed(other.to_string()),
                    })
            })
        },
    ))));
    let r = node.rpc_registry();
    r.insert("erlang.node", |node: Node, (): ()| async move {
        // `:erpc.call(node, :erlang, :node, [])`: the node's name, as an atom.
        Atom::new(node.name().as_str()).map_err(|e| e.to_string())
    });
    r.insert("node.self", |node: Node, (): ()| async move {
        Ok::<_, String>(node.name().clone())
    });
    r.insert("node.list", |node: Node, (): ()| async move {
        Ok::<_, String>(node.nodes())
    });
    r.insert("node.connect", |node: Node, peer: NodeName| async move {
        // Node.connect/1: true or false; why it failed is logged on that node.
        Ok::<_, String>(match node.connect(&peer).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "node.connect failed");
                false
            }
        })
    });
    r.insert("node.disconnect", |node: Node, peer: NodeName| async move {
        Ok::<_, String>(node.disconnect(&peer))
    });
    r.insert("process.whereis", |node: Node, name: String| async move {
        Ok::<_, String>(node.whereis(&name))
    });
}

/// The arguments of a call from a BEAM node (its argument list, a term without version
/// byte) as `A`: no arguments as `()`, one as itself (or a 1-tuple), several as a tuple of
/// them, and, failing those, the list itself (for an `A` that is a `Vec`).
fn erlang_args<A: DeserializeOwned>(list: &[u8]) -> Result<A, RpcError> {
    let bad = |e: etf::EtfError| RpcError::BadArgs(e.to_string());
    let elements = match etf::decode_term(list).map_err(bad)? {
        Term::List(items) => items,
        other => {
            return Err(RpcError::BadArgs(format!(
                "the arguments are not a list: {other}"
            )));
        }
    };
    let mut candidates = Vec::with_capacity(3);
    match elements.len() {
        0 => candidates.push(Term::Atom(Atom::new("nil").map_err(bad)?)),
        1 => {
            candidates.push(elements[0].clone());
            candidates.push(Term::Tuple(elements.clone()));
        }
        _ => candidates.push(Term::Tuple(elements.clone())),
    }
    candidates.push(Term::List(elements));
    let mut first_error = None;
    for candidate in &candidates {
        let mut bytes = Vec::new();
        etf::encode_term(candidate, &mut bytes).map_err(bad)?;
        match etf::from_term_bytes::<A>(&bytes) {
            Ok(args) => return Ok(args),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.map_or_else(|| RpcError::BadArgs("no arguments".into()), bad))
}

/// What `rex` is asked to run: `"m.f"` split at its last dot (`"Elixir.String.upcase"` is
/// `String.upcase/1`), the arguments as the list of a tuple's elements.
fn rex_request(op: &str, function: &str, args: Term) -> Result<RexRequest, RpcError> {
    let (module, fun) = function.rsplit_once('.').ok_or_else(|| {
        RpcError::NoSuchFunction(format!(
            "{function} (a BEAM node's functions are named \"module.function\")"
        ))
    })?;
    let atom = |a: &str| Atom::new(a).map_err(|e| RpcError::BadArgs(e.to_string()));
    let list = match args {
        Term::Tuple(items) => items,
        Term::Atom(a) if a.as_str() == "ok" => Vec::new(), // `()`
        Term::List(items) => items,
        other => vec![other],
    };
    Ok((
        atom(op)?,
        atom(module)?,
        atom(fun)?,
        Term::List(list),
        atom("user")?,
    ))
}

/// Arguments as an Erlang term.
fn args_term<A: Serialize + ?Sized>(args: &A) -> Result<Term, String> {
    let encoded = etf::to_vec(args).map_err(|e| e.to_string())?;
    etf::decode(&encoded).map_err(|e| e.to_string())
}

/// A cast's arguments in both forms, encoded at once: which one goes depends on the node,
/// which may be known only once connected.
struct CastArgs {
    msgpack: Result<Vec<u8>, String>,
    term: Result<Term, String>,
}

impl CastArgs {
    fn of<A: Serialize + ?Sized>(args: &A) -> Self {
        Self {
            msgpack: rmp_serde::to_vec(args).map_err(|e| e.to_string()),
            term: args_term(args),
        }
    }
}

/// A node named by the caller, or why it is no node name.
fn node_name(node: impl IntoNodeName) -> Result<NodeName, RpcError> {
    node.into_node_name()
        .map_err(|e| RpcError::BadNodeName(e.to_string()))
}

fn from_call_error(node: &NodeName, e: CallError) -> RpcError {
    match e {
        CallError::Timeout => RpcError::Timeout,
        CallError::BadType(t) => RpcError::BadResult(t),
        // No rpc server there: not a locus node, or not distributed.
        _ => RpcError::NodeDown(node.clone()),
    }
}

impl Node {
    /// The pid registered as `name` on `node` (Erlang's `:rpc.call(node, Process, :whereis,
    /// [name])`), or `None` if nothing is. Works for this node, locus peers and BEAM peers.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// let node = locus::Node::builder().start().await?;
    /// let found = node.whereis_on(node.name(), "nobody", Duration::from_secs(1)).await?;
    /// assert_eq!(found, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`RpcError`] when `node` cannot be asked (down, unreachable, no answer in time).
    pub async fn whereis_on(
        &self,
        node: impl IntoNodeName,
        name: &str,
        timeout: Duration,
    ) -> Result<Option<crate::process::Pid>, RpcError> {
        let node = &node_name(node)?;
        if node == self.name() {
            return Ok(self.whereis(name));
        }
        let rpc = self.rpc();
        if rpc.is_beam(node, timeout).await {
            let atom = Atom::new(name).map_err(|e| RpcError::BadArgs(e.to_string()))?;
            return rpc.call(node, "erlang.whereis", (atom,), timeout).await;
        }
        rpc.call(node, "process.whereis", name.to_owned(), timeout)
            .await
    }
}

impl Rpc {
    /// Registers `f` under `name` (replacing any function of that name). It receives this
    /// node and the decoded arguments; its `Ok` value is sent back, its `Err` becomes
    /// [`RpcError::Failed`] with the error's text.
    pub fn register<A, R, E, F, Fut>(&self, name: &str, f: F)
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: Fn(Node, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        self.node.rpc_registry().insert(name, f);
    }

    /// Removes a function; whether there was one.
    pub fn unregister(&self, name: &str) -> bool {
        self.node.rpc_registry().functions.remove(name).is_some()
    }

    /// The functions this node offers, sorted.
    pub fn functions(&self) -> Vec<String> {
        self.node.rpc_registry().names()
    }

    /// Runs `function` on `node` with `args` and returns its result (Erlang's
    /// `:erpc.call/5`). `node` may be this node.
    ///
    /// # Errors
    ///
    /// See [`RpcError`].
    pub async fn call<A: Serialize, R: DeserializeOwned>(
        &self,
        node: impl IntoNodeName,
        function: &str,
        args: A,
        timeout: Duration,
    ) -> Result<R, RpcError> {
        let node = &node_name(node)?;
        // One deadline for the whole call, connecting included.
        let started = std::time::Instant::now();
        let beam = self.is_beam(node, timeout).await;
        let timeout = timeout.saturating_sub(started.elapsed());
        if beam {
            return self.call_beam(node, function, &args, timeout).await;
        }
        let args = rmp_serde::to_vec(&args).map_err(|e| RpcError::BadArgs(e.to_string()))?;
        let bytes = self.call_raw(node, function, args, timeout).await?;
        rmp_serde::from_slice(&bytes).map_err(|e| RpcError::BadResult(e.to_string()))
    }

    /// Whether `node` is a BEAM node, connecting to it first (within `timeout`) if this
    /// node has no connection to it.
    async fn is_beam(&self, node: &NodeName, timeout: Duration) -> bool {
        if node == self.node.name() || !self.node.speaks_erlang() {
            return false;
        }
        if !self.node.has_route(node) {
            let connect = Box::pin(self.node.connect(node.as_str()));
            let _ = self.node.deadlines().timeout(timeout, connect).await;
        }
        self.node.peer_is_erlang(node)
    }

    /// An rpc to a BEAM node: `rex` runs `module:function(args...)`.
    async fn call_beam<A: Serialize, R: DeserializeOwned>(
        &self,
        node: &NodeName,
        function: &str,
        args: &A,
        timeout: Duration,
    ) -> Result<R, RpcError> {
        let args = args_term(args).map_err(RpcError::BadArgs)?;
        let request = rex_request("call", function, args)?;
        let rex = Client::<Rex>::new(&self.node, ("rex", node));
        let result = match rex.call_timeout(request, timeout).await {
            Ok(term) => term,
            Err(CallError::NoProc) => {
                return Err(RpcError::NoSuchFunction(format!(
                    "{function} ({node} runs no rex server)"
                )));
            }
            Err(e) => return Err(from_call_error(node, e)),
        };
        if let Term::Tuple(t) = &result
            && let [Term::Atom(tag), why] = t.as_slice()
            && tag.as_str() == "badrpc"
        {
            return Err(match why {
                Term::Tuple(e)
                    if matches!(e.as_slice(), [Term::Atom(x), Term::Tuple(u)]
                        if x.as_str() == "EXIT" && u.first().and_then(Term::as_atom) == Some("undef")) =>
                {
                    RpcError::NoSuchFunction(function.to_owned())
                }
                other => RpcError::Failed(other.to_string()),
            });
        }
        let bytes = etf::encode(&result).map_err(|e| RpcError::BadResult(e.to_string()))?;
        etf::from_slice(&bytes).map_err(|e| RpcError::BadResult(e.to_string()))
    }

    pub(crate) async fn call_raw(
        &self,
        node: &NodeName,
        function: &str,
        args: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, RpcError> {
        if node == self.node.name() {
            let registry = self.node.rpc_registry();
            let run = registry.run(self.node.clone(), function, Encoding::MsgPack, args);
            return match self.node.deadlines().timeout(timeout, Box::pin(run)).await {
                Ok(r) => r,
                Err(_) => Err(RpcError::Timeout),
            };
        }
        let server = Client::<RpcServer>::new(&self.node, (SERVER, node));
        let req = Request {
            function: function.to_owned(),
            args,
        };
        match server.call_timeout(req, timeout).await {
            Ok(r) => r.map(serde_bytes::ByteBuf::into_vec),
            Err(e) => Err(from_call_error(node, e)),
        }
    }

    /// Runs `function` on `node` without waiting for it (Erlang's `:erpc.cast/4`). Failures
    /// are logged on that node, not reported.
    pub fn cast<A: Serialize>(&self, node: impl IntoNodeName, function: &str, args: A) {
        let node = match node_name(node) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(%function, error = %e, "rpc cast dropped");
                return;
            }
        };
        let args = CastArgs::of(&args);
        if self.node.speaks_erlang() && &node != self.node.name() && !self.node.has_route(&node) {
            // The node may be a BEAM node, which is known once connected: connect, then cast.
            // (Casts are not ordered among themselves, as `:erpc.cast/4`'s are not.)
            let rpc = self.clone();
            let function = function.to_owned();
            tokio::spawn(async move {
                let _ = rpc.node.connect(&node).await;
                rpc.cast_connected(&node, &function, args);
            });
            return;
        }
        self.cast_connected(&node, function, args);
    }

    /// [`cast`](Self::cast) to a node this node is connected to (or cannot reach).
    fn cast_connected(&self, node: &NodeName, function: &str, args: CastArgs) {
        if self.node.peer_is_erlang(node) {
            let request = args
                .term
                .map_err(RpcError::BadArgs)
                .and_then(|t| rex_request("cast", function, t));
            match request {
                Ok(request) => {
                    let _ = Client::<Rex>::new(&self.node, ("rex", node)).cast(request);
                }
                Err(e) => tracing::warn!(%function, error = %e, "rpc cast to a BEAM node dropped"),
            }
            return;
        }
        let args = match args.msgpack {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(%function, error = %e, "rpc cast arguments do not encode; dropped");
                return;
            }
        };
        let req = Request {
            function: function.to_owned(),
            args,
        };
        if node == self.node.name() {
            let node = self.node.clone();
            tokio::spawn(async move {
                if let Err(e) = node
                    .rpc_registry()
                    .run(node.clone(), &req.function, Encoding::MsgPack, req.args)
                    .await
                {
                    tracing::warn!(function = %req.function, error = %e, "rpc cast failed");
                }
            });
            return;
        }
        let _ = Client::<RpcServer>::new(&self.node, (SERVER, node)).cast(req);
    }

    /// Runs `function` on every node of `nodes` at once and gathers the answers (Erlang's
    /// `:rpc.multicall/5`): results in the order of `nodes`, and the nodes that could not be
    /// reached or timed out.
    pub async fn multicall<A: Serialize, R: DeserializeOwned>(
        &self,
        nodes: &[NodeName],
        function: &str,
        args: A,
        timeout: Duration,
    ) -> Multicall<R> {
        // Each node on its own terms: a locus node in MessagePack, a BEAM node through `rex`.
        let args = &args;
        let calls = nodes.iter().map(|n| async move {
            (
                n.clone(),
                self.call::<&A, R>(n, function, args, timeout).await,
            )
        });
        let mut out = Multicall {
            results: Vec::new(),
            bad_nodes: Vec::new(),
        };
        for (node, r) in futures::future::join_all(calls).await {
            match r {
                Err(e) if e.is_bad_node() => out.bad_nodes.push(node),
                r => out.results.push((node, r)),
            }
        }
        out
    }
}

impl Node {
    /// This node's rpc: register functions, call them on any node.
    pub fn rpc(&self) -> Rpc {
        Rpc { node: self.clone() }
    }

    /// The functions this node offers.
    pub(crate) fn rpc_registry(&self) -> Arc<Registry> {
        self.extension::<Registry>()
    }
}
