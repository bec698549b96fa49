//! Booting a node: distribution first (for a named node), then net_kernel and the
//! services, in the order given.

use crate::dist::{self, DistConfig};
use crate::gen_server::GenServer;
use crate::node::{Node, NodeName};

use super::NodeError;
use super::net_kernel::{self, NetKernel};
use super::service::{Service, ensure_started};

/// Starts distribution for `name` and boots the node.
pub(crate) async fn start_distributed(
    name: NodeName,
    config: DistConfig,
    runtime: tokio::runtime::Handle,
    services: &[Service],
) -> Result<Node, NodeError> {
    let node = dist::start(name, config, runtime).await?;
    ensure_started(&node, net_kernel::NAME, || async {
        NetKernel::start(&node, NetKernel)
            .register(net_kernel::NAME)
            .await
            .map(drop)
    })
    .await
    .map_err(|e| NodeError::Listen(format!("cannot start net_kernel: {e}")))?;
    boot(&node, services).await?;
    Ok(node)
}

/// Installs every service on `node` and, if it is distributed, starts them.
pub(crate) async fn boot(node: &Node, services: &[Service]) -> Result<(), NodeError> {
    for service in services {
        (service.install)(node);
    }
    if !node.is_distributed() {
        return Ok(());
    }
    for service in services {
        if let Some(start) = service.start {
            start(node)
                .await
                .map_err(|e| NodeError::Listen(format!("cannot start {}: {e}", service.name)))?;
        }
    }
    Ok(())
}
