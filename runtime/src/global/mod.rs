//! Global names (Erlang's `:global`): one name, one process, across the whole cluster.
//!
//! [`Global::register`] gives a name to a process only if no process anywhere in the
//! connected cluster holds it; every node keeps a copy of the table, so
//! [`Global::whereis`] and [`Global::send`] need no round trip.
//!
//! # Guarantees
//!
//! - Among connected nodes a name has at most one owner. Registration takes a lock on the
//!   name on every node (in node-name order, so two racing registrations cannot deadlock)
//!   before committing it everywhere.
//! - A name is freed everywhere when its process ends or its node goes down.
//! - When a partition heals and a name has two owners, a resolver picks one on every node
//!   alike; the other process is exited with a reason that says so. The default keeps the
//!   earlier registration; [`Global::set_resolver`] replaces it (every node must use the
//!   same one).
//!
//! # Failure
//!
//! - [`Global::register`] fails with [`GlobalError::Taken`] naming the owner, and with
//!   [`GlobalError::Busy`] when racing registrations kept the name locked; nothing is
//!   registered anywhere then. A node that goes down during a registration no longer counts:
//!   the name is committed on the nodes still connected.
//! - When an owner's node goes down, every other node frees the names it held.
//! - A partition lets each side register the same name; when it heals, the resolver keeps
//!   one owner and the other process is exited with a reason that names the conflict.
//!
//! # Example
//!
//! ```
//! use locus::{Ctx, Node};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder().start().await?;
//! let p = node.spawn(|mut ctx: Ctx<String>| async move { ctx.recv().await; });
//! node.global().register("singleton", p.pid()).await?;
//! assert_eq!(node.global().whereis("singleton").as_ref(), Some(p.pid()));
//! # Ok(()) }
//! ```
//!
//! # Implementation notes
//!
//! These may change. Each node runs a server registered as `locus.global` that holds the
//! table, grants name locks, monitors the local owners, and on nodeup sends its peer the
//! names its own processes hold.

mod server;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::gen_server::{CallError, Client, GenServer, Start, StartError};
use crate::kernel::{Service, ensure_started};
use crate::node::{Node, NodeName};
use crate::process::{Message, Pid, SendError};

pub(crate) use server::GlobalServer;

/// The name of the server on every node.
const SERVER: &str = "locus.global";
/// How long one step of a registration may take on one node.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a registration retries a name locked by a racing registration.
const LOCK_RETRIES: u32 = 50;

/// A name's owner, and when it was registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Registration {
    /// The owner.
    pub pid: Pid,
    /// Milliseconds since the Unix epoch, on the registering node's clock.
    pub registered_at: u64,
}

/// Which of two owners of one name a resolver keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The first registration given to the resolver.
    First,
    /// The second.
    Second,
}

type Resolver = Arc<dyn Fn(&str, &Registration, &Registration) -> Keep + Send + Sync>;

/// The default resolver: the earlier registration wins (ties go to the smaller pid), so
/// every node decides alike.
pub fn keep_earlier(_name: &str, a: &Registration, b: &Registration) -> Keep {
    if (a.registered_at, &a.pid) <= (b.registered_at, &b.pid) {
        Keep::First
    } else {
        Keep::Second
    }
}

/// A global name operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GlobalError {
    /// Another process holds the name.
    #[error("global name {name:?} is already registered by {holder}")]
    Taken {
        /// The name.
        name: String,
        /// Its owner.
        holder: Pid,
    },
    /// The process already holds another global name.
    #[error("{0} already has a global name")]
    HasName(Pid),
    /// The process is not alive.
    #[error("{0} is not alive")]
    NoProc(Pid),
    /// Racing registrations kept the name locked; try again.
    #[error("global name {0:?} stayed locked by other registrations; try again")]
    Busy(String),
    /// This node's global server could not be reached.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The global server could not start.
    #[error(transparent)]
    Start(#[from] StartError),
}

/// This node's copy of the global table, and its resolver.
pub(crate) struct Table {
    names: RwLock<HashMap<String, Registration>>,
    resolver: RwLock<Resolver>,
}

impl Default for Table {
    fn default() -> Self {
        Self {
            names: RwLock::new(HashMap::new()),
            resolver: RwLock::new(Arc::new(keep_earlier)),
        }
    }
}

/// Global names, from [`Node::global`].
#[derive(Clone)]
pub struct Global {
    node: Node,
}

impl fmt::Debug for Global {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Global")
            .field("node", self.node.name())
            .finish()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_be_bytes(b)
}

impl Node {
    /// Global names across the cluster.
    pub fn global(&self) -> Global {
        Global { node: self.clone() }
    }
}

/// Global names as the kernel boots them: `global.whereis` on every node; the server on
/// distributed nodes (on others it starts at first use).
pub(crate) const SERVICE: Service = Service {
    name: "global names",
    install,
    start: Some(|node| Box::pin(start(node))),
};

fn install(node: &Node) {
    node.rpc_registry()
        .insert("global.whereis", |node: Node, name: String| async move {
            Ok::<_, String>(node.global().whereis(&name))
        });
}

async fn start(node: &Node) -> Result<(), StartError> {
    ensure_started(node, SERVER, || GlobalServer::start_named(node, SERVER)).await
}

impl<S: GenServer, C: From<Client<S>>> Start<S, C> {
    /// Registers the server under a global name before `init` runs (OTP's
    /// `name: {:global, name}`): one server of that name in the whole cluster. If another
    /// process holds it, nothing starts and the error is
    /// [`StartError::AlreadyStarted`] with the holder.
    pub fn register_global(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.before_init(Box::new(move |node: Node, pid: Pid| {
            Box::pin(async move {
                node.global()
                    .register(&name, &pid)
                    .await
                    .map_err(|e| match e {
                        GlobalError::Taken { holder, .. } => StartError::AlreadyStarted(holder),
                        other => StartError::Init(crate::ExitReason::Error(other.to_string())),
                    })
            })
        }))
    }
}

impl Node {
    /// This node's copy of the global names table.
    pub(crate) fn global_table(&self) -> Arc<Table> {
        self.extension::<Table>()
    }
}

impl Global {
    fn table(&self) -> Arc<Table> {
        self.node.global_table()
    }

    fn server(&self, node: &NodeName) -> Client<GlobalServer> {
        Client::new(&self.node, (SERVER, node)).timeout(STEP_TIMEOUT)
    }

    /// The owner of `name`, from this node's copy of the table (Erlang's
    /// `global:whereis_name/1`).
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.table().names.read().get(name).map(|r| r.pid.clone())
    }

    /// Every registered global name, sorted.
    pub fn registered(&self) -> Vec<String> {
        let mut v: Vec<String> = self.table().names.read().keys().cloned().collect();
        v.sort();
        v
    }

    /// Sends `msg` to the owner of `name`, wherever it runs (Erlang's `global:send/2`).
    ///
    /// # Errors
    ///
    /// [`SendError::NoProc`] if no process holds the name; otherwise as
    /// [`Node::send`](crate::Node::send).
    pub fn send<T: Message>(&self, name: &str, msg: T) -> Result<(), SendError<T>> {
        match self.whereis(name) {
            Some(pid) => self.node.send(&pid, msg),
            None => Err(SendError::NoProc(msg)),
        }
    }

    /// Replaces this node's resolver for names with two owners after a partition heals.
    /// Every node must use the same resolver: each applies it on its own.
    pub fn set_resolver(
        &self,
        f: impl Fn(&str, &Registration, &Registration) -> Keep + Send + Sync + 'static,
    ) {
        *self.table().resolver.write() = Arc::new(f);
    }

    /// Registers `pid` under `name` on every connected node, or on none (Erlang's
    /// `global:register_name/2`).
    ///
    /// # Errors
    ///
    /// [`GlobalError::Taken`] names the current owner; [`GlobalError::Busy`] if racing
    /// registrations kept the name locked.
    pub async fn register(&self, name: &str, pid: &Pid) -> Result<(), GlobalError> {
        start(&self.node).await?;
        if let Some(holder) = self.whereis(name) {
            return Err(GlobalError::Taken {
                name: name.to_owned(),
                holder,
            });
        }
        let reg = Registration {
            pid: pid.clone(),
            registered_at: now_ms(),
        };
        for attempt in 0..LOCK_RETRIES {
            let lock = random_u64();
            let mut nodes = self.node.nodes();
            nodes.push(self.node.name().clone());
            nodes.sort();
            let mut locked = Vec::new();
            let mut outcome = Ok(());
            for n in &nodes {
                match self
                    .server(n)
                    .call(server::Request::Lock {
                        name: name.to_owned(),
                        lock,
                    })
                    .await
                {
                    Ok(server::Reply::Granted) => locked.push(n.clone()),
                    Ok(server::Reply::Taken(holder)) => {
                        outcome = Err(GlobalError::Taken {
                            name: name.to_owned(),
                            holder,
                        });
                        break;
                    }
                    Ok(server::Reply::Busy) => {
                        outcome = Err(GlobalError::Busy(name.to_owned()));
                        break;
                    }
                    Ok(_) => {}
                    // A node that cannot be reached is not part of the cluster any more.
                    Err(_) if n != self.node.name() => {}
                    Err(e) => {
                        outcome = Err(e.into());
                        break;
                    }
                }
            }
            match outcome {
                Ok(()) => {
                    let commit = server::Request::Commit {
                        name: name.to_owned(),
                        reg: reg.clone(),
                        lock,
                    };
                    // This node first: if it refuses (the process died, already has a
                    // name, or the name got an owner that the resolver keeps), no other
                    // node has taken the registration, and the locks are let go.
                    let me = self.node.name();
                    if let Ok(server::Reply::Refused(e)) =
                        self.server(me).call(commit.clone()).await
                    {
                        self.release(&locked, name, lock).await;
                        return Err(e.into_error(name, pid));
                    }
                    for n in locked.iter().filter(|n| *n != me) {
                        let _ = self.server(n).call(commit.clone()).await;
                    }
                    return Ok(());
                }
                Err(GlobalError::Busy(_)) => {
                    self.release(&locked, name, lock).await;
                    let backoff = 5 + (random_u64() % 20) * (1 + u64::from(attempt.min(5)));
                    tokio::time::sleep(Duration::from_millis(backoff)).await;
                }
                Err(e) => {
                    self.release(&locked, name, lock).await;
                    return Err(e);
                }
            }
        }
        Err(GlobalError::Busy(name.to_owned()))
    }

    async fn release(&self, nodes: &[NodeName], name: &str, lock: u64) {
        for n in nodes {
            let _ = self
                .server(n)
                .call(server::Request::Release {
                    name: name.to_owned(),
                    lock,
                })
                .await;
        }
    }

    /// Removes `name` everywhere (Erlang's `global:unregister_name/1`).
    ///
    /// # Errors
    ///
    /// [`GlobalError::Call`] if this node's global server is gone.
    pub async fn unregister(&self, name: &str) -> Result<(), GlobalError> {
        start(&self.node).await?;
        let Some(pid) = self.whereis(name) else {
            return Ok(());
        };
        let mut nodes = self.node.nodes();
        nodes.push(self.node.name().clone());
        for n in nodes {
            let _ = self
                .server(&n)
                .call(server::Request::Remove {
                    name: name.to_owned(),
                    pid: pid.clone(),
                })
                .await;
        }
        Ok(())
    }
}

/// Why a node refused to commit a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Refusal {
    NoProc,
    HasName,
    /// The name got an owner between the lock and the commit (a partition healed), and the
    /// resolver keeps that one.
    Taken(Pid),
}

impl Refusal {
    fn into_error(self, name: &str, pid: &Pid) -> GlobalError {
        match self {
            Refusal::NoProc => GlobalError::NoProc(pid.clone()),
            Refusal::HasName => GlobalError::HasName(pid.clone()),
            Refusal::Taken(holder) => GlobalError::Taken {
                name: name.to_owned(),
                holder,
            },
        }
    }
}
