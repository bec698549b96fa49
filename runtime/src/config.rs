//! Configuration the way operators give it: a TOML file, environment variables, flags.
//!
//! Every setting has one name in three spellings: `gossip_port` in the file,
//! `LOCUS_GOSSIP_PORT` in the environment, `--gossip-port` on the command line (the name is
//! `LOCUS_NODE` in the environment). Layers
//! apply in order, later ones winning: defaults, then the file, then the environment, then
//! flags ([`Config::set`]). A value is checked when it is used, and a bad one is reported
//! with its setting and where it came from.
//!
//! | Setting | Meaning | Default |
//! |---|---|---|
//! | `name` | the node's name, `alive@host` | none: a local node |
//! | `cookie` | the cluster's shared secret | `~/.locus.cookie` |
//! | `epmd_port` | the port mapper's port | 4369 |
//! | `listen` | the address to listen on | the node's host if it is a loopback address, else all interfaces |
//! | `epmd_address` | where a port mapper this node serves listens, beside 127.0.0.1 (`ERL_EPMD_ADDRESS`) | all interfaces; loopback for a loopback node |
//! | `dist_port` | a fixed distribution port, no port mapper | |
//! | `port_range` | distribution ports to choose from, `9100-9155` | any free port |
//! | `tick_time` | seconds of silence before a peer is down | 60 |
//! | `spin_us` | microseconds a connection polls after traffic before it sleeps (0 to 100,000) | 100 |
//! | `hidden` | run hidden | false |
//! | `strategy` | `static`, `local-epmd`, `epmd-hosts`, `gossip`, `dns`, `dns-srv` | none |
//! | `hosts` | nodes (`static`) or hosts (`epmd-hosts`), comma-separated or a TOML array | |
//! | `sync_optional` | nodes to wait for at start (any strategy; `static` also connects them) | |
//! | `sync_mandatory` | nodes that must be up at start (as `sync_optional`) | |
//! | `sync_timeout` | how long to wait for them | 30 s |
//! | `poll_interval` | how often to discover (every strategy) | strategy's own |
//! | `gossip_addr` | multicast group, or broadcast address | 233.252.1.32 |
//! | `gossip_port` | gossip UDP port | 45892 |
//! | `gossip_secret` | seal heartbeats with this secret | none |
//! | `gossip_if` | address of the interface to gossip on | chosen by routing |
//! | `gossip_ttl` | multicast TTL | 1 |
//! | `gossip_broadcast` | send to a broadcast address | false |
//! | `dns_query` | the name to resolve (`dns`, `dns-srv`) | |
//! | `dns_basename` | the `alive` part of discovered nodes | this node's |
//! | `dns_server` | a DNS server `ip` or `ip:port` instead of the system's | |
//! | `tls_cert`, `tls_key`, `tls_ca` | PEM files: this node's certificate chain and key, the CA for peers (all three turn TLS on) | no TLS |
//! | `tls_mutual` | accepting nodes require a certificate from connecting ones | true |
//! | `allow_nodes` | nodes allowed to connect, `*` as a wildcard (`net_kernel:allow`) | everyone |
//! | `allow_addrs` | addresses or ranges allowed to connect (`10.0.0.0/8`) | any |
//! | `erlang_dist` | speak Erlang distribution with BEAM nodes too (see README, Security) | false |
//! | `dist_protocol` | `auto`, `locus` or `erlang`: the protocol of peers dialled where no port mapper tells (fixed ports), or of all | auto |
//!
//! Durations are seconds (`2.5`) or carry a unit (`500ms`, `5s`, `2m`).
//!
//! ```no_run
//! use locus::config::Config;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::load(Some("locus.toml".as_ref()))?;
//! let node = config.node_builder()?.start().await?;
//! if let Some(cluster) = config.cluster()? {
//!     cluster.start(&node).await?;
//! }
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::cluster::{
    Cluster, ClusterBuilder, DnsPoll, EpmdHosts, Gossip, LocalEpmd, StaticHosts, SyncNodes,
};
use crate::kernel::NodeBuilder;
use crate::node::{Node, NodeName};

/// One setting: its file key; the environment variable and flag derive from it.
#[derive(Debug, Clone, Copy)]
struct Setting {
    key: &'static str,
}

impl Setting {
    fn env(self) -> String {
        match self.key {
            // The conventional spelling, as `RELEASE_NODE` for Elixir releases.
            "name" => "LOCUS_NODE".to_owned(),
            key => format!("LOCUS_{}", key.to_ascii_uppercase()),
        }
    }
    fn flag(self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }
}

/// Every setting, in the order of the table above.
const SETTINGS: &[&str] = &[
    "name",
    "cookie",
    "epmd_port",
    "epmd_address",
    "listen",
    "dist_port",
    "port_range",
    "tick_time",
    "spin_us",
    "hidden",
    "strategy",
    "hosts",
    "sync_optional",
    "sync_mandatory",
    "sync_timeout",
    "poll_interval",
    "gossip_addr",
    "gossip_port",
    "gossip_secret",
    "gossip_if",
    "gossip_ttl",
    "gossip_broadcast",
    "dns_query",
    "dns_basename",
    "dns_server",
    "tls_cert",
    "tls_key",
    "tls_ca",
    "tls_mutual",
    "allow_nodes",
    "allow_addrs",
    "erlang_dist",
    "dist_protocol",
];

fn setting(key: &str) -> Option<Setting> {
    SETTINGS
        .iter()
        .find(|k| **k == key)
        .map(|key| Setting { key })
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// A configuration file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "file {}", p.display()),
            Self::Env(v) => write!(f, "environment variable {v}"),
            Self::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A configuration could not be read or has a bad value. The message names the setting,
/// where the value came from and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read or is not TOML.
    #[error("cannot read configuration file {path}: {problem}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// The file has a key that is no setting.
    #[error("unknown setting {key:?} in {path} (settings: {known})", known = SETTINGS.join(", "))]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A value does not parse.
    #[error("invalid {setting} {value:?} (from {origin}): {expected}")]
    Invalid {
        /// The setting's file key.
        setting: &'static str,
        /// The value given.
        value: String,
        /// Where it came from.
        origin: Origin,
        /// What a valid value looks like.
        expected: String,
    },
    /// A setting the chosen strategy needs is missing.
    #[error(
        "{needed_by} needs {setting}: set {flag}, {env} or {setting} in the configuration file"
    )]
    Missing {
        /// The setting's file key.
        setting: &'static str,
        /// Its flag.
        flag: String,
        /// Its environment variable.
        env: String,
        /// What needs it.
        needed_by: String,
    },
}

/// Settings gathered from a file, the environment and flags. See the [module
/// docs](self) for the list.
#[derive(Debug, Clone, Default)]
pub struct Config {
    values: BTreeMap<&'static str, (String, Origin)>,
}

impl Config {
    /// No settings: every default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Defaults, then `file` if given, then the environment.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the file cannot be read, is not TOML or has unknown keys.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = Self::new();
        if let Some(path) = file {
            config = config.file(path)?;
        }
        Ok(config.env())
    }

    /// Layers the settings of a TOML file on top.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the file cannot be read, is not TOML or has unknown keys.
    pub fn file(self, path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            problem: e.to_string(),
        })?;
        self.toml(&text, path)
    }

    /// Layers the settings of TOML `text` on top, as if read from `path`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the text is not TOML or has unknown keys or nested tables.
    pub fn toml(mut self, text: &str, path: &Path) -> Result<Self, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            problem: e.to_string().trim_end().to_owned(),
        })?;
        for (key, value) in table {
            let Some(s) = setting(&key) else {
                return Err(ConfigError::UnknownKey {
                    path: path.to_owned(),
                    key,
                });
            };
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => {
                    let mut parts = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            toml::Value::String(s) => parts.push(s),
                            other => parts.push(other.to_string()),
                        }
                    }
                    parts.join(",")
                }
                other => {
                    return Err(ConfigError::Invalid {
                        setting: s.key,
                        value: other.to_string(),
                        origin: Origin::File(path.to_owned()),
                        expected: "a string, number, boolean or array".into(),
                    });
                }
            };
            self.values
                .insert(s.key, (text, Origin::File(path.to_owned())));
        }
        Ok(self)
    }

    /// Layers the `LOCUS_*` environment variables on top (empty ones are ignored).
    pub fn env(self) -> Self {
        self.env_from(|var| std::env::var(var).ok())
    }

    /// Layers variables from `lookup` on top, as [`env`](Self::env) does with the process
    /// environment.
    pub fn env_from(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        for key in SETTINGS {
            let var = Setting { key }.env();
            if let Some(v) = lookup(&var).filter(|v| !v.is_empty()) {
                self.values.insert(key, (v, Origin::Env(var)));
            }
        }
        self
    }

    /// Sets `key` from its command-line flag (a layer above everything else).
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnknownKey`] if `key` is not a setting.
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Result<Self, ConfigError> {
        let s = setting(key).ok_or_else(|| ConfigError::UnknownKey {
            path: PathBuf::from("<flags>"),
            key: key.to_owned(),
        })?;
        self.values
            .insert(s.key, (value.into(), Origin::Flag(s.flag())));
        Ok(self)
    }

    /// The raw value of a setting, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|(v, _)| v.as_str())
    }

    /// Parses `key` if given.
    fn parse<T>(
        &self,
        key: &'static str,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        let Some((value, origin)) = self.values.get(key) else {
            return Ok(None);
        };
        parse(value.trim())
            .map(Some)
            .ok_or_else(|| ConfigError::Invalid {
                setting: key,
                value: value.clone(),
                origin: origin.clone(),
                expected: expected.to_owned(),
            })
    }

    fn parsed<T: FromStr>(
        &self,
        key: &'static str,
        expected: &str,
    ) -> Result<Option<T>, ConfigError> {
        self.parse(key, expected, |v| v.parse().ok())
    }

    fn duration(&self, key: &'static str) -> Result<Option<Duration>, ConfigError> {
        self.parse(
            key,
            "a positive duration: seconds (2.5) or 500ms, 5s, 2m",
            parse_duration,
        )
    }

    fn flag_bool(&self, key: &'static str) -> Result<Option<bool>, ConfigError> {
        self.parse(key, "true or false", |v| {
            match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Some(true),
                "false" | "0" | "no" | "off" => Some(false),
                _ => None,
            }
        })
    }

    fn list(&self, key: &'static str) -> Vec<String> {
        self.get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn nodes(&self, key: &'static str) -> Result<Vec<NodeName>, ConfigError> {
        let mut nodes = Vec::new();
        for item in self.list(key) {
            match item.parse::<NodeName>() {
                Ok(n) => nodes.push(n),
                Err(e) => {
                    return Err(self.invalid(
                        key,
                        &item,
                        &format!("node names alive@host, comma-separated ({e})"),
                    ));
                }
            }
        }
        Ok(nodes)
    }

    fn required_for(&self, key: &'static str, needed_by: &str) -> ConfigError {
        ConfigError::Missing {
            setting: key,
            flag: Setting { key }.flag(),
            env: Setting { key }.env(),
            needed_by: needed_by.to_owned(),
        }
    }

    fn required(&self, key: &'static str, needed_by: &str) -> Result<String, ConfigError> {
        self.get(key)
            .map(str::to_owned)
            .ok_or_else(|| ConfigError::Missing {
                setting: key,
                flag: Setting { key }.flag(),
                env: Setting { key }.env(),
                needed_by: needed_by.to_owned(),
            })
    }

    /// A node builder with the node settings applied.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for a value that does not parse (the node itself checks the
    /// rest when it starts).
    pub fn node_builder(&self) -> Result<NodeBuilder, ConfigError> {
        let mut b = Node::builder();
        if let Some(name) = self.get("name") {
            b = b.name(name);
        }
        if let Some(cookie) = self.get("cookie") {
            b = b.cookie(cookie);
        }
        if let Some(p) = self.parsed::<u16>("epmd_port", "a port number 1-65535")? {
            b = b.epmd_port(p);
        }
        if let Some(ip) = self.parsed::<IpAddr>("listen", "an IP address")? {
            b = b.listen(ip);
        }
        if let Some(ip) = self.parsed::<IpAddr>("epmd_address", "an IP address")? {
            b = b.epmd_address(ip);
        }
        let fixed = self.parsed::<u16>("dist_port", "a port number 1-65535")?;
        let range = self.parse("port_range", "a port range A-B, such as 9100-9155", |v| {
            let (lo, hi) = v.split_once('-')?;
            let (lo, hi) = (
                lo.trim().parse::<u16>().ok()?,
                hi.trim().parse::<u16>().ok()?,
            );
            (lo >= 1 && lo <= hi).then_some(lo..=hi)
        })?;
        // Two spellings of one choice: the higher layer wins; one layer may not say both.
        match (fixed, range) {
            (Some(p), Some(r)) => match self.rank("dist_port").cmp(&self.rank("port_range")) {
                std::cmp::Ordering::Greater => b = b.dist_port(p),
                std::cmp::Ordering::Less => b = b.port_range(r),
                std::cmp::Ordering::Equal => {
                    let value = self.get("port_range").unwrap_or_default().to_owned();
                    return Err(self.invalid(
                        "port_range",
                        &value,
                        "either dist_port or port_range, not both",
                    ));
                }
            },
            (Some(p), None) => b = b.dist_port(p),
            (None, Some(r)) => b = b.port_range(r),
            (None, None) => {}
        }
        if let Some(t) = self.duration("tick_time")? {
            b = b.tick_time(t);
        }
        if let Some(us) = self.parse("spin_us", "microseconds from 0 to 100000", |v| {
            v.parse::<u64>().ok().filter(|&us| us <= 100_000)
        })? {
            b = b.spin(Duration::from_micros(us));
        }
        if let Some(h) = self.flag_bool("hidden")? {
            b = b.hidden(h);
        }
        if let Some(on) = self.flag_bool("erlang_dist")? {
            b = b.erlang_dist(on);
        }
        if let Some(p) = self.parse("dist_protocol", "auto, locus or erlang", |v| match v {
            "auto" => Some(crate::DistProtocol::Auto),
            "locus" => Some(crate::DistProtocol::Locus),
            "erlang" => Some(crate::DistProtocol::Erlang),
            _ => None,
        })? {
            b = b.dist_protocol(p);
        }
        let tls = [
            self.get("tls_cert"),
            self.get("tls_key"),
            self.get("tls_ca"),
        ];
        match tls {
            [None, None, None] => {}
            [Some(cert), Some(key), Some(ca)] => {
                let mut t = crate::TlsConfig::from_pem_files(cert, key, ca)
                    .map_err(|e| self.invalid("tls_cert", cert, &e.to_string()))?;
                if let Some(m) = self.flag_bool("tls_mutual")? {
                    t = t.mutual(m);
                }
                b = b.tls(t);
            }
            _ => {
                let missing = ["tls_cert", "tls_key", "tls_ca"]
                    .into_iter()
                    .zip(tls)
                    .find(|(_, v)| v.is_none())
                    .map_or("tls_ca", |(k, _)| k);
                return Err(
                    self.required_for(missing, "TLS (tls_cert, tls_key and tls_ca go together)")
                );
            }
        }
        b = b.allow_nodes(self.list("allow_nodes"));
        b = b.allow_addrs(self.list("allow_addrs"));
        Ok(b)
    }

    /// The cluster the `strategy` setting asks for, or `None` without one.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an unknown strategy, a setting it needs that is missing, or a
    /// value that does not parse.
    pub fn cluster(&self) -> Result<Option<ClusterBuilder>, ConfigError> {
        let Some(strategy) = self.get("strategy").map(str::to_owned) else {
            return Ok(None);
        };
        let interval = self.duration("poll_interval")?;
        let sync_timeout = self.duration("sync_timeout")?;
        let needed_by = format!("strategy {strategy}");
        let builder = Cluster::builder();
        let builder = match strategy.as_str() {
            "static" => {
                let hosts = self.nodes("hosts")?;
                if hosts.is_empty()
                    && self.get("sync_optional").is_none()
                    && self.get("sync_mandatory").is_none()
                {
                    self.required("hosts", &needed_by)?;
                }
                // The sync nodes are candidates too (the cluster waits for them below).
                let mut candidates = hosts;
                candidates.extend(self.nodes("sync_optional")?);
                candidates.extend(self.nodes("sync_mandatory")?);
                let mut s = StaticHosts::new(candidates);
                if let Some(i) = interval {
                    s = s.interval(i);
                }
                builder.topology("static", s)
            }
            "local-epmd" => {
                let mut s = LocalEpmd::new();
                if let Some(i) = interval {
                    s = s.interval(i);
                }
                builder.topology("local-epmd", s)
            }
            "epmd-hosts" => {
                let hosts = self.list("hosts");
                if hosts.is_empty() {
                    self.required("hosts", &needed_by)?;
                }
                let mut s = EpmdHosts::new(hosts);
                if let Some(i) = interval {
                    s = s.interval(i);
                }
                builder.topology("epmd-hosts", s)
            }
            "gossip" => builder.topology("gossip", self.gossip(interval)?),
            "dns" | "dns-srv" => {
                let query = self.required("dns_query", &needed_by)?;
                let basename = self.dns_basename(&needed_by)?;
                let server = self.parse(
                    "dns_server",
                    "an IP address, optionally with a port (10.0.0.2, 10.0.0.2:53, [fd00::2]:53)",
                    |v| {
                        v.parse::<SocketAddr>()
                            .ok()
                            .or_else(|| v.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
                    },
                )?;
                let mut s = DnsPoll::new(query, basename);
                if let Some(addr) = server {
                    s = s.server(addr);
                }
                if let Some(i) = interval {
                    s = s.interval(i);
                }
                if strategy == "dns" {
                    builder.topology("dns", s)
                } else {
                    builder.topology("dns-srv", s.into_srv())
                }
            }
            _ => {
                return Err(self.invalid(
                    "strategy",
                    &strategy,
                    "one of static, local-epmd, epmd-hosts, gossip, dns, dns-srv",
                ));
            }
        };
        let optional = self.nodes("sync_optional")?;
        let mandatory = self.nodes("sync_mandatory")?;
        if optional.is_empty() && mandatory.is_empty() {
            return Ok(Some(builder));
        }
        let timeout = sync_timeout.unwrap_or(crate::cluster::DEFAULT_SYNC_TIMEOUT);
        Ok(Some(builder.sync(SyncNodes {
            optional,
            mandatory,
            timeout,
        })))
    }

    /// `dns_basename`, or the `alive` part of this node's name.
    fn dns_basename(&self, needed_by: &str) -> Result<String, ConfigError> {
        if let Some(b) = self.get("dns_basename") {
            return match NodeName::from_parts(b, "localhost") {
                Ok(_) => Ok(b.to_owned()),
                Err(_) => Err(self.invalid("dns_basename", b, "letters, digits, '-' and '_'")),
            };
        }
        match self.get("name") {
            // `alive@host`, or a short name that is all `alive`.
            Some(n) => Ok(n.split_once('@').map_or(n, |(alive, _)| alive).to_owned()),
            None => self.required("dns_basename", needed_by),
        }
    }

    /// How high the layer that set `key` is: file 1, environment 2, flag 3.
    fn rank(&self, key: &str) -> u8 {
        match self.values.get(key) {
            Some((_, Origin::File(_))) => 1,
            Some((_, Origin::Env(_))) => 2,
            Some((_, Origin::Flag(_))) => 3,
            None => 0,
        }
    }

    /// The error for a bad `value` of `key`, with where `key` was set.
    fn invalid(&self, key: &'static str, value: &str, expected: &str) -> ConfigError {
        let origin = self
            .values
            .get(key)
            .map(|(_, o)| o.clone())
            .unwrap_or_else(|| Origin::Flag(Setting { key }.flag()));
        ConfigError::Invalid {
            setting: key,
            value: value.to_owned(),
            origin,
            expected: expected.to_owned(),
        }
    }

    fn gossip(&self, interval: Option<Duration>) -> Result<Gossip, ConfigError> {
        let mut g = Gossip::new();
        if let Some(a) =
            self.parsed::<Ipv4Addr>("gossip_addr", "an IPv4 multicast or broadcast address")?
        {
            g = g.addr(a);
        }
        if let Some(p) = self.parse("gossip_port", "a port number 1-65535", |v| {
            v.parse::<u16>().ok().filter(|p| *p != 0)
        })? {
            g = g.port(p);
        }
        if let Some(s) = self.get("gossip_secret") {
            if s.is_empty() {
                return Err(self.invalid(
                    "gossip_secret",
                    s,
                    "a non-empty secret (anyone could derive the key of an empty one)",
                ));
            }
            g = g.secret(s);
        }
        if let Some(i) = self.parsed::<Ipv4Addr>("gossip_if", "the IPv4 address of an interface")? {
            g = g.interface(i);
        }
        if let Some(t) = self.parse("gossip_ttl", "a TTL from 1 to 255", |v| {
            v.parse::<u32>().ok().filter(|t| (1..=255).contains(t))
        })? {
            g = g.ttl(t);
        }
        if let Some(b) = self.flag_bool("gossip_broadcast")? {
            g = g.broadcast(b);
        }
        let broadcast = self.flag_bool("gossip_broadcast")?.unwrap_or(false);
        if let Some(a) = self.get("gossip_addr")
            && !broadcast
            && a.parse::<Ipv4Addr>().is_ok_and(|ip| !ip.is_multicast())
        {
            return Err(self.invalid(
                "gossip_addr",
                a,
                "a multicast group (224.0.0.0-239.255.255.255), or set gossip_broadcast to send to a broadcast address",
            ));
        }
        if let Some(i) = interval {
            g = g.interval(i);
        }
        Ok(g)
    }
}

/// `2.5`, `2.5s`, `500ms`, `2m`.
fn parse_duration(v: &str) -> Option<Duration> {
    let (number, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else {
        (v, 1.0)
    };
    let secs = number.trim().parse::<f64>().ok()? * scale;
    (secs.is_finite() && secs > 0.0 && secs < 1e9).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let file = "gossip_port = 1000\ndns_query = \"file.test\"\nstrategy = \"gossip\"\nhosts = [\"a@h\", \"b@h\"]\n";
        let c = Config::new()
            .toml(file, Path::new("locus.toml"))
            .unwrap()
            .env_from(env(&[
                ("LOCUS_GOSSIP_PORT", "2000"),
                ("LOCUS_DNS_QUERY", "env.test"),
            ]))
            .set("gossip_port", "3000")
            .unwrap();
        assert_eq!(c.get("gossip_port"), Some("3000"));
        assert_eq!(c.get("dns_query"), Some("env.test"));
        assert_eq!(c.get("strategy"), Some("gossip"));
        assert_eq!(c.get("hosts"), Some("a@h,b@h"));
        assert_eq!(c.get("gossip_secret"), None);
    }

    #[test]
    fn bad_values_name_setting_and_origin() {
        let c = Config::new().env_from(env(&[
            ("LOCUS_GOSSIP_PORT", "many"),
            ("LOCUS_STRATEGY", "gossip"),
        ]));
        let e = c.cluster().unwrap_err().to_string();
        assert!(
            e.contains("gossip_port") && e.contains("LOCUS_GOSSIP_PORT") && e.contains("many"),
            "{e}"
        );

        let c = Config::new().set("strategy", "carrier-pigeon").unwrap();
        let e = c.cluster().unwrap_err().to_string();
        assert!(e.contains("--strategy") && e.contains("dns-srv"), "{e}");

        let c = Config::new()
            .toml(
                "strategy = \"static\"\nhosts = [\"not a node\"]",
                Path::new("c.toml"),
            )
            .unwrap();
        let e = c.cluster().unwrap_err().to_string();
        assert!(e.contains("hosts") && e.contains("c.toml"), "{e}");

        let c = Config::new()
            .set("sync_timeout", "soon")
            .unwrap()
            .set("strategy", "static")
            .unwrap()
            .set("hosts", "b@h")
            .unwrap();
        let e = c.cluster().unwrap_err().to_string();
        assert!(e.contains("--sync-timeout"), "{e}");

        let c = Config::new().set("port_range", "9000-8000").unwrap();
        let e = c.node_builder().unwrap_err().to_string();
        assert!(e.contains("port_range"), "{e}");

        for bad in ["200000", "-1", "fast"] {
            let c = Config::new().set("spin_us", bad).unwrap();
            let e = c.node_builder().unwrap_err().to_string();
            assert!(e.contains("spin_us") && e.contains("100000"), "{e}");
        }
        let c = Config::new().set("spin_us", "0").unwrap();
        assert!(format!("{:?}", c.node_builder().unwrap()).contains("spin: Some(0ns)"));
    }

    #[test]
    fn missing_and_unknown_settings_say_how_to_set_them() {
        let c = Config::new().set("strategy", "dns").unwrap();
        let e = c.cluster().unwrap_err().to_string();
        assert!(
            e.contains("--dns-query") && e.contains("LOCUS_DNS_QUERY"),
            "{e}"
        );
        let e = Config::new()
            .toml("gosip_port = 1", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("gosip_port") && e.contains("gossip_port"), "{e}");
        let e = Config::new()
            .toml("name = ", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && e.contains("line 1"), "{e}");
    }

    #[test]
    fn basename_defaults_to_this_nodes_alive_part() {
        let c = Config::new()
            .set("name", "app@10.0.0.1")
            .unwrap()
            .set("strategy", "dns")
            .unwrap()
            .set("dns_query", "app.internal")
            .unwrap();
        assert!(c.cluster().unwrap().is_some());
        assert_eq!(c.dns_basename("x").unwrap(), "app");
    }

    #[test]
    fn dist_port_and_port_range_follow_the_layers() {
        // A flag's fixed port beats a range from the environment...
        let c = Config::new()
            .env_from(env(&[("LOCUS_PORT_RANGE", "9100-9155")]))
            .set("dist_port", "9000")
            .unwrap();
        assert!(format!("{:?}", c.node_builder().unwrap()).contains("Fixed(9000)"));
        // ...a flag's range beats a fixed port from the file...
        let c = Config::new()
            .toml("dist_port = 9000", Path::new("f.toml"))
            .unwrap()
            .set("port_range", "9100-9155")
            .unwrap();
        assert!(format!("{:?}", c.node_builder().unwrap()).contains("Range(9100, 9155)"));
        // ...and one layer may not say both.
        let e = Config::new()
            .toml(
                "dist_port = 9000\nport_range = \"9100-9155\"",
                Path::new("f.toml"),
            )
            .unwrap()
            .node_builder()
            .unwrap_err()
            .to_string();
        assert!(e.contains("either dist_port or port_range"), "{e}");
    }

    #[test]
    fn gossip_settings_are_checked() {
        let gossip = || Config::new().set("strategy", "gossip").unwrap();
        let e = gossip()
            .set("gossip_secret", "")
            .unwrap()
            .cluster()
            .unwrap_err()
            .to_string();
        assert!(e.contains("gossip_secret"), "{e}");
        let e = gossip()
            .set("gossip_addr", "10.0.0.255")
            .unwrap()
            .cluster()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("multicast") && e.contains("gossip_broadcast"),
            "{e}"
        );
        assert!(
            gossip()
                .set("gossip_addr", "10.0.0.255")
                .unwrap()
                .set("gossip_broadcast", "true")
                .unwrap()
                .cluster()
                .is_ok()
        );
    }

    #[test]
    fn a_short_name_is_its_own_basename() {
        let c = Config::new().set("name", "app").unwrap();
        assert_eq!(c.dns_basename("x").unwrap(), "app");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2.5"), Some(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("-1"), None);
        assert_eq!(parse_duration("soon"), None);
    }
}
