//! Shared by the benches: test servers and machine-state reporting.
#![allow(dead_code, unreachable_pub)]

use locus::{Flow, GenServer, ReplyHandle, ServerCtx};

/// Replies with what it is sent.
pub struct Echo;

impl GenServer for Echo {
    type Call = u64;
    type Reply = u64;
    type Cast = u64;
    type Info = ();

    async fn handle_call(
        &mut self,
        n: u64,
        from: ReplyHandle<u64>,
        _: &mut ServerCtx<Self>,
    ) -> Flow {
        from.reply(n);
        Flow::Continue
    }

    async fn handle_cast(&mut self, _: u64, _: &mut ServerCtx<Self>) -> Flow {
        Flow::Continue
    }
}

/// The 1-minute load average, printed beside every figure: these machines change speed
/// with their neighbours.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Resident memory of this process in bytes.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// The runtime every bench uses: tokio's multi-threaded scheduler, as applications use it.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The `ping` server of `locus node`, as seen from another node: the same handlers, types
/// and wire name as the binary's (`src/cli/ping.rs`), which is the contract.
pub mod ping {
    use locus::{Blob, NodeName, gen_server};
    use serde::{Deserialize, Serialize};
    use serde_bytes::ByteBuf;

    #[derive(Debug, Serialize, Deserialize)]
    pub struct Pong {
        pub node: NodeName,
        pub payload: Blob,
    }

    pub struct PingServer;

    #[gen_server(name = "locus.ping")]
    impl PingServer {
        #[call]
        fn ping(&mut self, payload: Blob) -> Pong {
            unreachable!("runs in the locus binary: {payload:?}")
        }

        #[call]
        fn casts(&mut self) -> u64 {
            unreachable!("runs in the locus binary")
        }

        #[cast]
        fn count(&mut self, payload: ByteBuf) {
            let _ = payload;
        }
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    if sorted.is_empty() {
        return std::time::Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
