//! What `locus node` adds for the chaos tests (hidden flags): a probe that watches the
//! cluster's promises from inside one node and prints what it sees, one line each, and a
//! candidate for a global name.
//!
//! Probe lines (all start with `probe `):
//! - `probe monitor PEER REF`: a monitor on PEER's `ping` server was set;
//! - `probe down PEER REF REASON`: that monitor fired (each must fire exactly once);
//! - `probe stale PEER dropped|delivered`: a message to PEER's previous incarnation was
//!   dropped (as it must be) or reached the new one;
//! - `probe late-call PEER MS`: a call took longer than its timeout allows.
//!
//! Candidate lines: `global NAME held|watching PID`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use locus::{Ctx, Node, NodeName, Pid, Signal, StartError};

use super::ping::PingServer;
use super::say;

/// How long a probe call may take before it is reported late: its timeout plus generous
/// scheduling slack for a loaded machine.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);
const LATE_AFTER: Duration = Duration::from_secs(4);

/// Starts the probe process.
pub(crate) fn start(node: &Node) {
    let n = node.clone();
    node.spawn(move |ctx: Ctx<()>| probe(n, ctx));
}

async fn probe(node: Node, mut ctx: Ctx<()>) {
    ctx.monitor_nodes(true);
    // The ping server seen for each peer, to aim at its previous incarnation after a restart.
    let mut last_seen: HashMap<NodeName, Pid> = HashMap::new();
    let mut monitors: HashMap<locus::MonitorRef, NodeName> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            signal = ctx.recv() => match signal {
                Signal::NodeUp(peer) => {
                    let Some(pid) = whereis_ping(&node, &peer).await else { continue };
                    if let Some(old) = last_seen.insert(peer.clone(), pid.clone())
                        && old != pid
                    {
                        let verdict = stale_check(&node, &old, &pid).await;
                        say(format!("probe stale {peer} {verdict}"));
                    }
                    let r = ctx.monitor(&pid);
                    monitors.insert(r, peer.clone());
                    say(format!("probe monitor {peer} {r}"));
                }
                Signal::Down(d) => {
                    let peer = monitors
                        .remove(&d.monitor)
                        .map_or_else(|| d.pid.node().to_string(), |p| p.to_string());
                    say(format!("probe down {peer} {} {}", d.monitor, d.reason));
                }
                _ => {}
            },
            _ = tick.tick() => {
                for peer in node.nodes() {
                    let started = Instant::now();
                    let client = PingServer::client(&node, ("ping", &peer)).timeout(CALL_TIMEOUT);
                    let _ = client.ping(locus::Blob::new()).await;
                    let took = started.elapsed();
                    if took > LATE_AFTER {
                        say(format!("probe late-call {peer} {}", took.as_millis()));
                    }
                }
            }
        }
    }
}

/// PEER's `ping` server, asked through rpc.
async fn whereis_ping(node: &Node, peer: &NodeName) -> Option<Pid> {
    node.rpc()
        .call::<_, Option<Pid>>(peer, "process.whereis", "ping", Duration::from_secs(2))
        .await
        .ok()
        .flatten()
}

/// Sends a cast to the previous incarnation `old` and checks that the new one, `new`, did
/// not count it (a call to `new` afterwards is ordered after the cast on the connection).
async fn stale_check(node: &Node, old: &Pid, new: &Pid) -> &'static str {
    let current = PingServer::client(node, new.clone()).timeout(Duration::from_secs(2));
    let Ok(before) = current.casts().await else {
        return "unknown";
    };
    let _ = PingServer::client(node, old.clone())
        .count(serde_bytes::ByteBuf::from(b"stale".to_vec()))
        .await;
    match current.casts().await {
        Ok(after) if after == before => "dropped",
        Ok(_) => "delivered",
        Err(_) => "unknown",
    }
}

/// Holds the global name `name` with a process of this node, or watches the holder and
/// tries again when it goes (the periodic singleton's pattern).
pub(crate) fn global_candidate(node: &Node, name: String) {
    let n = node.clone();
    node.spawn(move |mut ctx: Ctx<()>| async move {
        loop {
            let holder = match PingServer::start(&n, PingServer::default())
                .register_global(name.clone())
                .await
            {
                Ok(client) => {
                    let Some(pid) = client.pid() else { return };
                    say(format!("global {name} held {pid}"));
                    pid
                }
                Err(StartError::AlreadyStarted(holder)) => {
                    say(format!("global {name} watching {holder}"));
                    holder
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            ctx.monitor(&holder);
            loop {
                if let Signal::Down(d) = ctx.recv().await
                    && d.pid == holder
                {
                    break;
                }
            }
            // Let global see the holder go before trying again.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}
