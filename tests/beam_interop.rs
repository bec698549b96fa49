//! A locus node in a real Erlang/Elixir cluster (OTP 25, Elixir 1.14): the rows of
//! `reference/beam-interop.md` §7, each against the real `epmd` and against the locus port
//! mapper, with OS processes of `examples/elixir_bridge` (a `#[gen_server]` `ping`, a
//! `sink` process, the rpc function `math.add`) and of `elixir`; then a mixed cluster of
//! two Elixir and two locus nodes. Skipped, with a message, where Erlang or Elixir is not
//! installed (a failure under `LOCUS_TEST_STRICT=1`; `.ci/run` installs both).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use support::DEADLINE;
use support::beam::{self, BeamNode, Mapper, unique};
use support::os::{OsNode, example, locus};

const COOKIE: &str = "c";

/// Starts the bridge example as `name` on `mapper`, with extra flags and environment.
fn bridge(name: &str, mapper: Mapper, extra: &[&str], env: &[(&str, &str)]) -> OsNode {
    let mut cmd = example("elixir_bridge");
    cmd.args(["--name", name, "--cookie", COOKIE, "--epmd-port"])
        .arg(mapper.port().to_string())
        .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut node = OsNode::spawn(name, cmd);
    node.expect_prefix(&format!("ready {name}"));
    node
}

/// Asks the bridge at its prompt and returns the answer line (which starts with `answer`).
fn ask(node: &mut OsNode, line: &str, answer: &str) -> String {
    node.send_line(line);
    node.expect_line(answer, |l| l.starts_with(answer))
}

/// Asks `nodes` until the bridge lists exactly `want` (sorted).
fn wait_nodes(node: &mut OsNode, want: &[&str]) {
    let mut want: Vec<&str> = want.to_vec();
    want.sort_unstable();
    let want = format!("nodes [{}]", want.join(", "));
    let start = Instant::now();
    loop {
        let got = ask(node, "nodes", "nodes ");
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{}: {got}, not {want}, for {DEADLINE:?}",
            node.name
        );
        // A poll interval between two questions, not a wait for the event.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An Elixir list of node atoms, as `inspect` prints it.
fn atoms(names: &[&str]) -> String {
    let mut names: Vec<String> = names.iter().map(|n| format!(":\"{n}\"")).collect();
    names.sort();
    format!("[{}]", names.join(", "))
}

fn tools() -> Option<(PathBuf, PathBuf)> {
    Some((beam::erl()?, beam::elixir()?))
}

/// Runs `body` against the real epmd and against the locus port mapper.
fn on_both(body: impl Fn(Mapper, &PathBuf, &PathBuf)) {
    let Some((erl, elixir)) = tools() else { return };
    body(Mapper::epmd(), &erl, &elixir);
    body(Mapper::locus(), &erl, &elixir);
}

/// Row 1: `net_adm:ping` from `erl` is `pong`.
#[test]
fn erl_pings_a_locus_node() {
    on_both(|mapper, erl, _| {
        let l = unique("l1_");
        let _bridge = bridge(&l, mapper, &[], &[]);
        let mut cmd = Command::new(erl);
        cmd.args(["-name", &unique("e1_"), "-setcookie", COOKIE, "-noshell"])
            .args([
                "-eval",
                &format!("io:format(\"~p~n\",[net_adm:ping('{l}')]), halt()."),
            ]);
        mapper.apply(&mut cmd);
        let out = cmd.output().expect("erl runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pong");
    });
}

/// Rows 2–6 and 10: `Node.connect`, `GenServer.call` (and `noproc`), `send` to a name and
/// back to a pid, `:rpc.call` and `:erpc.call`, and `:global.trans` with locus connected.
#[test]
fn an_elixir_node_calls_sends_and_runs_rpc_on_locus() {
    on_both(|mapper, _, elixir| {
        let l = unique("l2_");
        let _bridge = bridge(&l, mapper, &[], &[]);
        let mut e = BeamNode::start(elixir, &unique("t2_"), COOKIE, mapper, "");
        assert_eq!(
            e.eval(&format!(
                "{{Node.connect(:\"{l}\"), Node.list(), Node.list(:hidden)}}"
            )),
            format!("{{true, [:\"{l}\"], []}}")
        );
        assert_eq!(
            e.eval(&format!(
                "GenServer.call({{:ping, :\"{l}\"}}, {{:ping, \"hi\"}})"
            )),
            "{:pong, {:ping, \"hi\"}}"
        );
        let noproc = e.eval(&format!(
            "try do GenServer.call({{:nosuch, :\"{l}\"}}, :x, 1000) catch :exit, r -> r end"
        ));
        assert!(
            noproc.starts_with("{:noproc, {GenServer, :call, "),
            "{noproc}"
        );
        let echoed = e.eval(&format!(
            "(send({{:sink, :\"{l}\"}}, {{:hello, self()}}); receive do {{:hello, p}} -> node(p) after 2000 -> :none end)"
        ));
        assert_eq!(echoed, format!(":\"{l}\""));
        assert_eq!(
            e.eval(&format!(
                "{{:rpc.call(:\"{l}\", :math, :add, [1, 2]), :erpc.call(:\"{l}\", :erlang, :node, [])}}"
            )),
            format!("{{3, :\"{l}\"}}")
        );
        assert_eq!(
            e.eval(&format!(":rpc.call(:\"{l}\", :math, :nope, [])")),
            "{:badrpc, {:EXIT, {:undef, []}}}"
        );
        assert_eq!(
            e.eval(
                "Task.yield(Task.async(fn -> :global.trans({:r, self()}, fn -> :ok end) end), 3000)"
            ),
            "{:ok, :ok}"
        );
    });
}

/// `GenServer.cast` reaches a `#[cast]` handler; a message that does not fit a process's
/// type is dropped (the process carries on and the connection stays up).
#[test]
fn casts_arrive_and_a_message_that_does_not_fit_is_dropped() {
    on_both(|mapper, _, elixir| {
        let l = unique("l5_");
        let mut bridge = bridge(&l, mapper, &[], &[]);
        let mut e = BeamNode::start(elixir, &unique("t5_"), COOKIE, mapper, "");
        assert_eq!(
            e.eval(&format!(
                "GenServer.cast({{:ping, :\"{l}\"}}, {{:note, \"x\"}})"
            )),
            ":ok"
        );
        bridge.expect("--- note x");
        e.eval(&format!(
            "send({{:sink, :\"{l}\"}}, {{:not_a_greeting, 1, 2}})"
        ));
        e.eval(&format!(
            "GenServer.cast({{:ping, :\"{l}\"}}, [:not, :a, :cast])"
        ));
        let echoed = e.eval(&format!(
            "(send({{:sink, :\"{l}\"}}, {{:hello, self()}}); receive do {{:hello, p}} -> node(p) after 2000 -> :none end)"
        ));
        assert_eq!(echoed, format!(":\"{l}\""));
        assert_eq!(e.eval("Node.list()"), format!("[:\"{l}\"]"));
    });
}

/// `locus ping` and `locus nodes` against a BEAM node.
#[test]
fn the_cli_pings_and_lists_a_beam_node() {
    on_both(|mapper, _, elixir| {
        let l = unique("l3_");
        let _bridge = bridge(&l, mapper, &[], &[]);
        let t = unique("t3_");
        let mut e = BeamNode::start(elixir, &t, COOKIE, mapper, "");
        assert_eq!(e.eval(&format!("Node.connect(:\"{l}\")")), "true");
        let port = mapper.port().to_string();
        let run = |args: &[&str]| {
            let out = locus()
                .args(args)
                .args(["--cookie", COOKIE, "--epmd-port", &port])
                .output()
                .expect("locus runs");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        assert_eq!(run(&["ping", &t]), "pong");
        assert_eq!(run(&["nodes", &t]), l);
        assert_eq!(run(&["ping", &unique("nobody_")]), "pang");
    });
}

/// Row 7: `kill -9` of the locus node: the Elixir monitor fires `:noconnection` and
/// `monitor_nodes` reports `connection_closed`.
#[test]
fn elixir_sees_a_killed_locus_node_go_down() {
    on_both(|mapper, _, elixir| {
        let l = unique("l7_");
        let mut bridge = bridge(&l, mapper, &[], &[]);
        let mut e = BeamNode::start(elixir, &unique("t7_"), COOKIE, mapper, "");
        assert_eq!(e.eval(&format!("Node.connect(:\"{l}\")")), "true");
        e.eval(&format!(
            "(me = self(); spawn(fn -> r = Process.monitor({{:ping, :\"{l}\"}}); send(me, :monitoring); receive do {{:DOWN, ^r, :process, _, why}} -> IO.puts(\"event down #{{inspect(why)}}\") end end); receive do :monitoring -> :ok end)"
        ));
        bridge.kill_9();
        e.os.expect_ever("event down :noconnection");
        e.os.expect_ever(&format!(
            "event {{:nodedown, :\"{l}\", [nodedown_reason: :connection_closed]}}"
        ));
    });
}

/// Row 8: with `net_ticktime` 4 an idle connection stays up (locus ticks); a stopped
/// locus node is reported down with `net_tick_timeout`.
#[test]
fn ticks_keep_an_idle_connection_up_and_a_frozen_node_times_out() {
    on_both(|mapper, _, elixir| {
        let l = unique("l8_");
        let bridge = bridge(&l, mapper, &[], &[]);
        let mut e = BeamNode::start(
            elixir,
            &unique("t8_"),
            COOKIE,
            mapper,
            "-kernel net_ticktime 4",
        );
        assert_eq!(e.eval(&format!("Node.connect(:\"{l}\")")), "true");
        // Three tick times without traffic: the absence of a nodedown is what is checked.
        std::thread::sleep(Duration::from_secs(12));
        assert_eq!(e.eval("Node.list()"), format!("[:\"{l}\"]"));
        assert!(
            !e.os.drain().iter().any(|l| l.contains("nodedown")),
            "{:?}",
            e.os.seen
        );
        let pid = bridge.pid().to_string();
        Command::new("kill").args(["-STOP", &pid]).status().unwrap();
        e.os.expect_ever(&format!(
            "event {{:nodedown, :\"{l}\", [nodedown_reason: :net_tick_timeout]}}"
        ));
        Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    });
}

/// Row 9: a wrong cookie: `Node.connect` is `false` and locus logs why.
#[test]
fn a_wrong_cookie_is_refused_and_logged() {
    on_both(|mapper, _, elixir| {
        let l = unique("l9_");
        let mut bridge = bridge(&l, mapper, &[], &[]);
        let mut e = BeamNode::start(elixir, &unique("t9_"), "wrong", mapper, "");
        assert_eq!(e.eval(&format!("Node.connect(:\"{l}\")")), "false");
        bridge.expect_line("a log line about the digest", |line| {
            line.contains("digest") || line.contains("cookie")
        });
        assert_eq!(ask(&mut bridge, "nodes", "nodes "), "nodes []");
    });
}

/// A locus node started without `erlang_dist` refuses a BEAM node, with a log line that
/// says how to allow it.
#[test]
fn without_erlang_dist_a_beam_peer_is_refused_with_a_clear_log_line() {
    on_both(|mapper, _, elixir| {
        let l = unique("l0_");
        let mut cmd = locus();
        cmd.args(["node", "--name", &l, "--cookie", COOKIE, "--epmd-port"])
            .arg(mapper.port().to_string());
        let mut node = OsNode::spawn(&l, cmd);
        node.expect_prefix(&format!("ready {l}"));
        let mut e = BeamNode::start(elixir, &unique("t0_"), COOKIE, mapper, "");
        assert_eq!(e.eval(&format!("Node.connect(:\"{l}\")")), "false");
        node.expect_line("a log line naming erlang_dist", |line| {
            line.contains("erlang_dist") || line.contains("erlang-dist")
        });
    });
}

/// Rows 11 and the rpc direction: a locus client calls an Elixir GenServer by
/// `(name, node)` and gets its reply as a Rust type; `node.rpc().call` runs
/// `String.upcase/1` there.
#[test]
fn locus_calls_an_elixir_genserver_and_runs_elixir_functions() {
    on_both(|mapper, _, elixir| {
        let l = unique("l11_");
        let mut bridge = bridge(&l, mapper, &[], &[]);
        let t = unique("t11_");
        let _e = BeamNode::start(elixir, &t, COOKIE, mapper, "");
        assert_eq!(
            ask(&mut bridge, &format!("connect {t}"), "connect"),
            format!("connected {t}")
        );
        assert_eq!(
            ask(&mut bridge, &format!("echo {t} hello there"), "echo"),
            "echo hello there"
        );
        assert_eq!(
            ask(&mut bridge, &format!("upcase {t} abc"), "upcase"),
            "upcase ABC"
        );
    });
}

/// Row 12: a second BEAM node joins through the first; locus connects to it, and both BEAM
/// nodes list locus.
#[test]
fn locus_meshes_with_a_beam_node_that_joined_through_another() {
    on_both(|mapper, _, elixir| {
        let l = unique("l12_");
        let mut bridge = bridge(&l, mapper, &[], &[]);
        let (a, b) = (unique("t12a_"), unique("t12b_"));
        let mut ea = BeamNode::start(elixir, &a, COOKIE, mapper, "");
        let mut eb = BeamNode::start(elixir, &b, COOKIE, mapper, "");
        assert_eq!(ea.eval(&format!("Node.connect(:\"{l}\")")), "true");
        assert_eq!(eb.eval(&format!("Node.connect(:\"{a}\")")), "true");
        wait_nodes(&mut bridge, &[&a, &b]);
        eb.eval_until("Enum.sort(Node.list())", &atoms(&[&a, &l]));
        ea.eval_until("Enum.sort(Node.list())", &atoms(&[&b, &l]));
    });
}

/// Row 13: a hidden locus node is in `Node.list(:hidden)` only.
#[test]
fn a_hidden_locus_node_is_listed_as_hidden() {
    on_both(|mapper, _, elixir| {
        let l = unique("l13_");
        let _bridge = bridge(&l, mapper, &[], &[("LOCUS_HIDDEN", "true")]);
        let mut e = BeamNode::start(elixir, &unique("t13_"), COOKIE, mapper, "");
        assert_eq!(
            e.eval(&format!(
                "{{Node.connect(:\"{l}\"), Node.list(), Node.list(:hidden)}}"
            )),
            format!("{{true, [], [:\"{l}\"]}}")
        );
    });
}

/// Two Elixir nodes and two locus nodes: all four see each other, a call crosses each
/// pair, a disconnect heals, and `kill -9` of each kind is reported by the others.
#[test]
fn a_mixed_cluster_of_two_elixir_and_two_locus_nodes() {
    on_both(|mapper, _, elixir| {
        let (l1, l2) = (unique("m_l1_"), unique("m_l2_"));
        let (e1, e2) = (unique("m_e1_"), unique("m_e2_"));
        let mut n1 = bridge(&l1, mapper, &[], &[]);
        let mut n2 = bridge(&l2, mapper, &["--hosts", &l1], &[]);
        let mut b1 = BeamNode::start(elixir, &e1, COOKIE, mapper, "");
        let mut b2 = BeamNode::start(elixir, &e2, COOKIE, mapper, "");
        // One link each way between the kinds; meshing does the rest.
        assert_eq!(b1.eval(&format!("Node.connect(:\"{l1}\")")), "true");
        assert_eq!(b2.eval(&format!("Node.connect(:\"{e1}\")")), "true");
        wait_nodes(&mut n1, &[&l2, &e1, &e2]);
        wait_nodes(&mut n2, &[&l1, &e1, &e2]);
        b1.eval_until("Enum.sort(Node.list())", &atoms(&[&e2, &l1, &l2]));
        b2.eval_until("Enum.sort(Node.list())", &atoms(&[&e1, &l1, &l2]));

        // A call across each pair: locus → locus, locus → Elixir, Elixir → locus.
        for (from, to) in [(&mut n1, &l2), (&mut n2, &e1)] {
            assert_eq!(
                ask(from, &format!("ping {to} x"), "ping"),
                "ping {:pong, {:ping, \"x\"}}"
            );
        }
        assert_eq!(
            ask(&mut n1, &format!("ping {e2} y"), "ping"),
            "ping {:pong, {:ping, \"y\"}}"
        );
        for to in [&l1, &l2] {
            assert_eq!(
                b2.eval(&format!(
                    "GenServer.call({{:ping, :\"{to}\"}}, {{:ping, \"z\"}})"
                )),
                "{:pong, {:ping, \"z\"}}"
            );
        }

        // A partition between e1 and l1 heals through the others.
        assert_eq!(b1.eval(&format!("Node.disconnect(:\"{l1}\")")), "true");
        b1.eval_until("Enum.sort(Node.list())", &atoms(&[&e2, &l1, &l2]));
        wait_nodes(&mut n1, &[&l2, &e1, &e2]);

        // kill -9 of an Elixir node, then of a locus node (not the one holding the locus
        // port mapper).
        drop(b2);
        wait_nodes(&mut n1, &[&l2, &e1]);
        wait_nodes(&mut n2, &[&l1, &e1]);
        b1.eval_until("Enum.sort(Node.list())", &atoms(&[&l1, &l2]));
        n2.kill_9();
        wait_nodes(&mut n1, &[&e1]);
        b1.eval_until("Enum.sort(Node.list())", &atoms(&[&l1]));
        b1.os.expect_ever(&format!(
            "event {{:nodedown, :\"{l2}\", [nodedown_reason: :connection_closed]}}"
        ));
    });
}
