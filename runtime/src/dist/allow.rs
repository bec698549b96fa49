//! Who may connect (`net_kernel:allow`): node names, with `*` wildcards, and address
//! ranges. An empty list allows everyone. The lists apply both ways: a node refuses
//! connections from, and does not make connections to, peers outside them.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::node::NodeName;

/// The allow-lists of a node.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowList {
    nodes: Vec<String>,
    addrs: Vec<IpNet>,
}

impl AllowList {
    /// Checks and stores the lists; the error names the bad entry.
    pub(crate) fn new(nodes: Vec<String>, addrs: &[String]) -> Result<Self, String> {
        for n in &nodes {
            if n.is_empty() || !n.contains('@') {
                return Err(format!(
                    "{n:?} is not a node name pattern: use alive@host, with * as a wildcard (app@*, *@10.0.0.5)"
                ));
            }
        }
        let addrs = addrs
            .iter()
            .map(|a| {
                a.parse::<IpNet>()
                    .or_else(|_| a.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("{a:?} is not an address or range (10.0.0.0/8, fd00::/8, 10.0.0.5)")
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { nodes, addrs })
    }

    /// Whether `name` may connect.
    pub(crate) fn allows_node(&self, name: &NodeName) -> bool {
        self.nodes.is_empty() || self.nodes.iter().any(|p| glob(p, name.as_str()))
    }

    /// Whether a peer at `ip` may connect.
    pub(crate) fn allows_addr(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            // An IPv4 peer on a dual-stack socket.
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.addrs.is_empty() || self.addrs.iter().any(|net| net.contains(&ip))
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*` at all.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn name(s: &str) -> NodeName {
        s.parse().unwrap()
    }

    #[test]
    fn node_patterns() {
        let l = AllowList::new(
            vec!["app@*".into(), "*@10.0.0.5".into(), "db@h".into()],
            &[],
        )
        .unwrap();
        assert!(l.allows_node(&name("app@anywhere.example")));
        assert!(l.allows_node(&name("x@10.0.0.5")));
        assert!(l.allows_node(&name("db@h")));
        assert!(!l.allows_node(&name("db@h2")));
        assert!(!l.allows_node(&name("web@10.0.0.6")));
        assert!(AllowList::default().allows_node(&name("any@h")));
        assert!(
            glob("a*b*c", "aXXbYYc") && !glob("a*b*c", "aXXbYY") && glob("*", "") && glob("a", "a")
        );
        assert!(AllowList::new(vec!["nope".into()], &[]).is_err());
    }

    #[test]
    fn address_ranges() {
        let l = AllowList::new(
            vec![],
            &["10.0.0.0/8".into(), "fd00::/8".into(), "192.168.1.7".into()],
        )
        .unwrap();
        assert!(l.allows_addr("10.1.2.3".parse().unwrap()));
        assert!(l.allows_addr("::ffff:10.1.2.3".parse().unwrap()));
        assert!(l.allows_addr("fd00::5".parse().unwrap()));
        assert!(l.allows_addr("192.168.1.7".parse().unwrap()));
        assert!(!l.allows_addr("192.168.1.8".parse().unwrap()));
        assert!(!l.allows_addr("127.0.0.1".parse().unwrap()));
        assert!(
            AllowList::new(vec![], &["10.0.0/8".into()])
                .unwrap_err()
                .contains("10.0.0/8")
        );
    }
}
