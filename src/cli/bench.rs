//! `locus bench`: call a node's `ping` server and compare with a raw TCP ping-pong between
//! two processes of this machine, measured in the same run (a ratio holds on a noisy
//! machine where absolute times drift).

use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Args;
use locus::{Node, NodeName};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::ping::{NAME, PingServer};
use super::{Common, say, tool_node};

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// The node whose `ping` server to call.
    node: String,
    /// Payload bytes per call (echoed back).
    #[arg(long, default_value_t = 32)]
    payload: usize,
    /// Number of measured calls.
    #[arg(long, default_value_t = 10_000)]
    calls: usize,
    /// Callers running at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Instead of calls: send this many 32 B casts from one sender and print casts/s (as
    /// the node's ping server counted them).
    #[arg(long)]
    casts: Option<u64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

/// The figures of one run.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) p999: Duration,
    pub(crate) calls_per_sec: f64,
    pub(crate) floor_p50: Duration,
}

impl Report {
    pub(crate) fn ratio(&self) -> f64 {
        self.p50.as_secs_f64() / self.floor_p50.as_secs_f64().max(1e-9)
    }
}

pub(crate) fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub(crate) async fn run(args: BenchArgs) -> Result<(), String> {
    if args.calls == 0 || args.concurrency == 0 {
        return Err("--calls and --concurrency must be at least 1".into());
    }
    let target: NodeName = args
        .node
        .parse()
        .map_err(|e: locus::NodeNameError| e.to_string())?;
    let node = tool_node(&target, &args.common).await?;
    node.connect(&target).await.map_err(|e| e.to_string())?;
    if let Some(total) = args.casts {
        let rate = casts(&node, &target, total).await?;
        node.shutdown().await;
        say(format!(
            "{total} casts to {target}'s ping server, 32 B, 1 sender: {rate:.0} casts/s (load {})",
            load()
        ));
        return Ok(());
    }
    let report = measure(&node, &target, args.payload, args.calls, args.concurrency).await?;
    // The tail depends on how many worker threads each side runs (README, `--workers`):
    // both are printed. The target's comes from its `locus.info`, if it answers.
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    let target_workers = node
        .rpc()
        .call::<_, locus::introspect::NodeInfo>(&target, "locus.info", (), Duration::from_secs(5))
        .await
        .ok()
        .and_then(|info| info.workers);
    node.shutdown().await;
    let load = load();
    let target_workers_text = target_workers.map_or("null".to_owned(), |n| n.to_string());
    if args.json {
        say(format!(
            "{{\"node\":\"{}\",\"payload\":{},\"calls\":{},\"concurrency\":{},\"p50_us\":{:.2},\"p99_us\":{:.2},\"p999_us\":{:.2},\"calls_per_sec\":{:.0},\"floor_p50_us\":{:.2},\"ratio_p50\":{:.3},\"workers\":{workers},\"target_workers\":{target_workers_text},\"load\":\"{}\"}}",
            target,
            args.payload,
            args.calls,
            args.concurrency,
            us(report.p50),
            us(report.p99),
            us(report.p999),
            report.calls_per_sec,
            us(report.floor_p50),
            report.ratio(),
            load
        ));
    } else {
        say(format!(
            "{} calls to {target}'s ping server, {} B payload, {} at once (load {load})",
            args.calls, args.payload, args.concurrency
        ));
        say(format!(
            "  locus call   p50 {:>8.1} µs   p99 {:>8.1} µs   p99.9 {:>8.1} µs   {:>10.0} calls/s",
            us(report.p50),
            us(report.p99),
            us(report.p999),
            report.calls_per_sec
        ));
        say(format!(
            "  TCP floor    p50 {:>8.1} µs   (tokio ping-pong between two processes, same payload)",
            us(report.floor_p50)
        ));
        say(format!("  ratio p50    {:.2}", report.ratio()));
        say(format!(
            "  workers      {workers} here, {} on {target} (nodes sharing a machine's cores: --workers)",
            target_workers.map_or("unknown".to_owned(), |n| n.to_string())
        ));
    }
    Ok(())
}

/// Sends `total` casts from one sender (yielding every 256, as the BEAM preempts a
/// producer) and waits until the server counted them all; casts per second.
async fn casts(node: &Node, target: &NodeName, total: u64) -> Result<f64, String> {
    let client = PingServer::client(node, (NAME, target));
    let before = client.casts().await.map_err(|e| e.to_string())?;
    let body = serde_bytes::ByteBuf::from(vec![0xa5u8; 32]);
    let start = Instant::now();
    for i in 0..total {
        let _ = client.count(body.clone()).await;
        if i % 256 == 255 {
            tokio::task::yield_now().await;
        }
    }
    loop {
        let seen = client.casts().await.map_err(|e| e.to_string())?;
        if seen >= before + total {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Calls `target`'s ping server and measures a TCP floor with the same payload.
pub(crate) async fn measure(
    node: &Node,
    target: &NodeName,
    payload: usize,
    calls: usize,
    concurrency: usize,
) -> Result<Report, String> {
    let client = PingServer::client(node, (NAME, target));
    let body = locus::Blob::from(vec![0xa5u8; payload]);
    // Warm up the connection and both ends; the first answer must be the payload.
    for i in 0..(calls / 10).clamp(10, 1000) {
        let pong = client
            .ping(body.clone())
            .await
            .map_err(|e| format!("ping failed: {e}"))?;
        if i == 0 && pong.payload != body {
            return Err(format!(
                "{target} echoed {} bytes that differ from the {} sent",
                pong.payload.len(),
                body.len()
            ));
        }
    }
    let per_task = calls.div_ceil(concurrency);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        // Its own copy: tasks on different threads do not share one reference count.
        let body = locus::Blob::copy_from_slice(&body);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let t = Instant::now();
                client
                    .ping(body.clone())
                    .await
                    .map_err(|e| format!("ping failed: {e}"))?;
                lat.push(t.elapsed());
            }
            Ok::<_, String>(lat)
        }));
    }
    let mut lat = Vec::with_capacity(per_task * concurrency);
    for t in tasks {
        lat.extend(t.await.map_err(|e| e.to_string())??);
    }
    let elapsed = start.elapsed();
    lat.sort();
    let floor_p50 = tcp_floor(payload, calls.clamp(100, 10_000)).await?;
    Ok(Report {
        p50: percentile(&lat, 0.50),
        p99: percentile(&lat, 0.99),
        p999: percentile(&lat, 0.999),
        calls_per_sec: lat.len() as f64 / elapsed.as_secs_f64(),
        floor_p50,
    })
}

/// The p50 of a length-prefixed request/response over loopback TCP with an echo server
/// in another process (this binary's `__tcp-echo`).
pub(crate) async fn tcp_floor(payload: usize, rounds: usize) -> Result<Duration, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(exe)
        .arg("__tcp-echo")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the TCP echo process: {e}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or("no stdout from the echo process")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .map_err(|e| e.to_string())?;
    let port: u16 = line
        .trim()
        .parse()
        .map_err(|_| format!("bad echo port {line:?}"))?;
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut msg = (payload as u32).to_be_bytes().to_vec();
    msg.extend(std::iter::repeat_n(0xa5u8, payload));
    let mut back = vec![0u8; msg.len()];
    let mut lat = Vec::with_capacity(rounds);
    for i in 0..rounds + rounds / 10 {
        let t = Instant::now();
        s.write_all(&msg).await.map_err(|e| e.to_string())?;
        s.read_exact(&mut back).await.map_err(|e| e.to_string())?;
        if i >= rounds / 10 {
            lat.push(t.elapsed());
        }
    }
    drop(s);
    let _ = child.kill().await;
    lat.sort();
    Ok(percentile(&lat, 0.5))
}

/// `__tcp-echo`: prints its port, echoes length-prefixed messages until the client leaves.
pub(crate) async fn tcp_echo() -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    say(port);
    let (mut s, _) = listener.accept().await.map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).await.is_err() {
            return Ok(());
        }
        let n = u32::from_be_bytes(len) as usize;
        buf.resize(4 + n, 0);
        buf[..4].copy_from_slice(&len);
        if s.read_exact(&mut buf[4..]).await.is_err() {
            return Ok(());
        }
        if s.write_all(&buf).await.is_err() {
            return Ok(());
        }
    }
}

/// `__tcp-echo --spin`: as [`tcp_echo`], on a blocking thread that busy-polls a
/// non-blocking socket, so no wake-up is ever paid: the floor for a transport that spins.
pub(crate) fn tcp_echo_spinning() -> Result<(), String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    say(port);
    let (mut s, _) = listener.accept().map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if read_exact_spinning(&mut s, &mut len).is_err() {
            return Ok(());
        }
        let n = u32::from_be_bytes(len) as usize;
        buf.resize(4 + n, 0);
        buf[..4].copy_from_slice(&len);
        if read_exact_spinning(&mut s, &mut buf[4..]).is_err()
            || write_all_spinning(&mut s, &buf).is_err()
        {
            return Ok(());
        }
    }
}

/// Fills `buf` from a non-blocking socket, polling without ever sleeping.
fn read_exact_spinning(s: &mut std::net::TcpStream, buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    let mut at = 0;
    while at < buf.len() {
        match s.read(&mut buf[at..]) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes all of `buf` to a non-blocking socket, polling without ever sleeping.
fn write_all_spinning(s: &mut std::net::TcpStream, buf: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut at = 0;
    while at < buf.len() {
        match s.write(&buf[at..]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
