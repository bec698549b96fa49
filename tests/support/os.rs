//! Running the real `locus` binary as OS processes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::DEADLINE;

/// The `locus` binary cargo built for these tests.
pub(crate) fn locus() -> Command {
    Command::new(env!("CARGO_BIN_EXE_locus"))
}

/// A running `locus node`, its output lines readable one by one.
pub(crate) struct OsNode {
    pub(crate) name: String,
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
    pub(crate) seen: Vec<String>,
}

impl OsNode {
    /// Starts `locus node --name NAME` with the given extra arguments and waits for `ready`.
    pub(crate) fn start(name: &str, epmd_port: u16, extra: &[&str]) -> OsNode {
        let mut cmd = locus();
        cmd.args([
            "node",
            "--name",
            name,
            "--cookie",
            "os-test",
            "--epmd-port",
            &epmd_port.to_string(),
        ])
        .args(extra);
        let mut node = OsNode::spawn(name, cmd);
        node.expect(&format!("ready {name}"));
        node
    }

    /// Runs `cmd` (a `locus node`, perhaps wrapped) without waiting for anything. Its
    /// stdout lines are read as they come; its stderr lines too, prefixed with `! `.
    pub(crate) fn spawn(name: &str, mut cmd: Command) -> OsNode {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start locus node");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let label = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                // Still shown, as with an inherited stderr.
                eprintln!("[{label}] {line}");
                if tx2.send(format!("! {line}")).is_err() {
                    break;
                }
            }
        });
        OsNode {
            name: name.to_owned(),
            child,
            stdin,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a line for which `hit` holds and returns it (lines before it are kept
    /// in `seen`).
    pub(crate) fn expect_line(&mut self, what: &str, hit: impl Fn(&str) -> bool) -> String {
        self.expect_line_within(DEADLINE, what, hit)
    }

    /// Like [`expect_line`](Self::expect_line), with a deadline of its own.
    pub(crate) fn expect_line_within(
        &mut self,
        deadline: Duration,
        what: &str,
        hit: impl Fn(&str) -> bool,
    ) -> String {
        let start = Instant::now();
        loop {
            let left = deadline.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = hit(&line);
                    self.seen.push(line.clone());
                    if found {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "{}: no line {what} within {deadline:?}; saw {:?}",
                    self.name, self.seen
                ),
            }
        }
    }

    /// Like [`expect`](Self::expect), but a line already received (kept in `seen`) counts.
    pub(crate) fn expect_ever(&mut self, want: &str) {
        self.drain();
        if !self.seen.iter().any(|l| l == want) {
            self.expect(want);
        }
    }

    /// Waits for every line of `want`, in any order (lines not wanted are kept in `seen`).
    pub(crate) fn expect_unordered(&mut self, want: &[String]) {
        let mut waiting: Vec<String> = want.to_vec();
        while !waiting.is_empty() {
            let line = self.expect_line(&format!("one of {waiting:?}"), |l| {
                waiting.iter().any(|w| w == l)
            });
            waiting.retain(|w| *w != line);
        }
    }

    /// Waits for `nodeup NODE` for each of `nodes`, in any order.
    pub(crate) fn expect_nodeup(&mut self, nodes: &[&str]) {
        let want: Vec<String> = nodes.iter().map(|n| format!("nodeup {n}")).collect();
        self.expect_unordered(&want);
    }

    /// Waits for a line starting with `prefix`.
    pub(crate) fn expect_prefix(&mut self, prefix: &str) -> String {
        self.expect_line(&format!("starting with {prefix:?}"), |l| {
            l.starts_with(prefix)
        })
    }

    /// Whether any line so far (without waiting) starts with `prefix`.
    pub(crate) fn saw_prefix(&mut self, prefix: &str) -> bool {
        self.drain();
        self.seen.iter().any(|l| l.starts_with(prefix))
    }

    /// Waits for the process to exit on its own; returns its status.
    pub(crate) fn wait_exit(&mut self) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "{} did not exit", self.name);
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for a line equal to `want` (lines before it are kept in `seen`).
    pub(crate) fn expect(&mut self, want: &str) {
        self.expect_line(&format!("{want:?}"), |l| l == want);
    }

    /// Lines received so far without waiting.
    pub(crate) fn drain(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// Types `line` on the process's standard input.
    pub(crate) fn send_line(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{} did not stop on SIGTERM",
                self.name
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for OsNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An example cargo built beside the tests (`cargo test` builds examples; a filtered run
/// may not, hence the message).
pub(crate) fn example(name: &str) -> Command {
    let exe = std::env::current_exe().expect("the test's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = dir.join("examples").join(name);
    assert!(
        bin.is_file(),
        "{} is missing: `cargo test` builds examples, a filtered run may not; \
         run `cargo build --examples` first",
        bin.display()
    );
    Command::new(bin)
}

/// Runs a `locus` command to completion; returns (success, stdout).
pub(crate) fn run(args: &[&str]) -> (bool, String) {
    let out = locus()
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run locus");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}
