//! Hosts in Linux network namespaces joined by a bridge, for tests across real addresses.
//!
//! Each [`Net`] makes its own namespaces: a switch (`<prefix>-sw`, holding bridge `br0`)
//! and hosts (`<prefix>-h<i>`), each with `eth0` on the bridge, `10.77.0.<10+i>/24` and
//! `fd77::<10+i>/64`, a default route (so multicast has a way out) and its own loopback (so
//! each host runs its own port mapper on 4369). Dropping the `Net` kills what runs in it and
//! deletes the namespaces. Nets of concurrent tests never see each other.
//!
//! Needs root and `ip` (iproute2). Without them a test is skipped with a message, unless
//! `LOCUS_TEST_STRICT=1`, which CI sets, turns the skip into a failure.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// `name` on the PATH or in the sbin directories.
pub(crate) fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"])
        .map(|dir| PathBuf::from(dir).join(name))
        .find(|p| p.is_file())
}

/// Reports a missing prerequisite: a skip, or a failure under `LOCUS_TEST_STRICT=1`.
pub(crate) fn missing(what: &str, how: &str) {
    let msg = format!("{what} is not available ({how})");
    if std::env::var("LOCUS_TEST_STRICT").is_ok_and(|v| v == "1") {
        panic!("{msg}; LOCUS_TEST_STRICT=1 makes this a failure");
    }
    eprintln!("SKIPPED: {msg}");
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A host of a [`Net`].
#[derive(Debug, Clone)]
pub(crate) struct Host {
    /// Its namespace.
    pub(crate) ns: String,
    /// Its IPv4 address.
    pub(crate) v4: String,
    /// Its IPv6 address.
    pub(crate) v6: String,
}

/// Namespaces made for one test.
pub(crate) struct Net {
    prefix: String,
    switch: String,
    pub(crate) hosts: Vec<Host>,
}

impl Net {
    /// A switch and `hosts` hosts, or `None` (after reporting why) where namespaces cannot
    /// be made.
    pub(crate) fn new(hosts: usize) -> Option<Net> {
        if tool("ip").is_none() {
            missing("the ip command", "apt-get install iproute2");
            return None;
        }
        remove_stale();
        let prefix = format!(
            "lc{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let switch = format!("{prefix}-sw");
        if let Err(e) = ip(&["netns", "add", &switch]) {
            missing("network namespaces", &format!("run as root: {e}"));
            return None;
        }
        let mut net = Net {
            prefix,
            switch,
            hosts: Vec::new(),
        };
        let sw = net.switch.clone();
        let setup = [
            vec!["-n", &sw, "link", "set", "lo", "up"],
            vec!["-n", &sw, "link", "add", "br0", "type", "bridge"],
            // Flood multicast to every port: no IGMP querier runs on this test network.
            vec![
                "-n",
                &sw,
                "link",
                "set",
                "br0",
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ],
            vec!["-n", &sw, "link", "set", "br0", "up"],
        ];
        for args in setup {
            ip(&args).expect("set up the switch");
        }
        for _ in 0..hosts {
            net.add_host();
        }
        Some(net)
    }

    /// Adds a host; returns its index.
    pub(crate) fn add_host(&mut self) -> usize {
        let i = self.hosts.len();
        let ns = format!("{}-h{i}", self.prefix);
        let v4 = format!("10.77.0.{}", 10 + i);
        let v6 = format!("fd77::{}", 10 + i);
        let port = format!("v{i}");
        let sw = self.switch.clone();
        let addr4 = format!("{v4}/24");
        let addr6 = format!("{v6}/64");
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", &ns],
            vec!["-n", &ns, "link", "set", "lo", "up"],
            vec![
                "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns",
                &sw,
            ],
            vec!["-n", &sw, "link", "set", &port, "master", "br0"],
            vec!["-n", &sw, "link", "set", &port, "up"],
            vec!["-n", &ns, "addr", "add", &addr4, "dev", "eth0"],
            vec!["-n", &ns, "link", "set", "eth0", "up"],
            vec!["-n", &ns, "route", "add", "default", "dev", "eth0"],
        ];
        // Listed first, so that `Drop` deletes it even if a step fails.
        self.hosts.push(Host {
            ns: ns.clone(),
            v4: v4.clone(),
            v6: v6.clone(),
        });
        for args in steps {
            ip(&args).expect("set up a host");
        }
        // `nodad`: usable at once, without duplicate address detection's delay.
        ip(&[
            "-n", &ns, "-6", "addr", "add", &addr6, "dev", "eth0", "nodad",
        ])
        .expect("IPv6");
        i
    }

    /// The namespace of the switch (whose ports `v<i>` connect the hosts).
    pub(crate) fn switch_ns(&self) -> String {
        self.switch.clone()
    }

    /// `program` run inside host `i`.
    pub(crate) fn cmd(&self, i: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.hosts[i].ns]).arg(program);
        cmd
    }

    /// Makes host `i`'s processes resolve names through `nameserver` (written to
    /// `/etc/netns/<ns>/resolv.conf`, which `ip netns exec` mounts as `/etc/resolv.conf`).
    pub(crate) fn set_nameserver(&self, i: usize, nameserver: &str) {
        let dir = PathBuf::from("/etc/netns").join(&self.hosts[i].ns);
        std::fs::create_dir_all(&dir).expect("create /etc/netns dir");
        std::fs::write(
            dir.join("resolv.conf"),
            format!("nameserver {nameserver}\noptions timeout:1 attempts:2\n"),
        )
        .expect("write resolv.conf");
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for h in &self.hosts {
            delete_namespace(&h.ns);
        }
        delete_namespace(&self.switch);
    }
}

/// Kills what runs in `ns`, then deletes it and its `/etc/netns` files.
fn delete_namespace(ns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
    }
    let _ = ip(&["netns", "del", ns]);
    let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(ns));
}

/// Deletes namespaces left by test processes that no longer run (killed mid-test).
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(ns) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = ns
            .strip_prefix("lc")
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !PathBuf::from(format!("/proc/{pid}")).exists() {
            delete_namespace(ns);
        }
    }
}
