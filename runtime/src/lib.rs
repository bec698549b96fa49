//! The runtime behind [locus](https://docs.rs/locus): processes, mailboxes, GenServer,
//! supervisors and nodes.
//!
//! Users depend on the `locus` crate, which re-exports what is public here.

#![doc(test(attr(deny(warnings))))]

pub mod gen_server;
pub mod node;
pub mod process;
mod registry;
pub mod supervisor;

pub use gen_server::*;
pub use node::{Node, NodeBuilder, NodeError, NodeName, NodeNameError};
pub use process::*;
pub use supervisor::*;
pub mod dist;
pub use dist::epmd;
pub use dist::{ConnectError, HandshakeError, NodeEvent, NodeEvents};
pub use node::NodeDownReason;
