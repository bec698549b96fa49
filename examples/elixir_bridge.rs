//! A locus node in an Elixir cluster: it speaks Erlang distribution (`erlang_dist`), so
//! `iex` sees it as one more node.
//!
//! ```text
//! cargo run --example elixir_bridge -- --name locus@127.0.0.1 --cookie c
//! iex --name e@127.0.0.1 --cookie c
//! ```
//!
//! What it offers the Elixir side:
//! - `ping`, a `#[gen_server]`: `GenServer.call({:ping, :"locus@127.0.0.1"}, {:ping, "hi"})`
//!   answers `{:pong, {:ping, "hi"}}`; `GenServer.cast(.., {:note, "x"})` prints `--- note x`.
//! - `sink`, a plain process: `send({:sink, :"locus@127.0.0.1"}, {:hello, self()})` gets
//!   `{:hello, sink_pid}` back.
//! - `math.add`, an rpc function: `:rpc.call(:"locus@127.0.0.1", :math, :add, [1, 2])` is `3`.
//!
//! And at its prompt:
//! - `nodes`: `Node.list` as locus sees it (BEAM and locus nodes alike).
//! - `connect NODE`: `Node.connect/1`.
//! - `ping NODE TEXT`: calls `ping` on `NODE` (this example on a locus node, or an Elixir
//!   GenServer registered as `:ping` that answers the same) and prints the answer.
//! - `echo NODE TEXT`: calls the Elixir GenServer registered as `Echo` on `NODE` with
//!   `{:echo, TEXT}` and prints its reply (see README, "Locus in an Elixir cluster").
//! - `upcase NODE TEXT`: `String.upcase(TEXT)` run on `NODE` through rpc.
//! - `bench NODE CALLS BYTES`: call latency to `NODE`'s `ping` (p50 and p99, µs).
//! - `rate NODE CALLERS SECONDS`: calls per second to `NODE`'s `ping` from `CALLERS` tasks.
//! - `casts NODE COUNT`: casts per second to `NODE`'s `ping` from one sender.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use clap::Parser;
use locus::{Client, Ctx, GenServer, Node, NodeName, Pid, RemoteCodec, Signal, gen_server};
use serde::{Deserialize, Serialize};

/// What `ping` echoes: `{:ping, text}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Said {
    Ping(String),
}

/// `ping`'s answer: `{:pong, {:ping, text}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Pong(Said),
}

/// The ping server: how many `count` casts it has had.
#[derive(Default)]
struct Ping {
    counted: u64,
}

#[gen_server]
impl Ping {
    /// `GenServer.call(ping, {:ping, text})`.
    #[call]
    fn ping(&mut self, text: String) -> Answer {
        Answer::Pong(Said::Ping(text))
    }

    /// `GenServer.cast(ping, {:note, text})`: printed.
    #[cast]
    fn note(&mut self, text: String) {
        println!("--- note {text}");
    }

    /// `GenServer.cast(ping, {:count, payload})`: counted (for `benches/beam_side_by_side.sh`).
    #[cast]
    fn count(&mut self, _payload: serde_bytes::ByteBuf) {
        self.counted += 1;
    }

    /// `GenServer.call(ping, :counted)`: the casts counted so far.
    #[call]
    fn counted(&mut self) -> u64 {
        self.counted
    }
}

/// What `sink` takes: `{:hello, pid}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Greeting {
    Hello(Pid),
}

/// Answers each `{:hello, pid}` with `{:hello, own_pid}`.
async fn sink(mut ctx: Ctx<Greeting>) {
    loop {
        if let Signal::Message(Greeting::Hello(from)) = ctx.recv().await {
            println!("--- hello from {from}");
            let _ = ctx.send(from, Greeting::Hello(ctx.pid().clone()));
        }
    }
}

/// An Elixir GenServer as locus calls it: `Echo` answers `{:echo, text}` with `text`.
struct ElixirEcho;

/// `{:echo, text}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum EchoCall {
    Echo(String),
}

impl GenServer for ElixirEcho {
    type Call = EchoCall;
    type Reply = String;
    type Cast = ();
    type Info = ();

    fn remote() -> Option<RemoteCodec<Self>> {
        Some(RemoteCodec::serde())
    }
}

async fn command(node: &Node, words: &[&str]) -> String {
    let timeout = Duration::from_secs(5);
    let peer = |n: &str| n.parse::<NodeName>().map_err(|e| e.to_string());
    match words {
        ["nodes"] => {
            let names: Vec<String> = node.nodes().iter().map(ToString::to_string).collect();
            format!("nodes [{}]", names.join(", "))
        }
        ["connect", n] => match node.connect(n).await {
            Ok(()) => format!("connected {n}"),
            Err(e) => format!("cannot connect {n}: {e}"),
        },
        ["ping", n, text @ ..] => match peer(n) {
            // Any node's `ping`: this example's on a locus node, or an Elixir one.
            Ok(n) => match Ping::client(node, ("ping", &n)).ping(text.join(" ")).await {
                Ok(Answer::Pong(Said::Ping(t))) => format!("ping {{:pong, {{:ping, {t:?}}}}}"),
                Err(e) => format!("ping failed: {e}"),
            },
            Err(e) => e,
        },
        ["echo", n, text @ ..] => match peer(n) {
            Ok(n) => {
                let echo = Client::<ElixirEcho>::new(node, ("Elixir.Echo", &n));
                match echo
                    .call_timeout(EchoCall::Echo(text.join(" ")), timeout)
                    .await
                {
                    Ok(reply) => format!("echo {reply}"),
                    Err(e) => format!("echo failed: {e}"),
                }
            }
            Err(e) => e,
        },
        ["upcase", n, text @ ..] => match peer(n) {
            Ok(n) => {
                let r: Result<String, _> = node
                    .rpc()
                    .call(&n, "Elixir.String.upcase", (text.join(" "),), timeout)
                    .await;
                match r {
                    Ok(s) => format!("upcase {s}"),
                    Err(e) => format!("upcase failed: {e}"),
                }
            }
            Err(e) => e,
        },
        ["bench", n, calls, size] => match (peer(n), calls.parse(), size.parse()) {
            (Ok(n), Ok(calls), Ok(size)) => bench(node, &n, calls, size).await,
            _ => "usage: bench NODE CALLS BYTES".into(),
        },
        ["rate", n, callers, secs] => match (peer(n), callers.parse(), secs.parse()) {
            (Ok(n), Ok(callers), Ok(secs)) => rate(node, &n, callers, secs).await,
            _ => "usage: rate NODE CALLERS SECONDS".into(),
        },
        ["casts", n, count] => match (peer(n), count.parse()) {
            (Ok(n), Ok(count)) => casts(node, &n, count).await,
            _ => "usage: casts NODE COUNT".into(),
        },
        _ => "commands: nodes | connect NODE | ping NODE TEXT | echo NODE TEXT | upcase NODE TEXT \
              | bench NODE CALLS BYTES | rate NODE CALLERS SECONDS | casts NODE COUNT"
            .into(),
    }
}

/// `bench NODE CALLS BYTES`: calls `ping` on NODE with a BYTES-long text, one after the
/// other, and prints the latency's p50 and p99 in microseconds.
async fn bench(node: &Node, peer: &NodeName, calls: usize, size: usize) -> String {
    let ping = Ping::client(node, ("ping", peer));
    let text = "x".repeat(size);
    let mut took = Vec::with_capacity(calls);
    for i in 0..calls.max(1) + calls / 10 {
        let start = std::time::Instant::now();
        if let Err(e) = ping.ping(text.clone()).await {
            return format!("bench failed: {e}");
        }
        // The first tenth warms up.
        if i >= calls / 10 {
            took.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    took.sort_by(f64::total_cmp);
    let at = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)];
    format!("bench p50={:.1} p99={:.1}", at(0.5), at(0.99))
}

/// `rate NODE CALLERS SECONDS`: `CALLERS` tasks call `ping` on NODE with 32 bytes, each
/// one call after the other, for `SECONDS`; prints the calls per second.
async fn rate(node: &Node, peer: &NodeName, callers: usize, secs: u64) -> String {
    let ping = Ping::client(node, ("ping", peer));
    let until = std::time::Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..callers.max(1))
        .map(|_| {
            let ping = ping.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                while std::time::Instant::now() < until {
                    ping.ping("x".repeat(32)).await?;
                    done += 1;
                }
                Ok::<u64, locus::CallError>(done)
            })
        })
        .collect();
    let mut total = 0;
    let mut failed = None;
    for task in tasks {
        match task.await {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => failed = Some(e.to_string()),
            Err(e) => failed = Some(e.to_string()),
        }
    }
    // Every task has ended (each stops at `until`) before the next command runs.
    if let Some(e) = failed {
        return format!("rate failed: {e}");
    }
    format!("rate calls_per_s={:.0}", total as f64 / secs.max(1) as f64)
}

/// `casts NODE COUNT`: casts `COUNT` `{:count, 32 bytes}` to `ping` on NODE from one
/// sender, then asks it (`:counted`) until all have been handled; prints casts per second.
async fn casts(node: &Node, peer: &NodeName, count: u64) -> String {
    let ping = Ping::client(node, ("ping", peer));
    let before = match ping.counted().await {
        Ok(n) => n,
        Err(e) => return format!("casts failed: {e}"),
    };
    let start = std::time::Instant::now();
    let payload = serde_bytes::ByteBuf::from(vec![b'x'; 32]);
    for i in 0..count {
        if let Err(e) = ping.count(payload.clone()).await {
            return format!("casts failed: {e}");
        }
        if i % 256 == 255 {
            tokio::task::yield_now().await;
        }
    }
    // One sender's casts arrive in order: the count answers once all have been handled
    // (or, if some were dropped on the way, never: hence the deadline).
    let deadline = start + Duration::from_secs(120);
    loop {
        match ping.counted().await {
            Ok(n) if n >= before + count => break,
            Ok(n) if std::time::Instant::now() > deadline => {
                return format!("casts failed: {} of {count} arrived", n - before);
            }
            Ok(_) => {}
            Err(e) => return format!("casts failed: {e}"),
        }
    }
    format!(
        "casts casts_per_s={:.0}",
        count as f64 / start.elapsed().as_secs_f64()
    )
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    node: common::NodeOpts,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // This example is the bridge: Erlang distribution is on unless the settings say off.
    let prepared = common::prepare_with(&args.node, &[("erlang_dist", "true")]).await?;
    let node = prepared.node.clone();
    Ping::start(&node, Ping::default()).register("ping").await?;
    let sink = node.spawn(sink);
    node.register("sink", sink.pid())?;
    node.rpc()
        .register("math.add", |_node: Node, (a, b): (i64, i64)| async move {
            Ok::<_, String>(a + b)
        });
    let _cluster = prepared.join().await?;
    println!("ready {}", node.name());
    common::commands(|words| {
        let node = &node;
        async move {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            println!("{}", command(node, &words).await);
        }
    })
    .await;
    node.shutdown().await;
    Ok(())
}
