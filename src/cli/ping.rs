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
    /// Instead of echoing, answer with the number of casts received so far (benches
    /// measure cast throughput with it).
    #[serde(default)]
    pub(crate) count_casts: bool,
}

/// The answer: who answered, and the payload back.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Pong {
    pub(crate) node: NodeName,
    #[serde(with = "serde_bytes")]
    pub(crate) payload: Vec<u8>,
    /// Casts received so far (when asked).
    #[serde(default)]
    pub(crate) casts: u64,
}

/// Counts the casts it receives.
#[derive(Default)]
pub(crate) struct PingServer {
    casts: u64,
}

impl GenServer for PingServer {
    type Call = Ping;
    type Reply = Pong;
    /// A payload to count and drop.
    type Cast = serde_bytes::ByteBuf;
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
            payload: if ping.count_casts {
                Vec::new()
            } else {
                ping.payload
            },
            casts: self.casts,
        });
        Flow::Continue
    }

    async fn handle_cast(&mut self, _: serde_bytes::ByteBuf, _: &mut ServerCtx<Self>) -> Flow {
        self.casts += 1;
        Flow::Continue
    }
}
