//! Real Erlang and Elixir peers for the interoperability tests: finding `erl` and `elixir`,
//! running a script, and BEAM nodes as OS processes killed when dropped. Where they are
//! not installed a test is skipped with a message (a failure under `LOCUS_TEST_STRICT=1`,
//! which CI sets; `.ci/run` installs erlang-nox and elixir).

use std::path::PathBuf;
use std::process::Command;

use super::netns::{missing, tool};

/// `erl`, or `None` (after reporting the skip).
pub(crate) fn erl() -> Option<PathBuf> {
    let found = tool("erl");
    if found.is_none() {
        missing("Erlang's erl", "apt-get install erlang-nox");
    }
    found
}

/// `elixir`, or `None` (after reporting the skip).
pub(crate) fn elixir() -> Option<PathBuf> {
    let found = tool("elixir");
    if found.is_none() {
        missing("Elixir", "apt-get install elixir");
    }
    found
}

/// Runs an Erlang expression sequence with `erl -noshell` and returns what it printed.
pub(crate) fn eval(erl: &PathBuf, exprs: &str) -> String {
    let out = Command::new(erl)
        .args(["-noshell", "-eval", &format!("{exprs}, halt().")])
        .output()
        .expect("erl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "erl failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Where the BEAM and locus nodes of a test look each other up: the real `epmd` on 4369
/// (started here if it is not running), or the port mapper a locus node embeds, on a port
/// of the test's own (BEAM nodes are pointed at it with `ERL_EPMD_PORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mapper {
    Epmd,
    Locus(u16),
}

impl Mapper {
    /// The real `epmd`, running.
    pub(crate) fn epmd() -> Mapper {
        let started = Command::new("epmd").arg("-daemon").status();
        assert!(
            started.is_ok_and(|s| s.success()),
            "epmd -daemon failed to start"
        );
        Mapper::Epmd
    }

    /// A locus port mapper on a fresh port (the first locus node of the test starts it).
    pub(crate) fn locus() -> Mapper {
        Mapper::Locus(super::free_port())
    }

    pub(crate) fn port(self) -> u16 {
        match self {
            Mapper::Epmd => 4369,
            Mapper::Locus(p) => p,
        }
    }

    /// Points a BEAM command at this port mapper.
    pub(crate) fn apply(self, cmd: &mut Command) {
        cmd.env("ERL_EPMD_PORT", self.port().to_string());
    }
}

/// A node name unique to this test process: `{prefix}{pid}@127.0.0.1`.
pub(crate) fn unique(prefix: &str) -> String {
    format!("{prefix}{}@127.0.0.1", std::process::id())
}

/// What an Elixir node of the tests runs: `Ping` (registered `:ping`, answering
/// `{:ping, t}` with `{:pong, {:ping, t}}`, as the locus example does) and `Echo` (answering
/// `{:echo, t}` with `t`), node events printed as `event ...`, then each line of standard
/// input evaluated and its value printed as `=> ...`.
const REPL: &str = r#"
defmodule Ping do
  use GenServer
  def init(x), do: {:ok, x}
  def handle_call({:ping, t}, _from, s), do: {:reply, {:pong, {:ping, t}}, s}
end
defmodule Echo do
  use GenServer
  def init(x), do: {:ok, x}
  def handle_call({:echo, t}, _from, s), do: {:reply, t, s}
end
{:ok, _} = GenServer.start(Ping, nil, name: :ping)
{:ok, _} = GenServer.start(Echo, nil, name: Echo)
spawn(fn ->
  :net_kernel.monitor_nodes(true, [:nodedown_reason])
  Stream.repeatedly(fn -> receive do m -> IO.puts("event " <> inspect(m)) end end) |> Stream.run()
end)
IO.puts("ready")
Stream.repeatedly(fn -> IO.gets("") end)
|> Stream.take_while(&is_binary/1)
|> Enum.each(fn line ->
  v = try do
    {v, _} = Code.eval_string(line)
    v
  rescue
    e -> {:raised, e}
  catch
    k, r -> {k, r}
  end
  IO.puts("=> " <> inspect(v, limit: :infinity))
end)
"#;

/// How long a BEAM node may take to boot or to answer one line: on a loaded 2-core machine
/// a boot alone has been seen to take more than 10 s (its schedulers compete for the
/// cores), and a `Node.connect` may wait out `net_setuptime` (30 s, set below).
const BEAM_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// An Elixir node (an OS process, killed when dropped) driven line by line.
pub(crate) struct BeamNode {
    pub(crate) name: String,
    pub(crate) os: super::os::OsNode,
}

impl BeamNode {
    /// Starts `elixir --name NAME --cookie COOKIE` on `mapper` (with `erl_flags` for the
    /// runtime, e.g. `-kernel net_ticktime 4`) and waits until it is ready.
    pub(crate) fn start(
        elixir: &PathBuf,
        name: &str,
        cookie: &str,
        mapper: Mapper,
        erl_flags: &str,
    ) -> BeamNode {
        let mut cmd = Command::new(elixir);
        cmd.args(["--name", name, "--cookie", cookie]);
        // A handshake on a loaded test machine can outlast the default 7 s set-up time,
        // and `Node.connect` is then `false`.
        cmd.args(["--erl", &format!("-kernel net_setuptime 30 {erl_flags}")]);
        cmd.args(["-e", REPL]);
        mapper.apply(&mut cmd);
        let mut os = super::os::OsNode::spawn(name, cmd);
        os.expect_line_within(BEAM_DEADLINE, "ready", |l| l == "ready");
        BeamNode {
            name: name.to_owned(),
            os,
        }
    }

    /// Evaluates one line of Elixir there and returns its value, inspected.
    pub(crate) fn eval(&mut self, code: &str) -> String {
        assert!(!code.contains('\n'), "one line at a time");
        self.os.send_line(code);
        let line = self
            .os
            .expect_line_within(BEAM_DEADLINE, "=> (an evaluated value)", |l| {
                l.starts_with("=> ")
            });
        line["=> ".len()..].to_owned()
    }

    /// Evaluates `code` until its value is `want`, for at most the test deadline.
    pub(crate) fn eval_until(&mut self, code: &str, want: &str) {
        let start = std::time::Instant::now();
        loop {
            let got = self.eval(code);
            if got == want {
                return;
            }
            assert!(
                start.elapsed() < super::DEADLINE,
                "{}: `{code}` was {got}, not {want}, for {:?}",
                self.name,
                super::DEADLINE
            );
            // A poll interval between two questions, not a wait for the event.
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
