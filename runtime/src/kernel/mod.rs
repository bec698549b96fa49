//! The kernel: what boots a node, as OTP's kernel application does. The builder reads the
//! settings, distribution starts, then net_kernel and the services the builder was given
//! (see `service`).

pub(crate) mod beam;
mod boot;
mod builder;
mod net_kernel;
mod service;

#[cfg(feature = "observer")]
pub(crate) use builder::OnStart;
pub use builder::{NodeBuilder, NodeError, ToListenAddr};
pub(crate) use service::{Service, ensure_started, nothing_to_install};
