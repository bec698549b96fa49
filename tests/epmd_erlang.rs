//! Interoperability with Erlang's own port mapper: `epmd -names` lists a locus node and
//! `locus names` lists an Erlang node. Skipped, with a message, where Erlang (Debian package
//! `erlang-base`) is not installed; `.ci/run` installs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::os::{OsNode, run};
use support::{DEADLINE, free_port};

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join(cmd))
        .find(|p| p.is_file())
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn epmd_names(epmd: &PathBuf, port: u16) -> Option<String> {
    let out = Command::new(epmd)
        .args(["-port", &port.to_string(), "-names"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn erlang_epmd_and_locus_list_each_others_nodes() {
    let Some(epmd) = which("epmd") else {
        eprintln!("SKIPPED: Erlang's epmd is not installed (Debian package erlang-base)");
        return;
    };
    let port = free_port();
    let _epmd = Killed(
        Command::new(&epmd)
            .args(["-port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start epmd"),
    );
    wait_for("epmd to answer", || epmd_names(&epmd, port).is_some());

    // A locus node registers with Erlang's epmd, which lists it.
    let _n1 = OsNode::start("n1@127.0.0.1", port, &[]);
    let names = epmd_names(&epmd, port).unwrap();
    assert!(
        names.contains("name n1 at port "),
        "epmd -names printed {names:?}"
    );

    // An Erlang node registers with the same epmd; `locus names` lists it.
    let Some(erl) = which("erl") else {
        eprintln!("SKIPPED (second half): Erlang's erl is not installed");
        return;
    };
    let _beam = Killed(
        Command::new(erl)
            .env("ERL_EPMD_PORT", port.to_string())
            .args([
                "-noshell",
                "-name",
                "beam@127.0.0.1",
                "-setcookie",
                "x",
                "-eval",
                "timer:sleep(60000)",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start erl"),
    );
    wait_for("locus names to list the Erlang node", || {
        let (ok, out) = run(&["names", "--epmd-port", &port.to_string()]);
        ok && out.contains("name beam at port ") && out.contains("name n1 at port ")
    });
}
