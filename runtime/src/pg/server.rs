//! The server of one pg scope on one node: the only writer of its membership.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use super::{Membership, PeerMsg, PgEvent, server_name};
use crate::gen_server::{Client, Flow, GenServer, RemoteCodec, ReplyHandle, ServerCtx, StartError};
use crate::node::{Node, NodeName};
use crate::process::{MonitorRef, Pid, Signal};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    Join(String, Pid),
    Leave(String, Pid),
}

pub(crate) struct PgServer {
    scope: String,
    membership: Arc<RwLock<Membership>>,
    /// One monitor per local member process, whatever its number of memberships.
    monitors: HashMap<Pid, MonitorRef>,
}

impl PgServer {
    pub(crate) fn new(scope: String, membership: Arc<RwLock<Membership>>) -> Self {
        Self {
            scope,
            membership,
            monitors: HashMap::new(),
        }
    }

    pub(crate) async fn start_named(
        node: &Node,
        server: Self,
        name: &str,
    ) -> Result<(), StartError> {
        <Self as GenServer>::start(node, server)
            .register(name)
            .await
            .map(|_| ())
    }

    /// Tells the same scope on every connected node.
    fn broadcast(&self, ctx: &ServerCtx<Self>, msg: PeerMsg) {
        for peer in ctx.node().nodes() {
            self.tell(ctx.node(), &peer, msg.clone());
        }
    }

    /// Sends to this scope's server on `peer`, under the scope's wire names.
    fn tell(&self, node: &Node, peer: &NodeName, msg: PeerMsg) {
        let name = server_name(&self.scope);
        let _ = Client::<Self>::new(node, (name.as_str(), peer)).send(msg);
    }

    fn sync_msg(&self, ctx: &ServerCtx<Self>) -> PeerMsg {
        let m = self.membership.read();
        PeerMsg::Sync {
            node: ctx.node().name().clone(),
            groups: m
                .local
                .iter()
                .map(|(g, p)| (g.clone(), p.clone()))
                .collect(),
        }
    }

    /// Removes every membership of a local process that ended.
    fn member_exited(&mut self, pid: &Pid, ctx: &ServerCtx<Self>) {
        self.monitors.remove(pid);
        let mut left = Vec::new();
        {
            let mut m = self.membership.write();
            let groups: Vec<String> = m.local.keys().cloned().collect();
            for g in groups {
                let Some(pids) = m.local.get_mut(&g) else {
                    continue;
                };
                let before = pids.len();
                pids.retain(|p| p != pid);
                let n = before - pids.len();
                if pids.is_empty() {
                    m.local.remove(&g);
                }
                if n > 0 {
                    let gone = vec![pid.clone(); n];
                    m.notify(PgEvent::Left(g.clone(), gone.clone()));
                    left.push((g, gone));
                }
            }
        }
        for (group, pids) in left {
            self.broadcast(
                ctx,
                PeerMsg::Leave {
                    node: ctx.node().name().clone(),
                    group,
                    pids,
                },
            );
        }
    }

    fn peer_msg(&mut self, msg: PeerMsg) {
        let mut m = self.membership.write();
        match msg {
            PeerMsg::Sync { node, groups } => {
                let old = m.remote.remove(&node).unwrap_or_default();
                let new: HashMap<String, Vec<Pid>> = groups.into_iter().collect();
                // Report the difference to subscribers.
                for (g, pids) in &old {
                    let left: Vec<Pid> = pids
                        .iter()
                        .filter(|p| !new.get(g).is_some_and(|n| n.contains(p)))
                        .cloned()
                        .collect();
                    m.notify(PgEvent::Left(g.clone(), left));
                }
                for (g, pids) in &new {
                    let joined: Vec<Pid> = pids
                        .iter()
                        .filter(|p| !old.get(g).is_some_and(|o| o.contains(p)))
                        .cloned()
                        .collect();
                    m.notify(PgEvent::Joined(g.clone(), joined));
                }
                m.remote.insert(node, new);
            }
            PeerMsg::Join { node, group, pids } => {
                m.remote
                    .entry(node)
                    .or_default()
                    .entry(group.clone())
                    .or_default()
                    .extend(pids.iter().cloned());
                m.notify(PgEvent::Joined(group, pids));
            }
            PeerMsg::Leave { node, group, pids } => {
                let mut left = Vec::new();
                if let Some(groups) = m.remote.get_mut(&node)
                    && let Some(members) = groups.get_mut(&group)
                {
                    for p in &pids {
                        if let Some(i) = members.iter().position(|m| m == p) {
                            members.swap_remove(i);
                            left.push(p.clone());
                        }
                    }
                    if members.is_empty() {
                        groups.remove(&group);
                    }
                }
                m.notify(PgEvent::Left(group, left));
            }
        }
    }

    fn node_down(&mut self, node: &NodeName) {
        let mut m = self.membership.write();
        if let Some(groups) = m.remote.remove(node) {
            for (g, pids) in groups {
                m.notify(PgEvent::Left(g, pids));
            }
        }
    }
}

impl GenServer for PgServer {
    type Call = Request;
    type Reply = bool;
    type Cast = ();
    type Info = PeerMsg;

    fn remote() -> Option<RemoteCodec<Self>> {
        Some(RemoteCodec::serde().named("locus.pg.call", "locus.pg.cast", "locus.pg.peer"))
    }

    async fn init(&mut self, ctx: &mut ServerCtx<Self>) -> Result<(), crate::ExitReason> {
        ctx.monitor_nodes(true);
        // Peers already connected learn our (empty) membership and send theirs.
        let msg = self.sync_msg(ctx);
        self.broadcast(ctx, msg);
        Ok(())
    }

    async fn handle_call(
        &mut self,
        req: Request,
        from: ReplyHandle<bool>,
        ctx: &mut ServerCtx<Self>,
    ) -> Flow {
        let me = ctx.node().name().clone();
        match req {
            Request::Join(group, pid) => {
                if !self.monitors.contains_key(&pid) {
                    let r = ctx.monitor(&pid);
                    self.monitors.insert(pid.clone(), r);
                }
                {
                    let mut m = self.membership.write();
                    m.local.entry(group.clone()).or_default().push(pid.clone());
                    m.notify(PgEvent::Joined(group.clone(), vec![pid.clone()]));
                }
                self.broadcast(
                    ctx,
                    PeerMsg::Join {
                        node: me,
                        group,
                        pids: vec![pid],
                    },
                );
                from.reply(true);
            }
            Request::Leave(group, pid) => {
                let left = {
                    let mut m = self.membership.write();
                    let left = match m.local.get_mut(&group) {
                        Some(pids) => match pids.iter().position(|p| *p == pid) {
                            Some(i) => {
                                pids.swap_remove(i);
                                if pids.is_empty() {
                                    m.local.remove(&group);
                                }
                                true
                            }
                            None => false,
                        },
                        None => false,
                    };
                    if left {
                        m.notify(PgEvent::Left(group.clone(), vec![pid.clone()]));
                    }
                    left
                };
                if left {
                    // Still a member elsewhere? Keep the monitor; else drop it.
                    let still = self
                        .membership
                        .read()
                        .local
                        .values()
                        .any(|p| p.contains(&pid));
                    if !still && let Some(r) = self.monitors.remove(&pid) {
                        ctx.demonitor(r);
                    }
                    self.broadcast(
                        ctx,
                        PeerMsg::Leave {
                            node: me,
                            group,
                            pids: vec![pid],
                        },
                    );
                }
                from.reply(left);
            }
        }
        Flow::Continue
    }

    async fn handle_info(&mut self, info: Signal<PeerMsg>, ctx: &mut ServerCtx<Self>) -> Flow {
        match info {
            Signal::Message(msg) => self.peer_msg(msg),
            Signal::Down(d) => self.member_exited(&d.pid, ctx),
            Signal::NodeUp(peer) => {
                let msg = self.sync_msg(ctx);
                self.tell(ctx.node(), &peer, msg);
            }
            Signal::NodeDown(peer, _) => self.node_down(&peer),
            _ => {}
        }
        Flow::Continue
    }
}
