//! locus: Erlang/Elixir-style processes, GenServers and supervisors for Rust.
pub use locus_runtime::*;
