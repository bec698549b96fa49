//! Cross-node figures: call latency (32 B, 4 KiB, 64 KiB) and calls per second against a
//! `locus node` in another process, each beside a raw TCP ping-pong floor between two
//! processes measured in the same run, as a ratio, and beside a busy-polling ping-pong (the
//! floor for a transport that never parks); cast throughput; mesh formation time; time from
//! `kill -9` to `nodedown`. The machine's load is printed with every figure.
//!
//! ```text
//! cargo bench --bench dist_harness
//! LOCUS_SPIN_US=0 cargo bench --bench dist_harness      # both nodes park at once
//! LOCUS_BENCH_QUICK=1 cargo bench --bench dist_harness   # smoke run
//! LOCUS_BENCH_ONLY=spin cargo bench --bench dist_harness # one section: calls, casts,
//!                                                        # mesh, nodedown or spin
//! LOCUS_BENCH_PIN=1 cargo bench --bench dist_harness     # this process on CPU 0, the
//!                                                        # other processes on CPU 1
//! ```
//!
//! Pinned (`LOCUS_BENCH_PIN`, with `taskset`), each side of every figure has a core of its
//! own, as two nodes on two machines do: the floors are then also measured between the two
//! cores. Unpinned, the kernel places both processes' threads on either core.
//!
//! The `spin` section prints what the spin costs: the CPU time of each node (caller in this
//! process, callee in its own) while calls come at 0, 100, 1,000 and 10,000 per second
//! (paced by tokio's timer, whose 1 ms steps send the 10,000 as ten back to back each
//! millisecond), with the spin on and off, beside those calls' p50 and p99.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use locus::{Blob, Node, NodeEvent, NodeName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;
use support::ping::{PingServer, PingServerClient};
use support::{free_port, load, percentile, runtime};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const COOKIE: &str = "bench";

fn quick() -> bool {
    std::env::var_os("LOCUS_BENCH_QUICK").is_some()
}

/// Whether this process runs on CPU 0 and the processes it starts on CPU 1.
fn pinned() -> bool {
    std::env::var_os("LOCUS_BENCH_PIN").is_some()
}

/// Puts this process (before it starts any thread) on CPU 0.
fn pin_to_cpu0() {
    let me = std::process::id().to_string();
    let status = Command::new("taskset")
        .args(["-p", "-c", "0", &me])
        .stdout(Stdio::null())
        .status()
        .expect("taskset (util-linux) runs");
    assert!(status.success(), "taskset -p -c 0 {me} failed");
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A process of the `locus` binary, killed when dropped.
struct Locus(Child);

impl Locus {
    /// Runs `locus ARGS` and returns it with the first line it prints.
    fn run(args: &[&str]) -> (Locus, String) {
        Locus::run_with(&[], args)
    }

    /// Like [`run`](Self::run), with `env` set for it (and on CPU 1 when pinned).
    fn run_with(env: &[(&str, &str)], args: &[&str]) -> (Locus, String) {
        let exe = env!("CARGO_BIN_EXE_locus");
        let mut command = if pinned() {
            // `taskset` execs the program: the child is the `locus` process itself.
            let mut c = Command::new("taskset");
            c.args(["-c", "1", exe]);
            c
        } else {
            Command::new(exe)
        };
        let mut child = command
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start locus");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        (Locus(child), line)
    }

    /// A `locus node` named `name`, once it is ready.
    fn node(name: &str, epmd: u16) -> Locus {
        Locus::node_with(name, epmd, &[])
    }

    /// A `locus node` named `name`, with `env` set for it, once it is ready.
    fn node_with(name: &str, epmd: u16, env: &[(&str, &str)]) -> Locus {
        let epmd = epmd.to_string();
        let (node, line) = Locus::run_with(
            env,
            &[
                "node",
                "--name",
                name,
                "--cookie",
                COOKIE,
                "--epmd-port",
                &epmd,
            ],
        );
        assert!(line.starts_with("ready"), "{line}");
        node
    }

    /// This binary's TCP echo server (`__tcp-echo` and `args`) and its port.
    fn echo(args: &[&str]) -> (Locus, u16) {
        let (echo, line) = Locus::run(&[&["__tcp-echo"], args].concat());
        (echo, line.trim().parse().unwrap())
    }
}

impl Drop for Locus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A length-prefixed request of `payload` bytes, as the echo servers take it.
fn echo_request(payload: usize) -> Vec<u8> {
    let mut msg = (payload as u32).to_be_bytes().to_vec();
    msg.extend(std::iter::repeat_n(0xa5u8, payload));
    msg
}

/// The p50 of `rounds` timed round trips, after a tenth as many untimed ones.
async fn p50_of_rounds<F: Future<Output = ()>>(
    rounds: usize,
    mut round: impl FnMut() -> F,
) -> Duration {
    let mut lat = Vec::with_capacity(rounds);
    for i in 0..rounds + rounds / 10 {
        let t = Instant::now();
        round().await;
        if i >= rounds / 10 {
            lat.push(t.elapsed());
        }
    }
    lat.sort();
    percentile(&lat, 0.5)
}

/// p50 of a request/response of `payload` bytes over loopback TCP, to a tokio echo server
/// in another process.
async fn tcp_floor(payload: usize, rounds: usize) -> Duration {
    let (_echo, port) = Locus::echo(&[]);
    let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.set_nodelay(true).unwrap();
    let msg = echo_request(payload);
    let (s, back) = (
        &tokio::sync::Mutex::new(s),
        &tokio::sync::Mutex::new(vec![0u8; msg.len()]),
    );
    let msg = &msg;
    p50_of_rounds(rounds, move || async move {
        let mut s = s.lock().await;
        s.write_all(msg).await.unwrap();
        s.read_exact(&mut back.lock().await).await.unwrap();
    })
    .await
}

/// p50 of the same request/response between two threads that busy-poll non-blocking
/// sockets (`__tcp-echo --spin`): no wake-up is ever paid, the floor for a spinning
/// transport.
fn tcp_spin_floor(payload: usize, rounds: usize) -> Duration {
    use std::io::{ErrorKind, Read, Write};
    let (_echo, port) = Locus::echo(&["--spin"]);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_nonblocking(true).unwrap();
    let msg = echo_request(payload);
    let mut back = vec![0u8; msg.len()];
    let mut round = || {
        let mut at = 0;
        while at < msg.len() {
            match s.write(&msg[at..]) {
                Ok(n) => at += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => panic!("{e}"),
            }
        }
        let mut at = 0;
        while at < back.len() {
            match s.read(&mut back[at..]) {
                Ok(0) => panic!("the echo process left"),
                Ok(n) => at += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => panic!("{e}"),
            }
        }
    };
    // Every round is done by the time its future is made: nothing waits in this executor.
    futures::executor::block_on(p50_of_rounds(rounds, || {
        round();
        std::future::ready(())
    }))
}

/// The payload of a call: a `Blob` shares its bytes, as a `Bytes` does, so each call sends
/// the same buffer without copying it.
fn bytes(payload: &Blob) -> Blob {
    payload.clone()
}

/// Latency percentiles of `calls` calls from `concurrency` tasks, and calls per second.
async fn calls(
    client: &PingServerClient,
    payload: usize,
    calls: usize,
    concurrency: usize,
) -> (Vec<Duration>, f64) {
    let body = Blob::from(vec![0xa5u8; payload]);
    for _ in 0..(calls / 10).clamp(10, 2000) {
        client.ping(bytes(&body)).await.unwrap();
    }
    let per = calls.div_ceil(concurrency);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let client = client.clone();
            // Its own copy: tasks on different threads do not share one reference count.
            let body = Blob::copy_from_slice(&body);
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per);
                for _ in 0..per {
                    let t = Instant::now();
                    client.ping(bytes(&body)).await.unwrap();
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let rate = lat.len() as f64 / start.elapsed().as_secs_f64();
    lat.sort();
    (lat, rate)
}

async fn cast_count(client: &PingServerClient) -> u64 {
    client.casts().await.unwrap()
}

/// Casts of 32 B from `senders` tasks; the rate at which the other node received them.
async fn casts(client: &PingServerClient, senders: usize, total: u64) -> f64 {
    let before = cast_count(client).await;
    let per = total / senders as u64;
    let total = per * senders as u64;
    let start = Instant::now();
    for _ in 0..senders {
        let client = client.clone();
        tokio::spawn(async move {
            let body = serde_bytes::ByteBuf::from(vec![0xa5u8; 32]);
            for i in 0..per {
                let _ = client.count(body.clone()).await;
                if i % 256 == 255 {
                    tokio::task::yield_now().await;
                }
            }
        });
    }
    while cast_count(client).await < before + total {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// Time for `n` fresh nodes, each connecting only to the first, to mesh fully.
async fn mesh(n: usize) -> Duration {
    let epmd = free_port();
    let mut nodes = Vec::new();
    for i in 0..n {
        nodes.push(
            Node::builder()
                .name(format!("m{i}@127.0.0.1"))
                .cookie(COOKIE)
                .epmd_port(epmd)
                .start()
                .await
                .unwrap(),
        );
    }
    let start = Instant::now();
    let seed = nodes[0].name().clone();
    let joins: Vec<_> = nodes[1..]
        .iter()
        .map(|node| {
            let node = node.clone();
            let seed = seed.clone();
            tokio::spawn(async move { node.connect(&seed).await })
        })
        .collect();
    for j in joins {
        j.await.unwrap().unwrap();
    }
    while !nodes.iter().all(|node| node.nodes().len() == n - 1) {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let took = start.elapsed();
    for node in &nodes {
        node.shutdown().await;
    }
    took
}

/// Time from `kill -9` of a connected `locus node` to this node's `nodedown`.
async fn nodedown_after_kill(node: &Node, epmd: u16, round: usize) -> Duration {
    let name = format!("victim{round}@127.0.0.1");
    let mut victim = Locus::node(&name, epmd);
    let peer: NodeName = name.parse().unwrap();
    node.connect(&peer).await.unwrap();
    let mut events = node.node_events();
    let start = Instant::now();
    let _ = victim.0.kill();
    loop {
        match events.recv().await {
            Some(NodeEvent::Down(n, _)) if n == peer => break,
            _ => {}
        }
    }
    let took = start.elapsed();
    let _ = victim.0.wait();
    took
}

/// How `sorted` latencies spread: the share of calls in each band, as one line.
fn histogram(sorted: &[Duration]) -> String {
    const BANDS: [u64; 7] = [10, 20, 50, 100, 200, 500, 1_000];
    let mut line = String::new();
    let mut from = 0usize;
    let mut lower = 0u64;
    for upper in BANDS.into_iter().chain([u64::MAX]) {
        let to = sorted.partition_point(|d| d.as_micros() < u128::from(upper));
        let share = 100.0 * (to - from) as f64 / sorted.len().max(1) as f64;
        let band = if upper == u64::MAX {
            format!("≥{lower}")
        } else {
            format!("{lower}-{upper}")
        };
        line.push_str(&format!("  {band} µs {share:.2} %"));
        (from, lower) = (to, upper);
    }
    line
}

/// The unit of /proc's CPU times (`getconf CLK_TCK`; 100 where it cannot be asked).
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU time (user and system) process `pid` has used so far, from `/proc/PID/stat`.
/// Minor page faults of process `pid` so far: memory touched for the first time (fresh
/// buffers), each a trip into the kernel.
fn minor_faults(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    // minflt is field 10 of the line, 7 after the name.
    rest.split_whitespace().nth(7).unwrap().parse().unwrap()
}

fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces), which ends with ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
}

/// Calls of 32 B at `rate` per second for `span` (none at rate 0), paced by tokio's timer
/// (1 ms steps: above 1,000 a second, several calls leave back to back each millisecond):
/// their latencies, sorted.
async fn paced_calls(client: &PingServerClient, rate: u32, span: Duration) -> Vec<Duration> {
    let body = Blob::from(vec![0xa5u8; 32]);
    let mut lat = Vec::new();
    if rate == 0 {
        tokio::time::sleep(span).await;
        return lat;
    }
    let start = tokio::time::Instant::now();
    let every = Duration::from_secs(1) / rate;
    for i in 0u32.. {
        let at = start + every * i;
        if at - start >= span {
            break;
        }
        tokio::time::sleep_until(at).await;
        let t = Instant::now();
        client.ping(bytes(&body)).await.unwrap();
        lat.push(t.elapsed());
    }
    lat.sort();
    lat
}

/// What the spin costs: for the spin on (the default window) and off, a fresh pair of
/// nodes (a caller in this process, a callee in its own), calls at set rates, and each
/// node's CPU time over the span as a share of one core.
async fn spin_cost(q: bool) {
    let span = Duration::from_secs(if q { 1 } else { 5 });
    // Both nodes get the setting explicitly: the callee would otherwise take a
    // LOCUS_SPIN_US from this process's environment.
    for (label, spin_us) in [("on ", 100u64), ("off", 0)] {
        let epmd = free_port();
        let callee_name = format!("spin_callee_{}@127.0.0.1", label.trim());
        let spin_text = spin_us.to_string();
        let env = [("LOCUS_SPIN_US", spin_text.as_str())];
        let callee = Locus::node_with(&callee_name, epmd, &env);
        let mut builder = Node::builder()
            .name(format!("spin_caller_{}@127.0.0.1", label.trim()))
            .cookie(COOKIE)
            .epmd_port(epmd);
        builder = builder.spin(Duration::from_micros(spin_us));
        let node = builder.start().await.unwrap();
        let peer: NodeName = callee_name.parse().unwrap();
        node.connect(&peer).await.unwrap();
        let client = PingServer::client(&node, ("ping", &peer));
        client.ping(Blob::from_static(&[0; 32])).await.unwrap();
        for rate in [0u32, 100, 1_000, 10_000] {
            let (me, them) = (cpu_time(std::process::id()), cpu_time(callee.0.id()));
            let started = Instant::now();
            let lat = paced_calls(&client, rate, span).await;
            let took = started.elapsed().as_secs_f64();
            let share =
                |before: Duration, now: Duration| 100.0 * (now - before).as_secs_f64() / took;
            let (caller_cpu, callee_cpu) = (
                share(me, cpu_time(std::process::id())),
                share(them, cpu_time(callee.0.id())),
            );
            let lat_text = if lat.is_empty() {
                "          (no calls)          ".to_owned()
            } else {
                format!(
                    "p50 {:>6.1} µs  p99 {:>6.1} µs",
                    us(percentile(&lat, 0.5)),
                    us(percentile(&lat, 0.99))
                )
            };
            println!(
                "spin {label} {rate:>6} calls/s   caller CPU {caller_cpu:>5.1} %   callee CPU {callee_cpu:>5.1} % of a core   {lat_text}   load {}",
                load()
            );
        }
        node.shutdown().await;
        drop(callee);
    }
}

/// Whether the section `name` runs (`LOCUS_BENCH_ONLY` names one, or all run).
/// How many times this runtime's worker threads have parked (gone to sleep) so far: a
/// parked worker that is woken to run a task is a wake-up on the call's path.
fn parks() -> u64 {
    let m = tokio::runtime::Handle::current().metrics();
    (0..m.num_workers()).map(|w| m.worker_park_count(w)).sum()
}

fn section(name: &str) -> bool {
    std::env::var("LOCUS_BENCH_ONLY").map_or(true, |only| only == name)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--exact") {
        return;
    }
    let q = quick();
    if pinned() {
        pin_to_cpu0();
    }
    let rt = runtime();
    rt.block_on(async move {
        tokio::spawn(async move {
            let epmd = free_port();
            let callee_process = Locus::node("callee@127.0.0.1", epmd);
            let callee_pid = callee_process.0.id();
            // The `LOCUS_*` settings (LOCUS_SPIN_US) apply here as to the `locus node` callee.
            let node = locus::config::Config::new()
                .env()
                .node_builder()
                .expect("LOCUS_* settings")
                .name("caller@127.0.0.1")
                .cookie(COOKIE)
                .epmd_port(epmd)
                .start()
                .await
                .unwrap();
            let callee: NodeName = "callee@127.0.0.1".parse().unwrap();
            node.connect(&callee).await.unwrap();
            let client = PingServer::client(&node, ("ping", &callee));
            println!(
                "locus distribution harness ({} mode): calls to a `locus node` in another process{}",
                if q { "quick" } else { "full" },
                if pinned() { "; pinned: this process on CPU 0, the others on CPU 1" } else { "" }
            );

            let n = if q { 2_000 } else { 20_000 };
            for payload in [32usize, 4096, 65536, 8 << 20].into_iter().filter(|_| section("calls")) {
                // 8 MiB calls take milliseconds: fewer of them.
                let n = if payload > 1 << 20 { if q { 20 } else { 300 } } else { n };
                let parked = parks();
                let faults = (minor_faults(std::process::id()), minor_faults(callee_pid));
                let (lat, _) = calls(&client, payload, n, 1).await;
                let per_call = |n: u64| n as f64 / lat.len() as f64;
                let parks_per_call = per_call(parks() - parked);
                let faults_per_call = (
                    per_call(minor_faults(std::process::id()) - faults.0),
                    per_call(minor_faults(callee_pid) - faults.1),
                );
                let floor = tcp_floor(payload, n.min(20_000)).await;
                let spin_floor = tokio::task::spawn_blocking(move || tcp_spin_floor(payload, n.min(20_000)))
                    .await
                    .unwrap();
                println!(
                    "call {:>6} B    p50 {:>7.1} µs  p99 {:>7.1} µs  p99.9 {:>7.1} µs   floor p50 {:>6.1} µs   ratio {:.2}   busy-poll floor {:>5.1} µs   load {}",
                    payload,
                    us(percentile(&lat, 0.5)),
                    us(percentile(&lat, 0.99)),
                    us(percentile(&lat, 0.999)),
                    us(floor),
                    percentile(&lat, 0.5).as_secs_f64() / floor.as_secs_f64(),
                    us(spin_floor),
                    load()
                );
                println!(
                    "    spread:{}   per call: caller's worker parks {parks_per_call:.2}, page faults caller {:.2} callee {:.2}",
                    histogram(&lat),
                    faults_per_call.0,
                    faults_per_call.1
                );
            }
            for conc in [1usize, 8, 64].into_iter().filter(|_| section("calls")) {
                let (lat, rate) = calls(&client, 32, if q { 5_000 } else { 100_000 }, conc).await;
                println!(
                    "calls, {:>2} callers   {:>9.0} calls/s   p50 {:>7.1} µs  p99 {:>7.1} µs  p99.9 {:>7.1} µs   load {}",
                    conc,
                    rate,
                    us(percentile(&lat, 0.5)),
                    us(percentile(&lat, 0.99)),
                    us(percentile(&lat, 0.999)),
                    load()
                );
            }
            for senders in [1usize, 8].into_iter().filter(|_| section("casts")) {
                let rate = casts(&client, senders, if q { 100_000 } else { 4_000_000 }).await;
                println!("casts, {senders} sender{}    {:>9.0} msg/s   load {}", if senders == 1 { " " } else { "s" }, rate, load());
            }
            if section("spin") {
                spin_cost(q).await;
            }
            let meshes = if q { vec![3, 5, 10] } else { vec![3, 5, 10, 50, 100] };
            for n in meshes.into_iter().filter(|_| section("mesh")) {
                let took = mesh(n).await;
                println!("mesh of {n:>3} nodes   {:>7.1} ms (each connects to the first only)   load {}", took.as_secs_f64() * 1e3, load());
            }
            if section("nodedown") {
                let mut downs = Vec::new();
                for round in 0..if q { 3 } else { 10 } {
                    downs.push(nodedown_after_kill(&node, epmd, round).await);
                }
                downs.sort();
                println!(
                    "kill -9 -> nodedown   median {:>5.2} ms   max {:>5.2} ms ({} rounds)   load {}",
                    percentile(&downs, 0.5).as_secs_f64() * 1e3,
                    downs.last().unwrap().as_secs_f64() * 1e3,
                    downs.len(),
                    load()
                );
            }
            node.shutdown().await;
        })
        .await
        .unwrap();
    });
}
