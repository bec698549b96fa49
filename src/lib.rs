//! locus: Erlang/Elixir distribution in Rust.
//!
//! Processes with mailboxes and registered names run on named nodes; a distribution layer
//! routes `send((name, node), msg)` over an authenticated full mesh of TCP connections;
//! `#[gen_server]` turns an `impl` block into a GenServer with a typed client. Start with
//! `use locus::prelude::*;`.
//!
//! # A tour
//!
//! - **Nodes.** [`Node::builder`] starts one; with a name it joins other nodes
//!   ([`Node::connect`], [`Node::nodes`], [`Node::node_events`]). Several nodes can run in one
//!   OS process. One connection per node pair keeps messages from one process to another in
//!   order; when a connection is lost, calls waiting on it fail with
//!   [`CallError::NodeDown`], links and monitors across it fire with
//!   [`ExitReason::NoConnection`], and node monitors get [`Signal::NodeDown`] with the reason.
//! - **Processes.** [`Node::spawn`] runs an async function with a [`Ctx`]: its [`Pid`], its
//!   mailbox ([`Ctx::recv`] yields [`Signal`]s), links, monitors, timers, registered names.
//!   Messages from one sender to one process arrive in the order sent, and a signal never
//!   overtakes an earlier message; however a process ends, its links and monitors are told.
//! - **GenServer.** [`GenServer`] (call/cast/info callbacks, as OTP's `gen_server`) and its
//!   [`Client`]; [`gen_server`](macro@gen_server) writes both from an `impl` block. Every call
//!   ends: a reply, [`CallError::Timeout`] after 5 s by default, or an error at once when the
//!   server is gone.
//! - **Supervisors.** [`Supervisor`]: one-for-one, one-for-all, rest-for-one, restart
//!   intensity, ordered shutdown.
//! - **Cluster services.** [`Rpc`] (`:erpc`, `:rpc.multicall`), [`Global`] (`:global`),
//!   [`Pg`] (`:pg`), [`PubSub`] (`Phoenix.PubSub`), remote spawn ([`Node::spawn_on`]).
//! - **Clusters that form themselves.** [`cluster`]: strategies that discover nodes (host
//!   lists, the port mapper, UDP gossip, DNS, your own); [`config`] reads node and cluster
//!   settings from a TOML file, the environment and flags.
//! - **Looking inside.** [`introspect`] ([`Node::info`]), and the `observer` dashboard.
//!
//! # Features
//!
//! - `cli` (default): the `locus` command and what only it needs (clap,
//!   tracing-subscriber, serde_json, mimalloc). A library user can turn default features off
//!   (`locus = { version = "0.1", default-features = false }`) to build the library alone.
//! - `observer` (default): the cluster dashboard ([`NodeBuilder::observer`], `observer`).
//! - `fuzzing`: entry points for the fuzz targets. `test-hooks`: partitions made on purpose
//!   (`Node::partition_from`, `Node::heal_with`), for tests.

// Macros.
pub use locus_macros::gen_server;

// Nodes.
pub use locus_runtime::{
    IntoNodeName, Node, NodeBuilder, NodeError, NodeName, NodeNameError, ToListenAddr,
};

// Processes.
pub use locus_runtime::{
    Addr, Blob, Ctx, CustomReason, Dest, Down, Exit, ExitReason, ExitWatch, IntoExitReason,
    Message, MonitorRef, NoProcError, Pid, RegisterError, SendError, Signal, SpawnOpts, TimerRef,
    Unexpected,
};

// GenServer.
pub use locus_runtime::{
    CallError, Client, DEFAULT_CALL_TIMEOUT, Flow, GenServer, RemoteCodec, ReplyHandle, ServerCtx,
    ServerMsg, Start, StartError,
};

// Supervisors.
pub use locus_runtime::{
    ChildCount, ChildInfo, ChildKind, ChildRef, ChildSpec, ChildStart, DEFAULT_SHUTDOWN, Restart,
    Shutdown, StartSupervisor, Strategy, Supervisor, SupervisorError, SupervisorRef,
    SupervisorSpec,
};

// Distribution.
pub use locus_runtime::{
    ConnectError, DEFAULT_MAX_FRAME, DEFAULT_MAX_MAILBOX, DEFAULT_SPIN, DEFAULT_TICK_TIME,
    DistProtocol, HandshakeError, IoError, NodeDownReason, NodeEvent, NodeEvents, TlsConfig,
    TlsError,
};

// Cluster services.
pub use locus_runtime::{
    Global, GlobalError, Keep, Multicall, Pg, PgError, PgEvent, PgEvents, PubSub, Registration,
    Rpc, RpcError, SpawnRequest, keep_earlier,
};

// Areas with names of their own.
pub use locus_runtime::{cluster, config, epmd, etf, introspect};

#[cfg(feature = "observer")]
pub use locus_runtime::observer;

/// Not public API: the fuzz targets' entry points (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use locus_runtime::fuzzing;

/// The names nearly every program uses: `use locus::prelude::*;`.
pub mod prelude {
    pub use crate::{
        CallError, Client, Ctx, Dest, ExitReason, Flow, GenServer, Message, Node, NodeName, Pid,
        ReplyHandle, ServerCtx, Signal, SpawnOpts, Supervisor, gen_server,
    };
}

/// Seeing what locus logs: it logs through [`tracing`](https://docs.rs/tracing) (node up and
/// down, refused connections, crash reports of GenServers that terminate abnormally, as
/// OTP's logger does), and a library does not choose where logs go. An application that
/// has no subscriber of its own calls [`logging::init`] once at start. Feature `logging`
/// (on by default).
#[cfg(feature = "logging")]
pub mod logging {
    /// Logs to standard error at the level `LOCUS_LOG` (or `RUST_LOG`) names, `info` by
    /// default (`LOCUS_LOG=warn`, `LOCUS_LOG=locus_runtime=debug`, ...). Does nothing if a
    /// subscriber is already set.
    ///
    /// ```
    /// locus::logging::init();
    /// ```
    pub fn init() {
        let filter = tracing_subscriber::EnvFilter::try_from_env("LOCUS_LOG")
            .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    }
}

/// Not public API: what code generated by `#[gen_server]` refers to.
#[doc(hidden)]
pub mod __private {
    pub use locus_runtime::__private::*;
}
