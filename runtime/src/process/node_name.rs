//! Node names: `alive@host`, validated once and then cheap to clone and compare.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The name of a node: `alive@host`, as in Erlang (`n1@127.0.0.1`, `app@fdaa::2`).
///
/// The part before the `@` (the "alive" part) is made of ASCII letters, digits, `_` and `-`;
/// the host is a host name, an IPv4 address or an IPv6 address. A node that runs without
/// distribution is called `nonode@nohost`, as in Erlang.
///
/// Cloning is cheap (a reference count); comparison is by value.
///
/// # Examples
///
/// ```
/// use locus::NodeName;
///
/// let name: NodeName = "n1@127.0.0.1".parse()?;
/// assert_eq!(name.alive(), "n1");
/// assert_eq!(name.host(), "127.0.0.1");
/// assert!("no-at-sign".parse::<NodeName>().is_err());
/// # Ok::<(), locus::NodeNameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName {
    full: Arc<str>,
    at: usize,
}

/// Why a string is not a valid node name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeNameError {
    /// The name has no `@`, or more parts than `alive@host`.
    #[error("invalid node name {0:?}: expected alive@host, for example n1@127.0.0.1")]
    Shape(String),
    /// The part before `@` is empty, too long or has characters other than letters, digits, `_`, `-`.
    #[error(
        "invalid node name {0:?}: the part before '@' must be 1 to 255 ASCII letters, digits, '_' or '-'"
    )]
    Alive(String),
    /// The host part is empty or has characters a host name or IP address cannot have.
    #[error(
        "invalid node name {0:?}: the host after '@' must be a host name, an IPv4 or an IPv6 address"
    )]
    Host(String),
}

/// The longest accepted alive part, as EPMD's name field (bytes).
const MAX_ALIVE_LEN: usize = 255;
/// The longest accepted host part: a DNS name is at most 253 bytes.
const MAX_HOST_LEN: usize = 253;

impl NodeName {
    /// The name of a node that runs without distribution.
    pub const NO_NODE: &'static str = "nonode@nohost";

    /// Parses and validates `alive@host`.
    ///
    /// # Errors
    ///
    /// [`NodeNameError`] says which part is wrong.
    pub fn new(name: &str) -> Result<Self, NodeNameError> {
        let at = name
            .find('@')
            .ok_or_else(|| NodeNameError::Shape(name.to_owned()))?;
        let (alive, host) = (&name[..at], &name[at + 1..]);
        if !valid_alive(alive) {
            return Err(NodeNameError::Alive(name.to_owned()));
        }
        if host.contains('@') {
            return Err(NodeNameError::Shape(name.to_owned()));
        }
        if !valid_host(host) {
            return Err(NodeNameError::Host(name.to_owned()));
        }
        Ok(Self {
            full: Arc::from(name),
            at,
        })
    }

    /// Builds `alive@host` from its two parts, validating both.
    ///
    /// # Errors
    ///
    /// [`NodeNameError`] says which part is wrong.
    pub fn from_parts(alive: &str, host: &str) -> Result<Self, NodeNameError> {
        Self::new(&format!("{alive}@{host}"))
    }

    /// The name of a node without distribution, `nonode@nohost`.
    pub fn no_node() -> Self {
        Self {
            full: Arc::from(Self::NO_NODE),
            at: 6,
        }
    }

    /// Whether this is `nonode@nohost`, the name of a node without distribution.
    pub fn is_no_node(&self) -> bool {
        &*self.full == Self::NO_NODE
    }

    /// The whole name, `alive@host`.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The part before `@` (what EPMD registers).
    pub fn alive(&self) -> &str {
        &self.full[..self.at]
    }

    /// The part after `@`: a host name or an IP address (empty for a name that is no node
    /// name, see [`Dest`](crate::Dest)'s conversions from two strings).
    pub fn host(&self) -> &str {
        self.full.get(self.at + 1..).unwrap_or("")
    }

    /// A name that names no node, kept as the user wrote it (`at` past its end, which a valid
    /// name never has): a destination built from it reaches nothing, as a message to a
    /// malformed node atom does in Erlang.
    pub(crate) fn unroutable(text: &str) -> Self {
        Self {
            full: Arc::from(text),
            at: text.len(),
        }
    }

    /// Whether this names a node at all (false only for [`unroutable`](Self::unroutable)).
    pub(crate) fn is_routable(&self) -> bool {
        self.at < self.full.len()
    }

    /// Whether two handles share one allocation: a fast pre-check before comparing text.
    pub(crate) fn same_alloc(&self, other: &NodeName) -> bool {
        Arc::ptr_eq(&self.full, &other.full)
    }
}

fn valid_alive(alive: &str) -> bool {
    !alive.is_empty()
        && alive.len() <= MAX_ALIVE_LEN
        && alive
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn valid_host(host: &str) -> bool {
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return false;
    }
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    // A host name: labels of letters, digits, '-' and '_' separated by dots.
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Anything that names a node, as users write it: `"b@127.0.0.1"`, a `String`, a
/// [`NodeName`] or a reference to one. Every API that names a node takes one; a string that
/// is not a valid name fails there with a [`NodeNameError`] saying why.
///
/// ```
/// use locus::{IntoNodeName, NodeName};
///
/// let n: NodeName = "b@127.0.0.1".into_node_name()?;
/// assert_eq!((&n).into_node_name()?, n);
/// assert!("no-at-sign".into_node_name().is_err());
/// # Ok::<(), locus::NodeNameError>(())
/// ```
pub trait IntoNodeName {
    /// The node name, validated.
    ///
    /// # Errors
    ///
    /// [`NodeNameError`] for a string that is not `alive@host`.
    fn into_node_name(self) -> Result<NodeName, NodeNameError>;
}

impl IntoNodeName for NodeName {
    fn into_node_name(self) -> Result<NodeName, NodeNameError> {
        Ok(self)
    }
}

impl IntoNodeName for &NodeName {
    fn into_node_name(self) -> Result<NodeName, NodeNameError> {
        Ok(self.clone())
    }
}

impl IntoNodeName for &str {
    fn into_node_name(self) -> Result<NodeName, NodeNameError> {
        NodeName::new(self)
    }
}

impl IntoNodeName for &&str {
    fn into_node_name(self) -> Result<NodeName, NodeNameError> {
        NodeName::new(self)
    }
}

impl IntoNodeName for String {
    fn into_node_name(self) -> Result<NodeName, NodeNameError> {
        NodeName::new(&self)
    }
}

impl IntoNodeName for &String {
    fn into_node_name(self) -> Result<NodeName, NodeNameError> {
        NodeName::new(self)
    }
}

impl FromStr for NodeName {
    type Err = NodeNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for NodeName {
    type Error = NodeNameError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for NodeName {
    type Error = NodeNameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.full)
    }
}

impl AsRef<str> for NodeName {
    fn as_ref(&self) -> &str {
        &self.full
    }
}

impl PartialEq<str> for NodeName {
    fn eq(&self, other: &str) -> bool {
        &*self.full == other
    }
}

impl PartialEq<&str> for NodeName {
    fn eq(&self, other: &&str) -> bool {
        &*self.full == *other
    }
}

impl Serialize for NodeName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.full)
    }
}

impl<'de> Deserialize<'de> for NodeName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s == Self::NO_NODE {
            return Ok(Self::no_node());
        }
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_long_short_ipv4_and_ipv6_names() {
        for ok in [
            "n1@127.0.0.1",
            "a@host",
            "app@fly-local-6pn.internal",
            "app@fdaa::2",
            "my_app-2@10.0.0.7",
        ] {
            let n = NodeName::new(ok).unwrap();
            assert_eq!(n.as_str(), ok);
        }
        let v6 = NodeName::new("app@fdaa:0:1::2").unwrap();
        assert_eq!(v6.alive(), "app");
        assert_eq!(v6.host(), "fdaa:0:1::2");
    }

    #[test]
    fn rejects_malformed_names_with_the_failing_part() {
        assert!(matches!(NodeName::new("n1"), Err(NodeNameError::Shape(_))));
        assert!(matches!(
            NodeName::new("@host"),
            Err(NodeNameError::Alive(_))
        ));
        assert!(matches!(
            NodeName::new("a b@host"),
            Err(NodeNameError::Alive(_))
        ));
        assert!(matches!(NodeName::new("a@"), Err(NodeNameError::Host(_))));
        assert!(matches!(
            NodeName::new("a@b@c"),
            Err(NodeNameError::Shape(_))
        ));
        assert!(matches!(
            NodeName::new("a@ho st"),
            Err(NodeNameError::Host(_))
        ));
        assert!(matches!(
            NodeName::new("a@host..x"),
            Err(NodeNameError::Host(_))
        ));
        let msg = NodeName::new("n1").unwrap_err().to_string();
        assert!(msg.contains("alive@host"), "{msg}");
    }

    #[test]
    fn serde_round_trip_validates() {
        let n = NodeName::new("n1@127.0.0.1").unwrap();
        let bytes = rmp_serde::to_vec(&n).unwrap();
        let back: NodeName = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, n);
        let bad = rmp_serde::to_vec("bad name").unwrap();
        assert!(rmp_serde::from_slice::<NodeName>(&bad).is_err());
        let none = rmp_serde::to_vec(NodeName::NO_NODE).unwrap();
        assert!(
            rmp_serde::from_slice::<NodeName>(&none)
                .unwrap()
                .is_no_node()
        );
    }
}
