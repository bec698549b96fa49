//! `net_kernel`: a small server every distributed node runs, answering what other nodes
//! and tools ask about it (`locus ping`, `locus nodes`), as Erlang's `net_kernel` does for
//! `net_adm:ping/1`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::gen_server::{Flow, GenServer, RemoteCodec, ReplyHandle, ServerCtx};
use crate::node::{Node, NodeName};
use crate::process::CallError;

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
    pub async fn ping(&self, peer: &NodeName) -> bool {
        if self.connect(peer).await.is_err() {
            return false;
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
        match NetKernel::client(self, (NAME, peer))
            .call(Request::Nodes)
            .await?
        {
            Reply::Nodes(n) => Ok(n),
            Reply::Pong(_) => Err(CallError::BadType("unexpected reply".into())),
        }
    }
}
