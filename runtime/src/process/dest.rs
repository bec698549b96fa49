//! Where a message goes: a pid, a name on this node, or a name on another node.

use std::fmt;
use std::sync::Arc;

use super::NodeName;

use super::Pid;

/// The destination of a send, call or cast: a [`Pid`], a name registered on this node, or a
/// name on another node (Erlang's `{Name, Node}`).
///
/// Conversions exist from `Pid`, `&Pid`, `&str`, `String` and `(name, node)` tuples (the node
/// a [`NodeName`] or a string: `("echo", "b@127.0.0.1")`), so every API that takes
/// `impl Into<Dest>` accepts all of them.
///
/// ```
/// use locus::{Dest, NodeName};
///
/// let node: NodeName = "n2@127.0.0.1".parse()?;
/// let d: Dest = ("ping", node).into();
/// assert_eq!(d.to_string(), "{ping, n2@127.0.0.1}");
/// # Ok::<(), locus::NodeNameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Dest {
    /// A process by pid, on any node.
    Pid(Pid),
    /// A name registered on the local node.
    Name(Arc<str>),
    /// A name registered on the given node (which may be the local node).
    Remote(Arc<str>, NodeName),
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Pid(p) => fmt::Display::fmt(p, f),
            Dest::Name(n) => f.write_str(n),
            // Erlang's `{Name, Node}`.
            Dest::Remote(n, node) => write!(f, "{{{n}, {node}}}"),
        }
    }
}

impl fmt::Debug for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<Pid> for Dest {
    fn from(p: Pid) -> Self {
        Dest::Pid(p)
    }
}

impl From<&Pid> for Dest {
    fn from(p: &Pid) -> Self {
        Dest::Pid(p.clone())
    }
}

impl From<&str> for Dest {
    fn from(n: &str) -> Self {
        Dest::Name(Arc::from(n))
    }
}

impl From<String> for Dest {
    fn from(n: String) -> Self {
        Dest::Name(Arc::from(n))
    }
}

impl From<&String> for Dest {
    fn from(n: &String) -> Self {
        Dest::Name(Arc::from(n.as_str()))
    }
}

impl From<&Dest> for Dest {
    fn from(d: &Dest) -> Self {
        d.clone()
    }
}

/// `(name, node)` with the node as a string, as users write it: `("echo", "b@127.0.0.1")`.
/// A string that is no node name gives a destination that reaches nothing (sends are
/// dropped, calls fail with `NodeDown`, as in Erlang), and a warning is logged at once.
fn remote_by_strings(name: &str, node: &str) -> Dest {
    let node = NodeName::new(node).unwrap_or_else(|e| {
        tracing::warn!(name, error = %e, "a destination names no node; nothing will reach it");
        NodeName::unroutable(node)
    });
    Dest::Remote(Arc::from(name), node)
}

impl From<(&str, &str)> for Dest {
    fn from((n, node): (&str, &str)) -> Self {
        remote_by_strings(n, node)
    }
}

impl From<(&str, String)> for Dest {
    fn from((n, node): (&str, String)) -> Self {
        remote_by_strings(n, &node)
    }
}

impl From<(String, &str)> for Dest {
    fn from((n, node): (String, &str)) -> Self {
        remote_by_strings(&n, node)
    }
}

impl From<(String, String)> for Dest {
    fn from((n, node): (String, String)) -> Self {
        remote_by_strings(&n, &node)
    }
}

impl From<(&str, NodeName)> for Dest {
    fn from((n, node): (&str, NodeName)) -> Self {
        Dest::Remote(Arc::from(n), node)
    }
}

impl From<(&str, &NodeName)> for Dest {
    fn from((n, node): (&str, &NodeName)) -> Self {
        Dest::Remote(Arc::from(n), node.clone())
    }
}

impl From<(String, NodeName)> for Dest {
    fn from((n, node): (String, NodeName)) -> Self {
        Dest::Remote(Arc::from(n), node)
    }
}

impl From<(&String, &NodeName)> for Dest {
    fn from((n, node): (&String, &NodeName)) -> Self {
        Dest::Remote(Arc::from(n.as_str()), node.clone())
    }
}
