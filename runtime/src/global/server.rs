//! The global server of one node: its copy of the table, name locks, and owner monitors.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{Keep, Refusal, Registration};
use crate::ExitReason;
use crate::gen_server::{Client, Flow, GenServer, RemoteCodec, ReplyHandle, ServerCtx, StartError};
use crate::node::{Node, NodeName};
use crate::process::{MonitorRef, Pid, Signal};

/// A lock not committed within this long is taken back (its registrar died).
const LOCK_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Request {
    Lock {
        name: String,
        lock: u64,
    },
    Release {
        name: String,
        lock: u64,
    },
    Commit {
        name: String,
        reg: Registration,
        lock: u64,
    },
    Remove {
        name: String,
        pid: Pid,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    Granted,
    Busy,
    Taken(Pid),
    Done,
    Refused(Refusal),
}

/// Messages between global servers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum PeerMsg {
    /// The names `node`'s own processes hold.
    Sync {
        node: NodeName,
        names: Vec<(String, Registration)>,
    },
    /// A name's owner ended.
    Removed { name: String, pid: Pid },
}

pub(crate) struct GlobalServer {
    locks: HashMap<String, (u64, Instant)>,
    /// Monitors of local owners: pid → (monitor, name).
    owners: HashMap<Pid, (MonitorRef, String)>,
}

impl GlobalServer {
    pub(crate) async fn start_named(node: &Node, name: &str) -> Result<(), StartError> {
        let server = GlobalServer {
            locks: HashMap::new(),
            owners: HashMap::new(),
        };
        <Self as GenServer>::start(node, server)
            .register(name)
            .await
            .map(|_| ())
    }

    fn tell(node: &Node, peer: &NodeName, msg: PeerMsg) {
        let _ = Client::<Self>::new(node, (super::SERVER, peer)).send(msg);
    }

    fn own_names(node: &Node) -> Vec<(String, Registration)> {
        node.global_table()
            .names
            .read()
            .iter()
            .filter(|(_, r)| node.is_local(&r.pid))
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect()
    }

    /// Records a registration; the owner's node monitors the owner.
    fn insert(&mut self, ctx: &ServerCtx<Self>, name: &str, reg: Registration) {
        let node = ctx.node();
        if node.is_local(&reg.pid) {
            let m = ctx.monitor(&reg.pid);
            self.owners.insert(reg.pid.clone(), (m, name.to_owned()));
        }
        node.global_table()
            .names
            .write()
            .insert(name.to_owned(), reg);
    }

    /// Removes `name` if `pid` still holds it.
    fn remove(&mut self, ctx: &mut ServerCtx<Self>, name: &str, pid: &Pid) {
        let table = ctx.node().global_table();
        let mut names = table.names.write();
        if names.get(name).is_some_and(|r| &r.pid == pid) {
            names.remove(name);
        }
        drop(names);
        if let Some((m, _)) = self.owners.remove(pid) {
            ctx.demonitor(m);
        }
    }

    /// Merges a peer's names into the table, resolving names with two owners.
    fn merge(&mut self, ctx: &mut ServerCtx<Self>, names: Vec<(String, Registration)>) {
        let node = ctx.node().clone();
        let resolver = node.global_table().resolver.read().clone();
        for (name, theirs) in names {
            let mine = node.global_table().names.read().get(&name).cloned();
            match mine {
                None => self.insert(ctx, &name, theirs),
                Some(mine) if mine.pid == theirs.pid => {}
                Some(mine) => {
                    let (winner, loser) = match resolver(&name, &mine, &theirs) {
                        Keep::First => (mine, theirs),
                        Keep::Second => (theirs, mine),
                    };
                    tracing::warn!(%name, winner = %winner.pid, loser = %loser.pid, "global name conflict after a partition");
                    self.remove(ctx, &name, &loser.pid);
                    if node.global_table().names.read().get(&name).is_none() {
                        self.insert(ctx, &name, winner.clone());
                    }
                    if node.is_local(&loser.pid) {
                        node.exit(
                            &loser.pid,
                            ExitReason::Error(format!(
                                "global name conflict: {name:?} is kept by {} after a partition healed",
                                winner.pid
                            )),
                        );
                    }
                }
            }
        }
    }
}

impl GenServer for GlobalServer {
    type Call = Request;
    type Reply = Reply;
    type Cast = ();
    type Info = PeerMsg;

    fn remote() -> Option<RemoteCodec<Self>> {
        Some(RemoteCodec::serde().named(
            "locus.global.call",
            "locus.global.cast",
            "locus.global.peer",
        ))
    }

    async fn init(&mut self, ctx: &mut ServerCtx<Self>) -> Result<(), ExitReason> {
        ctx.monitor_nodes(true);
        Ok(())
    }

    async fn handle_call(
        &mut self,
        req: Request,
        from: ReplyHandle<Reply>,
        ctx: &mut ServerCtx<Self>,
    ) -> Flow {
        let reply = match req {
            Request::Lock { name, lock } => {
                let holder = ctx
                    .node()
                    .global_table()
                    .names
                    .read()
                    .get(&name)
                    .map(|r| r.pid.clone());
                match holder {
                    Some(pid) => Reply::Taken(pid),
                    None => match self.locks.get(&name) {
                        Some((held, since)) if *held != lock && since.elapsed() < LOCK_LIFETIME => {
                            Reply::Busy
                        }
                        _ => {
                            self.locks.insert(name, (lock, Instant::now()));
                            Reply::Granted
                        }
                    },
                }
            }
            Request::Release { name, lock } => {
                if self.locks.get(&name).is_some_and(|(l, _)| *l == lock) {
                    self.locks.remove(&name);
                }
                Reply::Done
            }
            Request::Commit { name, reg, lock } => {
                if self.locks.get(&name).is_some_and(|(l, _)| *l == lock) {
                    self.locks.remove(&name);
                }
                let node = ctx.node();
                if node.is_local(&reg.pid) && !node.is_alive(&reg.pid) {
                    Reply::Refused(Refusal::NoProc)
                } else if node.is_local(&reg.pid) && self.owners.contains_key(&reg.pid) {
                    Reply::Refused(Refusal::HasName)
                } else {
                    self.insert(ctx, &name, reg);
                    Reply::Done
                }
            }
            Request::Remove { name, pid } => {
                self.remove(ctx, &name, &pid);
                Reply::Done
            }
        };
        from.reply(reply);
        Flow::Continue
    }

    async fn handle_info(&mut self, info: Signal<PeerMsg>, ctx: &mut ServerCtx<Self>) -> Flow {
        match info {
            Signal::Message(PeerMsg::Sync { names, .. }) => self.merge(ctx, names),
            Signal::Message(PeerMsg::Removed { name, pid }) => self.remove(ctx, &name, &pid),
            Signal::Down(d) => {
                // A local owner ended: its name is freed everywhere.
                if let Some((_, name)) = self.owners.remove(&d.pid) {
                    self.remove(ctx, &name, &d.pid);
                    for peer in ctx.node().nodes() {
                        Self::tell(
                            ctx.node(),
                            &peer,
                            PeerMsg::Removed {
                                name: name.clone(),
                                pid: d.pid.clone(),
                            },
                        );
                    }
                }
            }
            Signal::NodeUp(peer) => {
                let names = Self::own_names(ctx.node());
                Self::tell(
                    ctx.node(),
                    &peer,
                    PeerMsg::Sync {
                        node: ctx.node().name().clone(),
                        names,
                    },
                );
            }
            Signal::NodeDown(peer, _) => {
                let table = ctx.node().global_table();
                table.names.write().retain(|_, r| r.pid.node() != &peer);
                // Locks of registrations run from that node are let go by their lifetime.
            }
            _ => {}
        }
        Flow::Continue
    }
}
