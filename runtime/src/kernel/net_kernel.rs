//! `net_kernel`: a small server every distributed node runs, answering what other nodes
//! and tools ask about it (`locus ping`, `locus nodes`), as Erlang's `net_kernel` does for
//! `net_adm:ping/1`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::beam;
use crate::etf::{Atom, Term};
use crate::gen_server::{Client, Flow, GenServer, RemoteCodec, ReplyHandle, ServerCtx};
use crate::node::{Node, NodeName};
use crate::process::CallError;
use crate::process::IntoNodeName;

/// The name it is registered under on every distributed node.
pub(crate) const NAME: &str = "net_kernel";

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    Ping,
    Nodes,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    Pong(NodeName),
    Nodes(Vec<NodeName>),
}

pub(crate) struct NetKernel;

impl GenServer for NetKernel {
    type Call = Request;
    type Reply = Reply;
    type Cast = ();
    type Info = ();

    fn remote() -> Option<RemoteCodec<Self>> {
        Some(RemoteCodec::serde().named(
            "locus.net_kernel.call",
            "locus.net_kernel.cast",
            "locus.net_kernel.info",
        ))
    }

    async fn handle_call(
        &mut self,
        req: Request,
        from: ReplyHandle<Reply>,
        ctx: &mut ServerCtx<Self>,
    ) -> Flow {
        from.reply(match req {
            Request::Ping => Reply::Pong(ctx.node().name().clone()),
            Request::Nodes => Reply::Nodes(ctx.node().nodes()),
        });
        Flow::Continue
    }
}

/// How long a ping waits (Erlang's `net_adm:ping` uses the default call timeout too).
const PING_TIMEOUT: Duration = Duration::from_secs(5);

impl Node {
    /// Connects to `peer` and checks that it answers (Erlang's `net_adm:ping/1`): `true` is
    /// `pong`, `false` is `pang`.
    ///
    /// A string that is not a node name is `false` (logged).
    pub async fn ping(&self, peer: impl IntoNodeName) -> bool {
        let peer = match peer.into_node_name() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "ping: not a node name");
                return false;
            }
        };
        let peer = &peer;
        if self.connect(peer).await.is_err() {
            return false;
        }
        if self.peer_is_erlang(peer) {
            // A BEAM node: `net_adm:ping/1`'s own question.
            let (Ok(is_auth), Ok(me)) = (Atom::new("is_auth"), Atom::new(self.name().as_str()))
            else {
                return false;
            };
            let kernel = Client::<beam::NetKernel>::new(self, (NAME, peer));
            return matches!(kernel.call_timeout((is_auth, me), PING_TIMEOUT).await,
                Ok(yes) if yes.as_str() == "yes");
        }
        let kernel = NetKernel::client(self, (NAME, peer)).timeout(PING_TIMEOUT);
        matches!(kernel.call(Request::Ping).await, Ok(Reply::Pong(n)) if &n == peer)
    }

    /// The visible nodes `peer` is connected to, as it sees them (what `locus nodes` prints).
    ///
    /// # Errors
    ///
    /// [`CallError`] if `peer` cannot be reached or does not answer.
    pub async fn nodes_of(&self, peer: &NodeName) -> Result<Vec<NodeName>, CallError> {
        if self.peer_is_erlang(peer) {
            return self.beam_nodes_of(peer).await;
        }
        match NetKernel::client(self, (NAME, peer))
            .call(Request::Nodes)
            .await?
        {
            Reply::Nodes(n) => Ok(n),
            Reply::Pong(_) => Err(CallError::BadType("unexpected reply".into())),
        }
    }

    /// `erlang:nodes()` on a BEAM node, through its `rex`.
    async fn beam_nodes_of(&self, peer: &NodeName) -> Result<Vec<NodeName>, CallError> {
        let atom = |a: &str| Atom::new(a).map_err(|e| CallError::BadType(e.to_string()));
        let request = (
            atom("call")?,
            atom("erlang")?,
            atom("nodes")?,
            Term::List(Vec::new()),
            atom("user")?,
        );
        let answer = Client::<beam::Rex>::new(self, ("rex", peer))
            .call(request)
            .await?;
        let Term::List(names) = answer else {
            return Err(CallError::BadType(format!(
                "erlang:nodes() answered {answer}"
            )));
        };
        let mut nodes: Vec<NodeName> = names
            .iter()
            .filter_map(|t| t.as_atom().and_then(|a| NodeName::new(a).ok()))
            .collect();
        nodes.sort();
        Ok(nodes)
    }
}
