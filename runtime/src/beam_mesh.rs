//! Connect-all with BEAM nodes: a locus node learns the nodes its BEAM peers know, and
//! its BEAM peers learn the nodes it knows, as `global` does between BEAM nodes.
//!
//! Locus nodes tell each other of every peer (BEAM ones included) when they connect; a BEAM
//! node runs no such exchange with locus, and locus runs no `global`. So on a node with
//! `erlang_dist` that is not hidden, a process registered as `locus.beam_mesh` asks each
//! BEAM peer for `erlang:nodes()` every [`ROUND`], connects to the nodes it lists, and asks
//! it (`net_kernel:connect_node/1`, once per connection) to connect to this node's other
//! peers. A node that appears behind a BEAM peer is then connected within a round or two.
//!
//! # Failure
//!
//! A peer that does not answer in time is skipped this round. A node that cannot be reached
//! is tried again later and later (1 s, 2 s, ... up to a minute), and at most 16 new
//! connections start per round, whatever a peer lists (its failure is logged once by the
//! connection layer). A locus
//! peer without `erlang_dist` refuses the BEAM node's connection and logs why.
//!
//! # Example
//!
//! ```text
//! iex(e@h)> Node.connect(:"locus@h")   # locus was connected to locus2@h
//! iex(e@h)> Node.list()                # within a round: [:"locus@h", :"locus2@h"]
//! ```

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::etf::Atom;
use crate::gen_server::StartError;
use crate::kernel::{Service, ensure_started};
use crate::node::Ctx;
use crate::node::{Node, NodeName};
use crate::process::SpawnOpts;

/// The name of the meshing process.
const SERVER: &str = "locus.beam_mesh";

/// How often BEAM peers are asked whom they know.
const ROUND: Duration = Duration::from_secs(1);

/// Connect-all with BEAM peers, on distributed nodes with `erlang_dist`.
pub(crate) const SERVICE: Service = Service {
    name: "BEAM meshing",
    install: crate::kernel::nothing_to_install,
    start: Some(|node| Box::pin(start(node))),
};

async fn start(node: &Node) -> Result<(), StartError> {
    if !node.meshes_with_beam() {
        return Ok(());
    }
    ensure_started(node, SERVER, || async {
        node.spawn_opts(SpawnOpts::new().register(SERVER), mesh)
            .map(drop)
            .map_err(StartError::from)
    })
    .await
}

/// At most this many new connections started per round (a peer may list many names).
const DIALS_PER_ROUND: usize = 16;

/// The longest wait before a node that could not be reached is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

async fn mesh(ctx: Ctx<()>) {
    let node = ctx.node().clone();
    // (BEAM peer, node it was asked to connect to), while both are connected.
    let mut told: HashSet<(NodeName, NodeName)> = HashSet::new();
    // Nodes a BEAM peer listed that this node dialled: when to try again, and the next wait.
    let mut tried: HashMap<NodeName, (Instant, Duration)> = HashMap::new();
    loop {
        tokio::time::sleep(ROUND).await;
        let ours = node.nodes();
        told.retain(|(beam, peer)| ours.contains(beam) && ours.contains(peer));
        tried.retain(|name, _| !ours.contains(name));
        let mut dials = 0;
        for beam in ours.iter().filter(|p| node.peer_is_erlang(p)) {
            let theirs: Vec<Atom> = match node.rpc().call(beam, "erlang.nodes", (), ROUND).await {
                Ok(names) => names,
                Err(e) => {
                    tracing::debug!(peer = %beam, error = %e, "a BEAM peer did not list its nodes");
                    continue;
                }
            };
            for name in &theirs {
                let Ok(name) = NodeName::new(name.as_str()) else {
                    continue;
                };
                if &name == node.name() || ours.contains(&name) || node.has_route(&name) {
                    continue;
                }
                let now = Instant::now();
                let due = tried.get(&name).is_none_or(|(at, _)| *at <= now);
                if !due || dials >= DIALS_PER_ROUND {
                    continue;
                }
                dials += 1;
                let wait = tried
                    .get(&name)
                    .map_or(ROUND, |(_, w)| (*w * 2).min(MAX_BACKOFF));
                tried.insert(name.clone(), (now + wait, wait));
                tracing::debug!(peer = %name, via = %beam, "meshing with a BEAM peer's node");
                let node = node.clone();
                tokio::spawn(async move {
                    let _ = node.connect(&name).await;
                });
            }
            for peer in ours.iter().filter(|p| *p != beam) {
                let known = theirs.iter().any(|a| a.as_str() == peer.as_str());
                if !known && told.insert((beam.clone(), peer.clone())) {
                    let Ok(atom) = Atom::new(peer.as_str()) else {
                        continue;
                    };
                    node.rpc().cast(beam, "net_kernel.connect_node", (atom,));
                }
            }
        }
    }
}
