//! The `ping` server every `locus node` runs: it answers with its node name and echoes the
//! payload it is sent (what `locus bench` measures).

use locus::{Flow, GenServer, NodeName, RemoteCodec, ReplyHandle, ServerCtx};
use serde::{Deserialize, Serialize};

/// The name the server is registered under.
pub(crate) const NAME: &str = "ping";

/// A ping, with an optional payload to echo.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Ping {
    #[serde(with = "serde_bytes")]
    pub(crate) payload: Vec<u8>,
}

/// The answer: who answered, and the payload back.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Pong {
    pub(crate) node: NodeName,
    #[serde(with = "serde_bytes")]
    pub(crate) payload: Vec<u8>,
}

pub(crate) struct PingServer;

impl GenServer for PingServer {
    type Call = Ping;
    type Reply = Pong;
    type Cast = ();
    type Info = ();

    fn remote() -> Option<RemoteCodec<Self>> {
        Some(RemoteCodec::serde().named("locus.ping.call", "locus.ping.cast", "locus.ping.info"))
    }

    async fn handle_call(
        &mut self,
        ping: Ping,
        from: ReplyHandle<Pong>,
        ctx: &mut ServerCtx<Self>,
    ) -> Flow {
        from.reply(Pong {
            node: ctx.node().name().clone(),
            payload: ping.payload,
        });
        Flow::Continue
    }
}
