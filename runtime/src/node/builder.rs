//! Configuring and starting a node.

use super::{Node, NodeName, NodeNameError};

/// Configures a [`Node`]; [`start`](Self::start) runs it.
///
/// ```
/// use locus::Node;
///
/// # #[tokio::main] async fn main() -> Result<(), locus::NodeError> {
/// let node = Node::builder().start().await?;
/// # drop(node);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until .start() is awaited"]
pub struct NodeBuilder {
    name: Option<String>,
}

/// A node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The node name is malformed.
    #[error(transparent)]
    Name(#[from] NodeNameError),
    /// No tokio runtime is running.
    #[error("a node must be started inside a tokio runtime (for example under #[tokio::main])")]
    NoRuntime,
}

impl NodeBuilder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The node's name, `alive@host` (Erlang's `--name`). Without one the node is
    /// `nonode@nohost` and runs locally.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Starts the node.
    ///
    /// # Errors
    ///
    /// [`NodeError`] says which setting is wrong.
    pub async fn start(self) -> Result<Node, NodeError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NodeError::NoRuntime)?;
        let name = match &self.name {
            Some(n) => NodeName::new(n)?,
            None => NodeName::no_node(),
        };
        Ok(Node::from_parts(name, 1, runtime))
    }
}
