//! The chaos suite: five hosts in network namespaces on a bridge, one `locus node` each
//! (static host list, a probe, a global-name candidate), and a seeded random sequence of
//! kill -9, restart under the same name, link down (partition) and link up (heal), for a
//! bounded time (`LOCUS_CHAOS_SECS`, default 60). After every step, once the cluster has
//! settled, the invariants are checked:
//!
//! - every call returns or fails within its timeout (no `probe late-call`);
//! - per observer and peer, `nodeup` and `nodedown` alternate, starting with `nodeup`
//!   (NodeDown once per lost connection, NodeUp once per new one);
//! - every monitor fires at most once, and exactly once when its connection was lost;
//! - no message to a previous incarnation reaches the new one (`probe stale ... dropped`);
//! - the mesh is complete among the healthy hosts;
//! - the global name has one owner, the same on every healthy node;
//! - the `locus.nodes` process group holds the same members on every healthy node.
//!
//! A failure prints the seed (replay with `LOCUS_CHAOS_SEED=<seed>`) and the event log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use support::netns::Net;
use support::os::OsNode;

const HOSTS: usize = 5;
/// How long the cluster may take to settle after a step: a partitioned peer is declared
/// down after the tick time (2 s); a healed one is reconnected within a connect timeout
/// plus the longest backoff.
const SETTLE: Duration = Duration::from_secs(30);

/// A small seeded generator (xorshift64*): the order of the chaos, replayable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Healthy,
    Down,
    Partitioned,
}

struct Chaos {
    net: Net,
    names: Vec<String>,
    nodes: Vec<Option<OsNode>>,
    /// Lines of incarnations that ended, per host, oldest first.
    past: Vec<Vec<Vec<String>>>,
    state: Vec<State>,
    log: Vec<String>,
    started: Instant,
}

impl Chaos {
    fn new(net: Net) -> Chaos {
        let names: Vec<String> = net
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| format!("n{i}@{}", h.v4))
            .collect();
        let mut chaos = Chaos {
            net,
            names,
            nodes: (0..HOSTS).map(|_| None).collect(),
            past: vec![Vec::new(); HOSTS],
            state: vec![State::Down; HOSTS],
            log: Vec::new(),
            started: Instant::now(),
        };
        for i in 0..HOSTS {
            chaos.start(i);
        }
        chaos
    }

    fn note(&mut self, what: String) {
        self.log.push(format!(
            "{:>7.3}s {what}",
            self.started.elapsed().as_secs_f64()
        ));
    }

    fn start(&mut self, i: usize) {
        let hosts = self.names.join(",");
        let mut cmd = self.net.cmd(i, env!("CARGO_BIN_EXE_locus"));
        cmd.args([
            "node",
            "--name",
            &self.names[i],
            "--cookie",
            "chaos",
            "--strategy",
            "static",
            "--hosts",
            &hosts,
            "--poll-interval",
            "500ms",
            "--tick-time",
            "2",
            "--chaos-probe",
            "--global",
            "chaos.leader",
        ]);
        let mut node = OsNode::spawn(&self.names[i], cmd);
        node.expect(&format!("ready {}", self.names[i]));
        self.nodes[i] = Some(node);
        self.state[i] = State::Healthy;
        self.note(format!("started {}", self.names[i]));
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut node) = self.nodes[i].take() {
            node.kill_9();
            node.drain();
            self.past[i].push(node.seen.clone());
        }
        self.state[i] = State::Down;
        self.note(format!("kill -9 {}", self.names[i]));
    }

    fn link(&mut self, i: usize, up: bool) {
        let port = format!("v{i}");
        let status = std::process::Command::new("ip")
            .args([
                "-n",
                &self.net.switch_ns(),
                "link",
                "set",
                &port,
                if up { "up" } else { "down" },
            ])
            .status()
            .unwrap();
        assert!(status.success());
        self.state[i] = if up {
            State::Healthy
        } else {
            State::Partitioned
        };
        self.note(format!(
            "link {} {}",
            self.names[i],
            if up { "up (heal)" } else { "down (partition)" }
        ));
    }

    /// What node `i` (its current incarnation) believes is up.
    fn view(&mut self, i: usize) -> BTreeSet<String> {
        let mut up = BTreeSet::new();
        if let Some(node) = self.nodes[i].as_mut() {
            node.drain();
            for line in &node.seen {
                if let Some(peer) = line.strip_prefix("nodeup ") {
                    up.insert(peer.to_owned());
                } else if let Some(rest) = line.strip_prefix("nodedown ") {
                    up.remove(rest.split(' ').next().unwrap_or(""));
                }
            }
        }
        up
    }

    /// Whether every node's view is what the states say it should be.
    fn settled(&mut self) -> Result<(), String> {
        let healthy: BTreeSet<String> = (0..HOSTS)
            .filter(|i| self.state[*i] == State::Healthy)
            .map(|i| self.names[i].clone())
            .collect();
        for i in 0..HOSTS {
            let want: BTreeSet<String> = match self.state[i] {
                State::Down => continue,
                State::Partitioned => BTreeSet::new(),
                State::Healthy => healthy
                    .iter()
                    .filter(|n| **n != self.names[i])
                    .cloned()
                    .collect(),
            };
            let view = self.view(i);
            if view != want {
                return Err(format!(
                    "{} sees {view:?}, should see {want:?}",
                    self.names[i]
                ));
            }
        }
        Ok(())
    }

    fn settle(&mut self) -> Result<(), String> {
        let start = Instant::now();
        loop {
            match self.settled() {
                Ok(()) => {
                    self.note(format!("settled after {:?}", start.elapsed()));
                    return Ok(());
                }
                Err(e) if start.elapsed() > SETTLE => return Err(format!("not settled: {e}")),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Every incarnation's lines, current ones included.
    fn all_lines(&mut self) -> Vec<(usize, Vec<String>)> {
        let mut out = Vec::new();
        for i in 0..HOSTS {
            for old in &self.past[i] {
                out.push((i, old.clone()));
            }
            if let Some(node) = self.nodes[i].as_mut() {
                node.drain();
                out.push((i, node.seen.clone()));
            }
        }
        out
    }

    /// The line invariants, giving monitors whose connection was lost a moment to report
    /// (a probe prints its `down` a little after the node prints its `nodedown`).
    fn check_lines(&mut self) -> Result<(), String> {
        let start = Instant::now();
        loop {
            let pending = self.line_invariants()?;
            if pending.is_empty() {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(pending.join("; "));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The invariants that hold line by line in every node's output: an error for a broken
    /// one, or the monitors still owed a `down`.
    fn line_invariants(&mut self) -> Result<Vec<String>, String> {
        let mut pending = Vec::new();
        for (i, lines) in self.all_lines() {
            let me = &self.names[i];
            let mut up: HashMap<&str, bool> = HashMap::new();
            let mut monitors: HashMap<String, (String, usize)> = HashMap::new();
            let mut downs: HashMap<String, usize> = HashMap::new();
            for (at, line) in lines.iter().enumerate() {
                if let Some(peer) = line.strip_prefix("nodeup ") {
                    if up.insert(peer, true) == Some(true) {
                        return Err(format!("{me}: nodeup {peer} twice without a nodedown"));
                    }
                } else if let Some(rest) = line.strip_prefix("nodedown ") {
                    let peer = rest.split(' ').next().unwrap_or("");
                    if up.insert(peer, false) != Some(true) {
                        return Err(format!("{me}: nodedown {peer} without a nodeup before it"));
                    }
                } else if let Some(rest) = line.strip_prefix("probe monitor ") {
                    let mut w = rest.split(' ');
                    let (peer, r) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
                    monitors.insert(r.to_owned(), (peer.to_owned(), at));
                } else if let Some(rest) = line.strip_prefix("probe down ") {
                    let r = rest.split(' ').nth(1).unwrap_or("").to_owned();
                    let n = downs.entry(r.clone()).or_default();
                    *n += 1;
                    if *n > 1 {
                        return Err(format!("{me}: monitor {r} fired twice"));
                    }
                } else if line.starts_with("probe stale ") && line.ends_with("delivered") {
                    return Err(format!(
                        "{me}: a message reached a restarted incarnation: {line}"
                    ));
                } else if line.starts_with("probe late-call ") {
                    return Err(format!("{me}: a call overran its timeout: {line}"));
                }
            }
            // A monitor whose connection was lost after it was set has fired.
            for (r, (peer, at)) in &monitors {
                let lost = lines[*at..]
                    .iter()
                    .any(|l| l.starts_with(&format!("nodedown {peer} ")));
                if lost && !downs.contains_key(r) {
                    pending.push(format!(
                        "{me}: monitor {r} on {peer} did not fire when the connection was lost"
                    ));
                }
            }
        }
        Ok(pending)
    }

    /// `locus rpc` of `function(arg)` on healthy node `i`, from its own host.
    fn rpc(&self, i: usize, function: &str, arg: &str) -> Option<String> {
        let out = self
            .net
            .cmd(i, env!("CARGO_BIN_EXE_locus"))
            .args([
                "rpc",
                &self.names[i],
                function,
                arg,
                "--cookie",
                "chaos",
                "--timeout",
                "3",
            ])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// One global owner and one membership of `locus.nodes` across the healthy nodes.
    fn check_global_and_groups(&mut self) -> Result<(), String> {
        let healthy: Vec<usize> = (0..HOSTS)
            .filter(|i| self.state[*i] == State::Healthy)
            .collect();
        let start = Instant::now();
        loop {
            let owners: BTreeMap<usize, Option<String>> = healthy
                .iter()
                .map(|&i| (i, self.rpc(i, "global.whereis", r#""chaos.leader""#)))
                .collect();
            let groups: BTreeMap<usize, Option<String>> = healthy
                .iter()
                .map(|&i| (i, self.rpc(i, "pg.members", r#""locus.nodes""#)))
                .collect();
            let distinct_owners: BTreeSet<&Option<String>> = owners.values().collect();
            let distinct_groups: BTreeSet<&Option<String>> = groups.values().collect();
            let owner_ok = distinct_owners.len() == 1
                && owners
                    .values()
                    .all(|o| o.as_deref().is_some_and(|s| s != "null"));
            let group_ok = distinct_groups.len() == 1
                && groups.values().all(|g| {
                    g.as_deref()
                        .and_then(|s| serde_json::from_str::<Vec<serde_json::Value>>(s).ok())
                        .is_some_and(|m| m.len() == healthy.len())
                });
            if owner_ok && group_ok {
                self.note(format!(
                    "global and groups agree after {:?}",
                    start.elapsed()
                ));
                return Ok(());
            }
            if start.elapsed() > SETTLE {
                return Err(format!(
                    "global owners {owners:?} / groups {groups:?} did not converge"
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn report(&mut self, seed: u64, failure: &str) -> String {
        let mut text = format!(
            "chaos failed (replay with LOCUS_CHAOS_SEED={seed}): {failure}\n--- steps ---\n"
        );
        for l in &self.log {
            text.push_str(l);
            text.push('\n');
        }
        for (i, lines) in self.all_lines() {
            text.push_str(&format!("--- {} ---\n", self.names[i]));
            for l in lines.iter().filter(|l| !l.starts_with("! ")) {
                text.push_str(l);
                text.push('\n');
            }
        }
        text
    }
}

#[test]
fn five_hosts_keep_their_promises_through_kills_restarts_and_partitions() {
    let Some(net) = Net::new(HOSTS) else { return };
    let seed: u64 = std::env::var("LOCUS_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    let budget = Duration::from_secs(
        std::env::var("LOCUS_CHAOS_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    eprintln!("chaos seed {seed} (replay with LOCUS_CHAOS_SEED={seed}), {budget:?}");
    let mut rng = Rng(seed);
    let mut chaos = Chaos::new(net);
    let outcome = (|| -> Result<usize, String> {
        chaos.settle()?;
        chaos.check_lines()?;
        chaos.check_global_and_groups()?;
        let mut steps = 0;
        // Bounded in count and in time.
        while steps < 200 && chaos.started.elapsed() < budget {
            let i = rng.below(HOSTS);
            let disrupted = (0..HOSTS)
                .filter(|j| chaos.state[*j] != State::Healthy)
                .count();
            match (chaos.state[i], rng.below(3)) {
                // Keep at least three hosts healthy.
                (State::Healthy, _) if disrupted >= 2 => continue,
                (State::Healthy, 0) => {
                    chaos.kill(i);
                    chaos.settle()?;
                    chaos.start(i);
                }
                (State::Healthy, 1) => chaos.kill(i),
                (State::Healthy, _) => chaos.link(i, false),
                (State::Down, _) => chaos.start(i),
                (State::Partitioned, _) => chaos.link(i, true),
            }
            chaos.settle()?;
            chaos.check_lines()?;
            chaos.check_global_and_groups()?;
            steps += 1;
        }
        // Everyone back, and the whole cluster whole again.
        for i in 0..HOSTS {
            match chaos.state[i] {
                State::Down => chaos.start(i),
                State::Partitioned => chaos.link(i, true),
                State::Healthy => {}
            }
        }
        chaos.settle()?;
        chaos.check_lines()?;
        chaos.check_global_and_groups()?;
        Ok(steps)
    })();
    match outcome {
        Ok(steps) => {
            assert!(steps >= 3, "only {steps} chaos steps ran in {budget:?}");
            // What the run exercised, and proof that the checks saw it.
            let lines: Vec<String> = chaos.all_lines().into_iter().flat_map(|(_, l)| l).collect();
            let count = |p: &str| lines.iter().filter(|l| l.starts_with(p)).count();
            let kills = chaos.log.iter().filter(|l| l.contains("kill -9")).count();
            let partitions = chaos
                .log
                .iter()
                .filter(|l| l.contains("(partition)"))
                .count();
            let stale = count("probe stale ");
            eprintln!(
                "chaos: {steps} steps, seed {seed}: {kills} kills, {partitions} partitions, \
                 {} nodedowns, {} monitors fired, {stale} stale-pid checks",
                count("nodedown "),
                count("probe down "),
            );
            if kills > 0 {
                assert!(stale > 0, "restarts happened but no stale-pid check ran");
            }
        }
        Err(e) => panic!("{}", chaos.report(seed, &e)),
    }
}
