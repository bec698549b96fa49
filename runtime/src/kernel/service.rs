//! Services: what a node runs beyond its core (rpc, process groups, pubsub, global names,
//! remote spawn, introspection), and the one rule that starts them.
//!
//! The kernel boots services it does not know: each is a [`Service`] value, and the list
//! it boots is handed to it from above (`crate::services`), so nothing here imports a
//! service. At boot, every node runs each service's `install` (what it offers, such as its
//! rpc functions); a distributed node also starts each service's servers, so that it
//! answers its peers from the start. Elsewhere a service starts on first use, through
//! [`ensure_started`], the same way.

use std::future::Future;

use futures::future::BoxFuture;

use crate::gen_server::StartError;
use crate::node::Node;

/// Starts a service's servers on a node.
pub(crate) type StartFn = fn(&Node) -> BoxFuture<'_, Result<(), StartError>>;

/// A service the kernel boots.
#[derive(Clone, Copy)]
pub(crate) struct Service {
    /// What it is, for logs and errors ("the rpc server", "process groups").
    pub(crate) name: &'static str,
    /// Runs on every node as it boots, distributed or not: registers what the service
    /// offers (its built-in rpc functions, say). Cannot fail.
    pub(crate) install: fn(&Node),
    /// Starts the service's servers, through [`ensure_started`]: at boot on a distributed
    /// node; otherwise the service calls it on first use.
    pub(crate) start: Option<StartFn>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Does nothing: the `install` of a service that offers nothing at boot.
pub(crate) fn nothing_to_install(_: &Node) {}

/// Starts the server registered as `server` with `start`, unless it runs.
///
/// The rule for every service, whether started at boot or on first use: a server that is
/// registered is running, and is left alone; otherwise it is started; a start that finds
/// the name taken meanwhile (another caller started it first) counts as started. A server
/// that died is started again by the next caller.
///
/// # Errors
///
/// What `start` failed with, other than the name being taken.
pub(crate) async fn ensure_started<F>(
    node: &Node,
    server: &str,
    start: impl FnOnce() -> F,
) -> Result<(), StartError>
where
    F: Future<Output = Result<(), StartError>>,
{
    if node.whereis(server).is_some() {
        return Ok(());
    }
    match start().await {
        Ok(()) | Err(StartError::AlreadyStarted(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
