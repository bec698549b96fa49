//! `locus node` configured by flags, environment and a TOML file: precedence, bad values
//! named, static hosts with sync, local port mapper discovery.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;

use support::free_port;
use support::os::{OsNode, locus};

/// A TOML file removed on drop.
struct ConfigFile(std::path::PathBuf);

impl ConfigFile {
    fn new(text: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "locus-config-{}-{}.toml",
            std::process::id(),
            free_port()
        ));
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .unwrap();
        Self(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `locus node` expecting it to fail at start; returns its stderr.
fn fails(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = locus()
        .arg("node")
        .args(args)
        .envs(env.iter().copied())
        .env_remove("LOCUS_NODE")
        .output()
        .unwrap();
    assert!(!out.status.success(), "expected failure for {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_values_name_the_setting_and_where_it_came_from() {
    let epmd = free_port().to_string();
    let base = [
        "--name",
        "a@127.0.0.1",
        "--cookie",
        "c",
        "--epmd-port",
        &epmd,
    ];
    let e = fails(
        &base,
        &[("LOCUS_STRATEGY", "gossip"), ("LOCUS_GOSSIP_PORT", "lots")],
    );
    assert!(
        e.contains("gossip_port") && e.contains("LOCUS_GOSSIP_PORT") && e.contains("lots"),
        "{e}"
    );
    let e = fails(&[&base[..], &["--strategy", "pigeons"]].concat(), &[]);
    assert!(e.contains("--strategy") && e.contains("dns-srv"), "{e}");
    let e = fails(&[&base[..], &["--strategy", "dns"]].concat(), &[]);
    assert!(
        e.contains("--dns-query") && e.contains("LOCUS_DNS_QUERY"),
        "{e}"
    );
    let file = ConfigFile::new(
        "strategy = \"static\"\nhosts = [\"b@127.0.0.1\"]\npoll_interval = \"often\"\n",
    );
    let e = fails(&[&base[..], &["--config", file.path()]].concat(), &[]);
    assert!(
        e.contains("poll_interval") && e.contains(file.path()),
        "{e}"
    );
    let file = ConfigFile::new("strategy = \"static\"\nhostz = [\"b@127.0.0.1\"]\n");
    let e = fails(&[&base[..], &["--config", file.path()]].concat(), &[]);
    assert!(e.contains("hostz"), "{e}");
    let e = fails(&["--cookie", "c"], &[]);
    assert!(e.contains("--name") && e.contains("LOCUS_NODE"), "{e}");
}

#[test]
fn a_missing_mandatory_node_fails_the_start_and_names_it() {
    let epmd = free_port().to_string();
    let e = fails(
        &[
            "--name",
            "a@127.0.0.1",
            "--cookie",
            "c",
            "--epmd-port",
            &epmd,
            "--strategy",
            "static",
            "--sync-mandatory",
            "ghost@127.0.0.1",
            "--sync-timeout",
            "300ms",
        ],
        &[],
    );
    assert!(
        e.contains("ghost@127.0.0.1") && e.contains("mandatory"),
        "{e}"
    );
}

#[test]
fn flags_beat_environment_beats_file() {
    let epmd = free_port();
    let mut b = OsNode::start("b@127.0.0.1", epmd, &[]);
    // Each setting is given wrong in a lower layer and right in a higher one: the file's
    // name and cookie lose to the environment, the environment's hosts lose to the flag;
    // the port mapper port comes from the file alone.
    let file = ConfigFile::new(&format!(
        "name = \"file@127.0.0.1\"\ncookie = \"from-file\"\nepmd_port = {epmd}\nstrategy = \"static\"\nhosts = [\"ghost@127.0.0.1\"]\npoll_interval = \"100ms\"\n"
    ));
    let mut cmd = locus();
    cmd.args(["node", "--config", file.path(), "--hosts", "b@127.0.0.1"])
        .env("LOCUS_NODE", "a@127.0.0.1")
        .env("LOCUS_COOKIE", "os-test")
        .env("LOCUS_HOSTS", "ghost2@127.0.0.1");
    let mut a = OsNode::spawn("a@127.0.0.1", cmd);
    a.expect("ready a@127.0.0.1");
    a.expect("nodeup b@127.0.0.1");
    b.expect("nodeup a@127.0.0.1");
}

#[test]
fn sync_optional_makes_ready_wait_for_the_nodes() {
    let epmd = free_port();
    let _b = OsNode::start("b@127.0.0.1", epmd, &[]);
    let mut a = OsNode::start(
        "a@127.0.0.1",
        epmd,
        &[
            "--strategy",
            "static",
            "--sync-optional",
            "b@127.0.0.1",
            "--sync-timeout",
            "30",
        ],
    );
    // `ready` comes after b is connected: b is reported at once.
    a.expect("nodeup b@127.0.0.1");
}

#[test]
fn local_epmd_strategy_finds_nodes_on_this_host() {
    let epmd = free_port();
    let mut b = OsNode::start("b@127.0.0.1", epmd, &[]);
    let mut a = OsNode::start(
        "a@127.0.0.1",
        epmd,
        &["--strategy", "local-epmd", "--poll-interval", "100ms"],
    );
    a.expect("nodeup b@127.0.0.1");
    b.expect("nodeup a@127.0.0.1");
}
