//! Booting a distributed node: distribution first, then the servers every named node runs.

use crate::dist::{self, DistConfig};
use crate::gen_server::GenServer;
use crate::node::{Node, NodeName};

use super::NodeError;
use super::net_kernel::{self, NetKernel};

/// Starts distribution for `name`, then net_kernel and the cluster services.
pub(crate) async fn start_distributed(
    name: NodeName,
    config: DistConfig,
    runtime: tokio::runtime::Handle,
) -> Result<Node, NodeError> {
    let node = dist::start(name, config, runtime).await?;
    NetKernel::start(&node, NetKernel)
        .register(net_kernel::NAME)
        .await
        .map_err(|e| NodeError::Listen(format!("cannot start net_kernel: {e}")))?;
    crate::rpc::start(&node)
        .await
        .map_err(|e| NodeError::Listen(format!("cannot start the rpc server: {e}")))?;
    crate::pg::start_default(&node)
        .await
        .map_err(|e| NodeError::Listen(format!("cannot start process groups: {e}")))?;
    node.pg_scope("locus.pubsub")
        .ensure_started()
        .await
        .map_err(|e| NodeError::Listen(format!("cannot start pubsub: {e}")))?;
    crate::pubsub::start(&node)
        .await
        .map_err(|e| NodeError::Listen(format!("cannot start pubsub: {e}")))?;
    crate::global::start(&node)
        .await
        .map_err(|e| NodeError::Listen(format!("cannot start global names: {e}")))?;
    Ok(node)
}
