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

    /// Removes `name` if `pid` still holds it (and stops watching `pid` for that name; a
    /// pid's monitor for another name stays).
    fn remove(&mut self, ctx: &mut ServerCtx<Self>, name: &str, pid: &Pid) {
        let table = ctx.node().global_table();
        let mut names = table.names.write();
        if names.get(name).is_some_and(|r| &r.pid == pid) {
            names.remove(name);
        }
        drop(names);
        if self.owners.get(pid).is_some_and(|(_, held)| held == name)
            && let Some((m, _)) = self.owners.remove(pid)
        {
            ctx.demonitor(m);
        }
    }

    /// Commits a registration. The name may have got another owner since it was locked (a
    /// partition healed and a peer's sync brought it): then the resolver decides, as for a
    /// sync, and a registration that loses is refused rather than installed.
    fn commit(&mut self, ctx: &mut ServerCtx<Self>, name: &str, reg: Registration) -> Reply {
        let table = ctx.node().global_table();
        let current = table.names.read().get(name).cloned();
        let resolver = table.resolver.read().clone();
        if let Some(current) = current
            && current.pid != reg.pid
            && resolver(name, &current, &reg) == Keep::First
        {
            return Reply::Refused(Refusal::Taken(current.pid));
        }
        self.merge(ctx, vec![(name.to_owned(), reg)]);
        Reply::Done
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
                let node = ctx.node().clone();
                if node.is_local(&reg.pid) && !node.is_alive(&reg.pid) {
                    Reply::Refused(Refusal::NoProc)
                } else if node.is_local(&reg.pid) && self.owners.contains_key(&reg.pid) {
                    Reply::Refused(Refusal::HasName)
                } else {
                    let reply = self.commit(ctx, &name, reg.clone());
                    if matches!(reply, Reply::Done) && node.is_local(&reg.pid) {
                        // Nodes that connected after the lock was taken did not take part:
                        // they learn the name as from a sync, and resolve a clash alike.
                        for peer in node.nodes() {
                            Self::tell(
                                &node,
                                &peer,
                                PeerMsg::Sync {
                                    node: node.name().clone(),
                                    names: vec![(name.clone(), reg.clone())],
                                },
                            );
                        }
                    }
                    reply
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::node::Ctx;

    fn idle(node: &Node) -> Pid {
        node.spawn(|mut ctx: Ctx<()>| async move {
            ctx.recv().await;
        })
        .pid()
        .clone()
    }

    async fn commit(node: &Node, name: &str, pid: &Pid, registered_at: u64) -> Reply {
        Client::<GlobalServer>::new(node, super::super::SERVER)
            .call(Request::Commit {
                name: name.to_owned(),
                reg: Registration {
                    pid: pid.clone(),
                    registered_at,
                },
                lock: 1,
            })
            .await
            .unwrap()
    }

    /// A pid refused a second name keeps the watch on its first: when it dies, the first
    /// name is freed (a stray removal of the second name does not drop that watch).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_second_name_leaves_the_first_one_watched() {
        let node = Node::builder().start().await.unwrap();
        let p = idle(&node);
        node.global().register("y", &p).await.unwrap();
        assert!(node.global().register("x", &p).await.is_err());
        let reply = Client::<GlobalServer>::new(&node, super::super::SERVER)
            .call(Request::Remove {
                name: "x".to_owned(),
                pid: p.clone(),
            })
            .await
            .unwrap();
        assert!(matches!(reply, Reply::Done));
        assert_eq!(node.global().whereis("y"), Some(p.clone()));
        node.exit(&p, ExitReason::Kill);
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while node.global().whereis("y").is_some() {
            assert!(
                Instant::now() < deadline,
                "y still points at a dead process"
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        node.shutdown().await;
    }

    /// A registration whose commit lands after a healing partition's sync brought the
    /// name another owner is resolved as a sync would be: it used to overwrite the owner
    /// on its own node only, leaving the cluster with two answers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_that_raced_with_a_sync_goes_through_the_resolver() {
        let node = Node::builder().start().await.unwrap();
        let first = idle(&node);
        node.global().register("x", &first).await.unwrap();
        let registered_at = node.global_table().names.read()["x"].registered_at;

        // A later registration loses to the owner in place and is refused, naming it.
        let later = idle(&node);
        let reply = commit(&node, "x", &later, registered_at + 1_000).await;
        assert!(
            matches!(&reply, Reply::Refused(Refusal::Taken(p)) if p == &first),
            "{reply:?}"
        );
        assert_eq!(node.global().whereis("x"), Some(first.clone()));
        assert!(node.is_alive(&later));

        // An earlier one wins: it takes the name and the owner in place is told to go.
        let watch = node.watch(&first);
        let earlier = idle(&node);
        let reply = commit(&node, "x", &earlier, registered_at.saturating_sub(1_000)).await;
        assert!(matches!(reply, Reply::Done), "{reply:?}");
        assert_eq!(node.global().whereis("x"), Some(earlier));
        let reason = tokio::time::timeout(std::time::Duration::from_secs(10), watch)
            .await
            .unwrap();
        assert!(
            reason.to_string().contains("global name conflict"),
            "{reason}"
        );
        node.shutdown().await;
    }
}
