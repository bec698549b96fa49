//! The kernel: what boots a node, as OTP's kernel application does. The builder reads the
//! settings, distribution starts, then net_kernel and the cluster services.

mod boot;
mod builder;
mod net_kernel;

pub use builder::{NodeBuilder, NodeError};
