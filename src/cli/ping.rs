//! The `ping` server every `locus node` runs: it answers with its node name and echoes the
//! payload it is sent (what `locus bench` measures), and counts the casts it receives (what
//! the cast benches measure). Its wire names (`locus.ping.*`) are part of the CLI contract.

use locus::{Blob, NodeName, ServerCtx, gen_server};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// The name the server is registered under.
pub(crate) const NAME: &str = "ping";

/// The process group every node's ping server joins.
pub(crate) const GROUP: &str = "locus.nodes";

/// The answer to a ping: who answered, and the payload back.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Pong {
    pub(crate) node: NodeName,
    pub(crate) payload: Blob,
}

#[derive(Default)]
pub(crate) struct PingServer {
    casts: u64,
}

#[gen_server(name = "locus.ping")]
impl PingServer {
    /// Answers with this node's name and the payload.
    #[call]
    fn ping(&mut self, payload: Blob, ctx: &mut ServerCtx<Self>) -> Pong {
        Pong {
            node: ctx.node().name().clone(),
            payload,
        }
    }

    /// How many casts arrived so far.
    #[call]
    fn casts(&mut self) -> u64 {
        self.casts
    }

    /// Counts a cast and drops its payload.
    #[cast]
    fn count(&mut self, payload: ByteBuf) {
        let _ = payload;
        self.casts += 1;
    }
}
