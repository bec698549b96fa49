//! The `#[gen_server]` attribute of [locus](https://docs.rs/locus). Use it through the
//! `locus` crate: `#[locus::gen_server]`.
//!
//! It turns an `impl` block into a complete GenServer: the methods marked `#[call]`,
//! `#[cast]` and `#[info]` become the server's callbacks, and it generates the message
//! types (serializable, with stable wire names), the dispatch, and a typed client whose
//! methods are named after the handlers.
//!
//! ```
//! use locus::{GenServer, Node, gen_server};
//!
//! #[derive(Default)]
//! struct Counter {
//!     n: u64,
//! }
//!
//! #[gen_server]
//! impl Counter {
//!     #[call]
//!     async fn get(&mut self) -> u64 {
//!         self.n
//!     }
//!
//!     #[cast]
//!     async fn add(&mut self, by: u64) {
//!         self.n += by;
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder().start().await?;
//! let counter = Counter::start(&node, Counter::default()).register("counter").await?;
//! counter.add(2).await?;
//! assert_eq!(counter.get().await?, 2);
//! // From anywhere, by name (or `(name, node)` on another node):
//! assert_eq!(Counter::client(&node, "counter").get().await?, 2);
//! # Ok(()) }
//! ```
//!
//! # Handlers
//!
//! Each handler takes `&mut self`, then its message arguments (owned, serializable values),
//! and, where wanted, the process context (`ctx: &mut ServerCtx<Self>`). Handlers may be
//! `async` or not.
//!
//! | Attribute | Becomes | Returns | Client method |
//! |---|---|---|---|
//! | `#[call]` | a variant of `{Server}Call`, answered in `{Server}Reply` | the reply | `async fn name(&self, args..) -> Result<Reply, CallError>` |
//! | `#[call]` taking `reply: ReplyHandle<T>` | the same, answered later through the handle | `()` | as above, with `T` |
//! | `#[cast]` | a variant of `{Server}Cast` | `()` or [`Flow`] | `async fn name(&self, args..) -> Result<(), SendError<..>>` |
//! | `#[info]` with one message argument | a variant of `{Server}Info` | `()` or [`Flow`] | `async fn name(&self, msg) -> Result<(), SendError<..>>` |
//! | `#[info]` taking `signal: Signal<{Server}Info>` | exits, monitors, node events, undecodable messages | `()` or [`Flow`] | |
//! | `#[init]` | `GenServer::init` | `()` or `Result<(), ExitReason>` | |
//! | `#[terminate]` | `GenServer::terminate`; may take `reason: &ExitReason` | `()` | |
//!
//! From Erlang or Elixir (a node with `erlang_dist`), a call or cast names its handler as an
//! atom tagging the arguments: `GenServer.call({:counter, node}, {:add, 5})` reaches
//! `#[call] fn add(&mut self, n: u64)`, `GenServer.call(server, :get)` one without
//! arguments, `{:put, "k", 1}` one with two; the reply is the handler's return value itself
//! (`6`), and an `#[info]` handler takes `{:name, message}`.
//!
//! A handler stops the server with `ctx.stop(reason)` (or by returning [`Flow::Stop`] from a
//! cast or info handler); a call is answered first.
//!
//! The client (`{Server}Client`) also has `pid()`, `stop(reason)`, `inner()` (the untyped
//! [`Client`]), `.timeout(d)` (the client, consumed, now waiting `d` instead of 5 s) and
//! `.with_timeout(d)` (a copy that waits `d`, for one call: `counter.with_timeout(d).get()`,
//! as `GenServer.call/3`); handlers cannot take those names (nor `start` and `client`,
//! which the server type gets).
//!
//! # Arguments
//!
//! - `#[gen_server(local)]`: the message types need not be serializable; the server is
//!   reachable from its own node only.
//! - `#[gen_server(name = "counter")]`: the prefix of the wire type names (default: the
//!   type's name), so a server keeps its wire names when the type is renamed.
//!
//! Set `LOCUS_MACROS_DEBUG=1` while building to print the generated code.
//!
//! # What it generates
//!
//! Only calls into locus's public API: everything can be written by hand. For the counter
//! above:
//!
//! ```
//! use locus::{Client, CallError, Dest, Flow, GenServer, Node, RemoteCodec, ReplyHandle,
//!             SendError, ServerCtx, Signal, Start};
//! use serde::{Deserialize, Serialize};
//!
//! # #[derive(Default)] struct Counter { n: u64 }
//! # impl Counter { async fn get(&mut self) -> u64 { self.n } async fn add(&mut self, by: u64) { self.n += by } }
//! #[derive(Serialize, Deserialize)]
//! #[serde(rename_all = "snake_case")]
//! pub enum CounterCall { Get }
//! #[derive(Serialize, Deserialize)]
//! #[serde(rename_all = "snake_case")]
//! pub enum CounterReply { Get(u64) }
//! #[derive(Serialize, Deserialize)]
//! #[serde(rename_all = "snake_case")]
//! pub enum CounterCast { Add(u64) }
//! #[derive(Serialize, Deserialize)]
//! #[serde(rename_all = "snake_case")]
//! pub enum CounterInfo {}
//!
//! impl GenServer for Counter {
//!     type Call = CounterCall;
//!     type Reply = CounterReply;
//!     type Cast = CounterCast;
//!     type Info = CounterInfo;
//!
//!     fn remote() -> Option<RemoteCodec<Self>> {
//!         Some(RemoteCodec::serde().named("Counter.call", "Counter.cast", "Counter.info").bare_replies())
//!     }
//!
//!     async fn handle_call(&mut self, req: CounterCall, from: ReplyHandle<CounterReply>, _: &mut ServerCtx<Self>) -> Flow {
//!         match req {
//!             CounterCall::Get => from.reply(CounterReply::Get(self.get().await)),
//!         }
//!         Flow::Continue
//!     }
//!
//!     async fn handle_cast(&mut self, msg: CounterCast, _: &mut ServerCtx<Self>) -> Flow {
//!         match msg {
//!             CounterCast::Add(by) => self.add(by).await,
//!         }
//!         Flow::Continue
//!     }
//! }
//!
//! #[derive(Clone, Debug)]
//! pub struct CounterClient(Client<Counter>);
//!
//! impl From<Client<Counter>> for CounterClient {
//!     fn from(c: Client<Counter>) -> Self { Self(c) }
//! }
//!
//! impl CounterClient {
//!     pub async fn get(&self) -> Result<u64, CallError> {
//!         match self.0.call(CounterCall::Get).await? {
//!             CounterReply::Get(v) => Ok(v),
//!         }
//!     }
//!     pub async fn add(&self, by: u64) -> Result<(), SendError<CounterCast>> {
//!         self.0.cast(CounterCast::Add(by))
//!     }
//! }
//!
//! impl Counter {
//!     pub fn client(node: &Node, dest: impl Into<Dest>) -> CounterClient {
//!         CounterClient(Client::new(node, dest))
//!     }
//!     pub fn start(node: &Node, server: Self) -> Start<Self, CounterClient> {
//!         <Self as GenServer>::start(node, server).with_client()
//!     }
//! }
//! ```
//!
//! [`Flow`]: https://docs.rs/locus/latest/locus/enum.Flow.html
//! [`Flow::Stop`]: https://docs.rs/locus/latest/locus/enum.Flow.html
//! [`Client`]: https://docs.rs/locus/latest/locus/struct.Client.html

mod args;
mod gen_server;

use proc_macro::TokenStream;

/// Turns an `impl` block into a GenServer with a typed client. See the crate documentation.
#[proc_macro_attribute]
pub fn gen_server(attr: TokenStream, item: TokenStream) -> TokenStream {
    let out =
        gen_server::expand(attr.into(), item.into()).unwrap_or_else(syn::Error::into_compile_error);
    if std::env::var_os("LOCUS_MACROS_DEBUG").is_some() {
        eprintln!("{out}");
    }
    out.into()
}
