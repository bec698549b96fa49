//! Erlang distribution (protocol version 6, OTP 25 and later), so that a locus node joins
//! a cluster of BEAM nodes as one of them: `Node.connect`, `Node.list`, `GenServer.call`
//! both ways, monitors, links, exits and `:erpc` across the boundary.
//!
//! The protocol is chosen per connection: locus nodes keep their own handshake (HMAC-SHA256)
//! and frames between them; a BEAM node is recognised by its first bytes when it connects
//! (a `u16` length and `'N'`, where a locus hello starts `00 00`), and by the port mapper's
//! answer when this node dials it (a BEAM node registers no `"locus"` extra). It is off
//! unless the node is started with `erlang_dist` (the BEAM authenticates with MD5 of the
//! cookie: see README's Security section).
//!
//! The parts:
//! - `handshake`: the version 6 handshake as state machines over bytes (no sockets, no
//!   clock), with the flags locus offers and requires.
//! - `control`: control messages (`{2, '', To}`, `{19, From, To, Ref}`, ...) parsed from
//!   and encoded into pass-through frames (`112`, no atom cache, no fragments).
//! - `reason`: exit reasons as terms, both ways.
//!
//! # What a BEAM peer sees
//!
//! - A visible node: `Node.list/0` lists it. It answers `net_adm:ping/1` (`is_auth`),
//!   `rex`'s feature request, and drops what `global` sends it: locus runs no `global`
//!   server, so `:global` leaves it out of its locks (and `:global.sync/0` waits while it
//!   is connected).
//! - Every locus process is reachable by pid and registered name; a message is decoded from
//!   its term into the process's message type (serde, the mapping of [`crate::etf`]); one
//!   that does not fit is dropped, counted and reported to the process, never a panic.
//!   `{'$gen_call', From, Req}` and `{'$gen_cast', Msg}` reach a GenServer's `handle_call`
//!   and `handle_cast`.
//! - Pids and references of either side cross unchanged: a locus pid's 64-bit id is the
//!   BEAM pid's id (low 32 bits) and serial (high 32 bits).

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::node::Node;

pub(crate) mod control;
pub(crate) mod handshake;
pub(crate) mod reason;
mod setup;

/// The distribution flags (`erts/doc/guides/erl_dist_protocol.md`, checked against OTP
/// 25.2's `dist.hrl` and `erts_internal:get_dflags()`).
pub(crate) mod flag {
    pub(crate) const PUBLISHED: u64 = 0x1;
    pub(crate) const EXTENDED_REFERENCES: u64 = 0x4;
    pub(crate) const DIST_MONITOR: u64 = 0x8;
    pub(crate) const FUN_TAGS: u64 = 0x10;
    pub(crate) const DIST_MONITOR_NAME: u64 = 0x20;
    pub(crate) const NEW_FUN_TAGS: u64 = 0x80;
    pub(crate) const EXTENDED_PIDS_PORTS: u64 = 0x100;
    pub(crate) const EXPORT_PTR_TAG: u64 = 0x200;
    pub(crate) const BIT_BINARIES: u64 = 0x400;
    pub(crate) const NEW_FLOATS: u64 = 0x800;
    pub(crate) const UTF8_ATOMS: u64 = 0x10000;
    pub(crate) const MAP_TAG: u64 = 0x20000;
    pub(crate) const BIG_CREATION: u64 = 0x40000;
    pub(crate) const SEND_SENDER: u64 = 0x80000;
    pub(crate) const EXIT_PAYLOAD: u64 = 0x40_0000;
    pub(crate) const HANDSHAKE_23: u64 = 0x100_0000;
    pub(crate) const UNLINK_ID: u64 = 0x200_0000;
    /// Stands for the eleven flags OTP 25 requires (the documentation's `1 bsl 36` is wrong:
    /// OTP's `dist.hrl` and a live OTP 25 say bit 26).
    pub(crate) const MANDATORY_25_DIGEST: u64 = 0x400_0000;
    pub(crate) const SPAWN: u64 = 1 << 32;
    pub(crate) const V4_NC: u64 = 1 << 34;
    pub(crate) const ALIAS: u64 = 1 << 35;

    /// What OTP 25 requires of every peer.
    pub(crate) const MANDATORY_25: u64 = EXTENDED_REFERENCES
        | FUN_TAGS
        | NEW_FUN_TAGS
        | EXTENDED_PIDS_PORTS
        | EXPORT_PTR_TAG
        | BIT_BINARIES
        | NEW_FLOATS
        | UTF8_ATOMS
        | MAP_TAG
        | BIG_CREATION
        | HANDSHAKE_23;

    /// What locus requires of a BEAM peer: OTP 25's set, and the signals locus sends (every
    /// OTP 25 node has them).
    pub(crate) const REQUIRED: u64 = MANDATORY_25
        | DIST_MONITOR
        | DIST_MONITOR_NAME
        | SEND_SENDER
        | EXIT_PAYLOAD
        | UNLINK_ID
        | SPAWN
        | ALIAS;

    /// What locus offers (no atom cache, no fragments: the BEAM then sends pass-through
    /// frames, each message whole); `PUBLISHED` is added for a visible node.
    pub(crate) const OFFERED: u64 = REQUIRED | MANDATORY_25_DIGEST | V4_NC;
}

/// Runs the functions BEAM nodes call on this node (`:erpc.call(node, m, f, args)`,
/// `:rpc.call`): the rpc service, which owns the functions, sets it. Given the function's
/// name (`"m.f"`) and its argument list (a term, no version byte), it answers the result
/// (a term) or why there is none.
#[derive(Clone)]
pub(crate) struct ErlangRpc(pub(crate) Arc<ErlangRpcFn>);

/// See [`ErlangRpc`].
pub(crate) type ErlangRpcFn =
    dyn Fn(Node, String, Vec<u8>) -> BoxFuture<'static, Result<Vec<u8>, RpcFailure>> + Send + Sync;

/// Why a function a BEAM node called gave no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RpcFailure {
    /// No function of that name (Erlang's `undef`).
    Undef,
    /// The arguments do not fit it (Erlang's `badarg`).
    BadArgs(String),
    /// It returned an error, or panicked; the text says which and why.
    Failed(String),
}
