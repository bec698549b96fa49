//! Remote spawn: a node offers kinds of processes by name, and other nodes start them there
//! (Erlang's `Node.spawn/2`, opt-in as in ergo: only registered kinds can be spawned).
//!
//! ```
//! use locus::{Ctx, Node, SpawnRequest};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder().start().await?;
//! // A kind "greeter" whose argument is a name.
//! node.register_kind("greeter", |req: SpawnRequest<String>| {
//!     let who = req.args().clone();
//!     let addr = req.node().spawn_opts(req.opts(), move |mut ctx: Ctx<()>| async move {
//!         ctx.recv().await;
//!         println!("bye, {who}");
//!     })?;
//!     Ok(addr.pid().clone())
//! });
//! let pid = node.spawn_on(node.name(), "greeter", "ann".to_string(), None).await?;
//! assert!(node.is_alive(&pid));
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::kernel::Service;
use crate::node::Ctx;
use crate::node::{Node, NodeName};
use crate::process::{MonitorRef, Pid, SpawnOpts};
use crate::rpc::RpcError;

/// The rpc function that spawns registered kinds.
const SPAWN_FN: &str = "locus.spawn";
/// How long a remote spawn may take.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(5);

/// What a kind's factory gets: the node, the decoded arguments, and the spawn options to
/// use (they carry the link to the requester, when one was asked for).
#[derive(Debug)]
pub struct SpawnRequest<A> {
    node: Node,
    args: A,
    link: Option<Pid>,
}

impl<A> SpawnRequest<A> {
    /// The node to spawn on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The arguments sent by the requester.
    pub fn args(&self) -> &A {
        &self.args
    }

    /// The arguments, by value.
    pub fn into_args(self) -> A {
        self.args
    }

    /// Spawn options linking the new process to the requester if it asked: pass them to
    /// [`Node::spawn_opts`].
    pub fn opts(&self) -> SpawnOpts {
        match &self.link {
            Some(pid) => SpawnOpts::new().link(pid),
            None => SpawnOpts::new(),
        }
    }
}

type Factory = Arc<dyn Fn(&Node, &[u8], Option<Pid>) -> Result<Pid, String> + Send + Sync>;

/// The kinds a node offers.
#[derive(Default)]
pub(crate) struct Kinds {
    factories: DashMap<String, Factory>,
}

#[derive(Serialize, Deserialize)]
struct SpawnArgs {
    kind: String,
    #[serde(with = "serde_bytes")]
    args: Vec<u8>,
    link: Option<Pid>,
}

/// Remote spawn as the kernel boots it: the rpc function that serves remote spawns, on
/// every node.
pub(crate) const SERVICE: Service = Service {
    name: "remote spawn",
    install,
    start: None,
};

fn install(node: &Node) {
    node.rpc_registry()
        .insert(SPAWN_FN, |node: Node, req: SpawnArgs| async move {
            let factory = node
                .kinds()
                .factories
                .get(&req.kind)
                .map(|f| f.clone())
                .ok_or_else(|| {
                    format!(
                        "no process kind {:?} is registered on node {}",
                        req.kind,
                        node.name()
                    )
                })?;
            factory(&node, &req.args, req.link)
        });
}

impl fmt::Debug for Kinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.factories.iter().map(|e| e.key().clone()))
            .finish()
    }
}

impl Node {
    /// Offers a kind of process that other nodes can spawn here with
    /// [`spawn_on`](Self::spawn_on). The factory gets a [`SpawnRequest`] with the decoded
    /// arguments and returns the new process's pid (or why it could not start it).
    pub fn register_kind<A, F>(&self, kind: &str, factory: F)
    where
        A: DeserializeOwned + Send + 'static,
        F: Fn(SpawnRequest<A>) -> Result<Pid, crate::RegisterError> + Send + Sync + 'static,
    {
        let f: Factory = Arc::new(move |node: &Node, bytes: &[u8], link: Option<Pid>| {
            let args: A = rmp_serde::from_slice(bytes)
                .map_err(|e| format!("the arguments do not fit the kind: {e}"))?;
            factory(SpawnRequest {
                node: node.clone(),
                args,
                link,
            })
            .map_err(|e| e.to_string())
        });
        self.kinds().factories.insert(kind.to_owned(), f);
    }

    /// Spawns a process of a registered `kind` on `node` (which may be this one) and returns
    /// its pid. With `link`, the new process is linked to that pid before it runs.
    ///
    /// # Errors
    ///
    /// [`RpcError::Failed`] naming the kind if `node` has no such kind (or its factory
    /// failed); otherwise as [`Rpc::call`](crate::Rpc::call).
    pub async fn spawn_on<A: Serialize>(
        &self,
        node: &NodeName,
        kind: &str,
        args: A,
        link: Option<&Pid>,
    ) -> Result<Pid, RpcError> {
        let args = rmp_serde::to_vec(&args).map_err(|e| RpcError::BadArgs(e.to_string()))?;
        let req = SpawnArgs {
            kind: kind.to_owned(),
            args,
            link: link.cloned(),
        };
        self.rpc().call(node, SPAWN_FN, req, SPAWN_TIMEOUT).await
    }

    fn kinds(&self) -> Arc<Kinds> {
        self.extension::<Kinds>()
    }
}

impl<M: Send + 'static> Ctx<M> {
    /// Spawns a registered `kind` on `node`, linked to this process (Erlang's
    /// `spawn_link/4` on another node).
    ///
    /// # Errors
    ///
    /// As [`Node::spawn_on`].
    pub async fn spawn_link_on<A: Serialize>(
        &self,
        node: &NodeName,
        kind: &str,
        args: A,
    ) -> Result<Pid, RpcError> {
        self.node()
            .spawn_on(node, kind, args, Some(self.pid()))
            .await
    }

    /// Spawns a registered `kind` on `node` and monitors it (Erlang's `spawn_monitor/4` on
    /// another node). If it ends before the monitor is in place, the `Down` says
    /// `NoProc`.
    ///
    /// # Errors
    ///
    /// As [`Node::spawn_on`].
    pub async fn spawn_monitor_on<A: Serialize>(
        &self,
        node: &NodeName,
        kind: &str,
        args: A,
    ) -> Result<(Pid, MonitorRef), RpcError> {
        let pid = self.node().spawn_on(node, kind, args, None).await?;
        let monitor = self.monitor(&pid);
        Ok((pid, monitor))
    }
}
