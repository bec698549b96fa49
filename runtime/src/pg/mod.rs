//! Process groups (Erlang's `:pg`): named groups of processes across the cluster.
//!
//! A process joins a group in a scope ([`Pg::join`]); any node reads the members
//! ([`Pg::members`]) from its own copy of the membership, without a round trip. A process
//! may join a group several times and then leaves it as many times.
//!
//! # Guarantees
//!
//! - Each node is the authority for its own members and tells every connected node about
//!   joins and leaves, in order.
//! - A member leaves every group when it exits; all members of a node leave (on the other
//!   nodes) when that node goes down.
//! - When nodes connect (or a partition heals), each sends the other its own members, so the
//!   views converge. In between, views may differ (strong eventual consistency, as `:pg`).
//!
//! # Failure
//!
//! - Joining with a process of another node fails with [`PgError::NotLocal`]: a process
//!   joins on its own node, as in `:pg`.
//! - When a node goes down, its members leave every other node's view as its `NodeDown`
//!   arrives, and subscribers get a [`PgEvent::Left`] for each group they were in.
//! - A scope whose server cannot start fails the call with [`PgError::Start`]; a server
//!   that died is started again by the next call.
//!
//! # Example
//!
//! ```
//! use locus::{Ctx, Node};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder().start().await?;
//! let worker = node.spawn(|mut ctx: Ctx<()>| async move { ctx.recv().await; });
//! node.pg().join("workers", worker.pid()).await?;
//! assert_eq!(node.pg().members("workers"), vec![worker.pid().clone()]);
//! # Ok(()) }
//! ```
//!
//! # Implementation notes
//!
//! These may change. Each scope is a server registered as `locus.pg.<scope>` on every node
//! that uses it; it owns the membership (shared with readers behind a lock), monitors local
//! members and syncs with the same scope on other nodes.

mod server;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::gen_server::{CallError, Client, StartError};
use crate::kernel::{Service, ensure_started};
use crate::node::{Node, NodeName};
use crate::process::Pid;

pub(crate) use server::PgServer;

/// The scope used by [`Node::pg`].
pub(crate) const DEFAULT_SCOPE: &str = "default";

/// A change in a group's membership, from [`Pg::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PgEvent {
    /// These processes joined the group (a process that joins twice appears twice).
    Joined(String, Vec<Pid>),
    /// These processes left the group.
    Left(String, Vec<Pid>),
}

/// A stream of [`PgEvent`]s for one group.
#[derive(Debug)]
pub struct PgEvents {
    rx: mpsc::UnboundedReceiver<PgEvent>,
}

impl PgEvents {
    /// The next change; `None` once the scope has stopped.
    pub async fn recv(&mut self) -> Option<PgEvent> {
        self.rx.recv().await
    }

    /// The next change if one is waiting.
    pub fn try_recv(&mut self) -> Option<PgEvent> {
        self.rx.try_recv().ok()
    }
}

/// A group operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// Only processes of this node can join or leave here (as in `:pg`).
    #[error("{0} is not a process of this node: a process joins groups on its own node")]
    NotLocal(Pid),
    /// The scope's server could not be reached.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The scope's server could not be started.
    #[error(transparent)]
    Start(#[from] StartError),
}

/// One scope's membership as this node sees it. Shared between the scope server (the only
/// writer) and readers.
#[derive(Default)]
pub(crate) struct Membership {
    /// Local members: group → pids (a pid once per join).
    local: HashMap<String, Vec<Pid>>,
    /// Members on other nodes, as those nodes reported them.
    remote: HashMap<NodeName, HashMap<String, Vec<Pid>>>,
    subscribers: HashMap<String, Vec<mpsc::UnboundedSender<PgEvent>>>,
}

impl Membership {
    fn members(&self, group: &str) -> Vec<Pid> {
        let mut out: Vec<Pid> = self.local.get(group).cloned().unwrap_or_default();
        for groups in self.remote.values() {
            if let Some(pids) = groups.get(group) {
                out.extend(pids.iter().cloned());
            }
        }
        out
    }

    fn notify(&mut self, event: PgEvent) {
        let group = match &event {
            PgEvent::Joined(g, p) | PgEvent::Left(g, p) if !p.is_empty() => g.clone(),
            _ => return,
        };
        if let Some(subs) = self.subscribers.get_mut(&group) {
            subs.retain(|tx| tx.send(event.clone()).is_ok());
        }
    }
}

/// The scopes of one node.
#[derive(Default)]
pub(crate) struct Scopes {
    scopes: Mutex<HashMap<String, Arc<RwLock<Membership>>>>,
}

impl Scopes {
    fn get(&self, scope: &str) -> Option<Arc<RwLock<Membership>>> {
        self.scopes.lock().get(scope).cloned()
    }

    fn get_or_create(&self, scope: &str) -> Arc<RwLock<Membership>> {
        self.scopes
            .lock()
            .entry(scope.to_owned())
            .or_default()
            .clone()
    }
}

/// The name of a scope's server.
fn server_name(scope: &str) -> String {
    format!("locus.pg.{scope}")
}

/// Messages between the servers of one scope on different nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum PeerMsg {
    /// All of `node`'s members of the scope, replacing what the receiver knew of them.
    Sync {
        node: NodeName,
        groups: Vec<(String, Vec<Pid>)>,
    },
    Join {
        node: NodeName,
        group: String,
        pids: Vec<Pid>,
    },
    Leave {
        node: NodeName,
        group: String,
        pids: Vec<Pid>,
    },
}

/// A scope of process groups on a node. From [`Node::pg`] or [`Node::pg_scope`].
#[derive(Clone)]
pub struct Pg {
    node: Node,
    scope: String,
}

impl fmt::Debug for Pg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pg")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// The default scope of process groups.
    pub fn pg(&self) -> Pg {
        self.pg_scope(DEFAULT_SCOPE)
    }

    /// A named scope of process groups (Erlang's `pg:start_link(Scope)`): groups of one scope
    /// are independent of other scopes'. Every node that takes part uses the same name.
    pub fn pg_scope(&self, scope: &str) -> Pg {
        Pg {
            node: self.clone(),
            scope: scope.to_owned(),
        }
    }
}

impl Pg {
    /// The scope's membership, its server started on first use.
    async fn ensure(&self) -> Result<Arc<RwLock<Membership>>, PgError> {
        let membership = self.node.pg_scopes().get_or_create(&self.scope);
        let name = server_name(&self.scope);
        ensure_started(&self.node, &name, || {
            let server = PgServer::new(self.scope.clone(), membership.clone());
            PgServer::start_named(&self.node, server, &name)
        })
        .await?;
        Ok(membership)
    }

    fn server(&self) -> Client<PgServer> {
        Client::new(&self.node, server_name(&self.scope))
    }

    /// Adds `pid` (a process of this node) to `group`; joining twice counts twice.
    ///
    /// # Errors
    ///
    /// [`PgError::NotLocal`] for a process of another node.
    pub async fn join(&self, group: &str, pid: &Pid) -> Result<(), PgError> {
        self.ensure().await?;
        if !self.node.is_local(pid) {
            return Err(PgError::NotLocal(pid.clone()));
        }
        self.server()
            .call(server::Request::Join(group.to_owned(), pid.clone()))
            .await?;
        Ok(())
    }

    /// Removes one membership of `pid` in `group`; whether it had one.
    ///
    /// # Errors
    ///
    /// [`PgError::NotLocal`] for a process of another node.
    pub async fn leave(&self, group: &str, pid: &Pid) -> Result<bool, PgError> {
        self.ensure().await?;
        if !self.node.is_local(pid) {
            return Err(PgError::NotLocal(pid.clone()));
        }
        let left = self
            .server()
            .call(server::Request::Leave(group.to_owned(), pid.clone()))
            .await?;
        Ok(left)
    }

    /// Every member of `group` on every node this node is connected to, this node's first.
    pub fn members(&self, group: &str) -> Vec<Pid> {
        self.node
            .pg_scopes()
            .get(&self.scope)
            .map(|m| m.read().members(group))
            .unwrap_or_default()
    }

    /// The members of `group` on this node.
    pub fn local_members(&self, group: &str) -> Vec<Pid> {
        self.node
            .pg_scopes()
            .get(&self.scope)
            .and_then(|m| m.read().local.get(group).cloned())
            .unwrap_or_default()
    }

    /// The groups with at least one member, sorted.
    pub fn which_groups(&self) -> Vec<String> {
        let Some(m) = self.node.pg_scopes().get(&self.scope) else {
            return Vec::new();
        };
        let m = m.read();
        let mut groups: Vec<String> = m
            .local
            .iter()
            .chain(m.remote.values().flat_map(|g| g.iter()))
            .filter(|(_, pids)| !pids.is_empty())
            .map(|(g, _)| g.clone())
            .collect();
        groups.sort();
        groups.dedup();
        groups
    }

    /// Changes to `group`'s membership from now on (Erlang's `pg:monitor/2`), and its members
    /// now.
    ///
    /// # Errors
    ///
    /// [`PgError::Start`] if the scope's server cannot start.
    pub async fn subscribe(&self, group: &str) -> Result<(Vec<Pid>, PgEvents), PgError> {
        let membership = self.ensure().await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut m = membership.write();
        m.subscribers.entry(group.to_owned()).or_default().push(tx);
        Ok((m.members(group), PgEvents { rx }))
    }
}

/// Process groups as the kernel boots them: `pg.members` on every node; the default
/// scope's server on distributed ones, so it syncs with peers from the start (other scopes
/// start on first use).
pub(crate) const SERVICE: Service = Service {
    name: "process groups",
    install,
    start: Some(|node| Box::pin(start_scope(node, DEFAULT_SCOPE))),
};

fn install(node: &Node) {
    node.rpc_registry()
        .insert("pg.members", |node: Node, group: String| async move {
            let mut members = node.pg().members(&group);
            members.sort();
            Ok::<_, String>(members)
        });
}

/// Starts a scope's server now (it also starts on first use).
pub(crate) async fn start_scope(node: &Node, scope: &str) -> Result<(), StartError> {
    match node.pg_scope(scope).ensure().await {
        Ok(_) => Ok(()),
        Err(PgError::Start(e)) => Err(e),
        Err(other) => Err(StartError::Init(crate::ExitReason::Error(
            other.to_string(),
        ))),
    }
}

impl Node {
    /// The process group scopes of this node.
    fn pg_scopes(&self) -> Arc<Scopes> {
        self.extension::<Scopes>()
    }
}
