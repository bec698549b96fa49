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
