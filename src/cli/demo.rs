//! `locus demo`: three nodes as separate processes on this machine, meshed through one
//! seed; a cross-node ping; one node killed and the others reporting it; a latency figure.

use std::process::Stdio;
use std::time::Duration;

use locus::NodeName;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::bench::{load, measure};
use super::ping::{NAME, PingServer};
use super::{Common, say, tool_node};

const COOKIE: &str = "locus-demo-cookie";

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Starts `locus node` and forwards its output lines, tagged, to `lines`.
fn start_node(
    name: &str,
    epmd_port: u16,
    connect: Option<&str>,
    lines: mpsc::UnboundedSender<(String, String)>,
) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.args([
        "node",
        "--name",
        name,
        "--cookie",
        COOKIE,
        "--epmd-port",
        &epmd_port.to_string(),
    ]);
    if let Some(seed) = connect {
        cmd.args(["--connect", seed]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let tag = name.split('@').next().unwrap_or(name).to_owned();
    tokio::spawn(async move {
        let mut lines_in = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines_in.next_line().await {
            if lines.send((tag.clone(), line)).is_err() {
                break;
            }
        }
    });
    Ok(child)
}

/// Prints output lines until one satisfies `done`; fails after the deadline.
async fn until(
    rx: &mut mpsc::UnboundedReceiver<(String, String)>,
    what: &str,
    mut done: impl FnMut(&str, &str) -> bool,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((tag, line))) => {
                say(format!("  [{tag}] {line}"));
                if done(&tag, &line) {
                    return Ok(());
                }
            }
            Ok(None) => return Err(format!("the nodes stopped before {what}")),
            Err(_) => return Err(format!("timed out waiting for {what}")),
        }
    }
}

pub(crate) async fn run() -> Result<(), String> {
    let epmd_port = free_port()?;
    let names: Vec<String> = (1..=3).map(|i| format!("n{i}@127.0.0.1")).collect();
    say(format!(
        "== starting three nodes (port mapper on port {epmd_port}); n2 and n3 connect only to n1"
    ));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut n1 = start_node(&names[0], epmd_port, None, tx.clone())?;
    until(&mut rx, "n1 to be ready", |_, l| l.starts_with("ready")).await?;
    let n2 = start_node(&names[1], epmd_port, Some(&names[0]), tx.clone())?;
    let mut n3 = start_node(&names[2], epmd_port, Some(&names[0]), tx.clone())?;
    // Full mesh: every node reports the two others up (n2 and n3 meet through n1).
    let mut ups = 0;
    until(&mut rx, "the full mesh", |_, l| {
        ups += usize::from(l.starts_with("nodeup"));
        ups == 6
    })
    .await?;

    say("== a hidden tool node asks n2 who it sees, and pings every node's `ping` server");
    let n2_name: NodeName = names[1]
        .parse()
        .map_err(|e: locus::NodeNameError| e.to_string())?;
    let common = Common {
        cookie: Some(COOKIE.into()),
        epmd_port,
        tls_cert: None,
        tls_key: None,
        tls_ca: None,
    };
    let tool = tool_node(&n2_name, &common).await?;
    let seen = tool.nodes_of(&n2_name).await.map_err(|e| e.to_string())?;
    say(format!(
        "  n2 sees {}",
        seen.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for name in &names {
        let peer: NodeName = name
            .parse()
            .map_err(|e: locus::NodeNameError| e.to_string())?;
        let pong = PingServer::client(&tool, (NAME, &peer))
            .ping(locus::Blob::from_static(b"hello"))
            .await
            .map_err(|e| e.to_string())?;
        say(format!(
            "  GenServer.call({{ping, {peer}}}, ping) -> pong from {} ({} bytes echoed)",
            pong.node,
            pong.payload.len()
        ));
    }

    say(format!(
        "== latency: 2,000 calls of 32 bytes to n2 (load {})",
        load()
    ));
    let report = measure(&tool, &n2_name, 32, 2_000, 1).await?;
    say(format!(
        "  call p50 {:.1} µs, p99 {:.1} µs; TCP ping-pong floor p50 {:.1} µs; ratio {:.2}",
        report.p50.as_secs_f64() * 1e6,
        report.p99.as_secs_f64() * 1e6,
        report.floor_p50.as_secs_f64() * 1e6,
        report.ratio()
    ));
    tool.shutdown().await;

    say("== kill -9 n3: n1 and n2 report it down");
    n3.start_kill().map_err(|e| e.to_string())?;
    let mut downs = 0;
    until(&mut rx, "nodedown n3", |_, l| {
        downs += usize::from(l.starts_with("nodedown n3@"));
        downs == 2
    })
    .await?;
    let _ = n3.wait().await;

    say("== stopping n1 and n2 (SIGTERM: they leave the cluster cleanly)");
    terminate(&mut n1);
    let mut n2 = n2;
    until(&mut rx, "nodedown n1", |tag, l| {
        tag == "n2" && l.starts_with("nodedown n1@")
    })
    .await?;
    terminate(&mut n2);
    let _ = n1.wait().await;
    let _ = n2.wait().await;
    say("== done");
    Ok(())
}

fn terminate(child: &mut Child) {
    if let Some(id) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &id.to_string()])
            .status();
    }
}
