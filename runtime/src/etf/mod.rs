//! Erlang's External Term Format: the bytes `term_to_binary/1` makes, and what Erlang
//! distribution carries. Socket-free: tests and fuzzers drive it directly.
//!
//! - [`Term`] is any Erlang term, owned: atoms ([`Atom`]), integers of any size, floats,
//!   binaries, lists (proper or not), tuples, maps, pids ([`ErlPid`]), references
//!   ([`ErlRef`]), ports, funs (kept as opaque bytes) and exports.
//! - [`decode`] and [`encode`] convert between terms and bytes (`131`, then the term).
//! - [`to_vec`] and [`from_slice`] go straight between Rust values and bytes through serde,
//!   without building a [`Term`]; the mapping is the one Elixir users expect (table below).
//!
//! # Decoding untrusted bytes
//!
//! Every decode returns an error, never panics, and never allocates from a count the bytes
//! declare: a count is checked against the bytes that remain (every element takes at least
//! one byte) before anything is sized from it. Nesting is at most [`MAX_DEPTH`] deep, atoms
//! at most 255 characters of valid UTF-8 (never interned anywhere), bignums at most
//! [`MAX_BIG_BYTES`], references at most 5 words; a compressed term must decompress to
//! exactly the size it declares, at most [`MAX_DECOMPRESSED`]; a map may not repeat a key;
//! nothing may follow the term. `LOCAL_EXT` (a node's private encoding) and atom cache
//! references (only valid inside a distribution header) are refused.
//!
//! # Rust and Erlang values
//!
//! | Rust (serde) | Erlang term written | also read |
//! |---|---|---|
//! | `bool` | `true` / `false` | |
//! | integers (to `i128`/`u128`) | small integer, integer, or bignum | any integer that fits |
//! | `f32`, `f64` | float (NaN and infinities refused) | integers |
//! | `char` | integer (the code point) | |
//! | `String`, `&str` | binary (UTF-8) | atom |
//! | `serde_bytes` | binary | charlist |
//! | `Vec<u8>` and other sequences | list | charlist (`'abc'`) |
//! | `Option` | `nil` / the value | `undefined` for `None` |
//! | `()` | `:ok` | `nil` |
//! | unit struct, unit variant | atom of its name (use `#[serde(rename_all = "snake_case")]`) | |
//! | newtype variant `Ok(v)` | `{:Ok, v}` (renamed: `{:ok, v}`) | |
//! | tuple variant `Move(1, 2)` | `{:Move, 1, 2}` | |
//! | struct variant `Set { x: 1 }` | `{:Set, %{x: 1}}` | |
//! | struct | map with **atom** keys | binary keys; `__struct__` is ignored as any unknown key |
//! | tuple, tuple struct | tuple | |
//! | map (`HashMap`, `BTreeMap`) | map (any keys) | |
//! | [`Pid`](crate::Pid) | pid | |
//! | [`Term`], [`Atom`], [`ErlPid`], [`ErlRef`] | themselves | |
//!
//! Keyword lists are `Vec<(Atom, T)>`.
//!
//! ```
//! use locus::etf::{self, Atom, Term};
//!
//! #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
//! #[serde(rename_all = "snake_case")]
//! enum Reply { Pong(String), Busy }
//!
//! let bytes = etf::to_vec(&Reply::Pong("hi".into())).unwrap();
//! // {:pong, "hi"}
//! assert_eq!(
//!     etf::decode(&bytes).unwrap(),
//!     Term::Tuple(vec![Term::Atom(Atom::new("pong").unwrap()), Term::Binary(b"hi".to_vec())])
//! );
//! assert_eq!(etf::from_slice::<Reply>(&bytes).unwrap(), Reply::Pong("hi".into()));
//! ```

mod de;
mod decode;
mod encode;
mod ser;
mod term;

pub use de::from_slice;
pub(crate) use de::from_term_bytes;
pub use decode::decode;
pub(crate) use decode::{decode_prefix, decode_term, term_len};
pub use encode::encode;
pub(crate) use encode::encode_term;
/// Writers of single terms, for encoders that build a term from its parts.
pub(crate) mod write {
    pub(crate) use super::encode::{atom, int, pid_parts, reference_parts, tuple_header};
}
pub use ser::to_vec;
pub(crate) use ser::wrap_in_variant_of;
pub(crate) use ser::{write_term, write_term_bare};
pub use term::{Atom, ErlPid, ErlPort, ErlRef, Term};

/// The version byte every encoded term starts with.
pub const VERSION: u8 = 131;
/// The deepest nesting a decoder accepts.
pub const MAX_DEPTH: usize = 128;
/// The largest bignum a decoder accepts, in bytes (an integer of 2^19 bits).
pub const MAX_BIG_BYTES: usize = 64 * 1024;
/// The largest size a compressed term may declare.
pub const MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;
/// The longest atom, in characters (Erlang's limit).
pub const MAX_ATOM_CHARS: usize = 255;

pub(crate) mod tag {
    pub(crate) const NEW_FLOAT: u8 = 70;
    pub(crate) const BIT_BINARY: u8 = 77;
    pub(crate) const COMPRESSED: u8 = 80;
    pub(crate) const ATOM_CACHE_REF: u8 = 82;
    pub(crate) const NEW_PID: u8 = 88;
    pub(crate) const NEW_PORT: u8 = 89;
    pub(crate) const NEWER_REFERENCE: u8 = 90;
    pub(crate) const SMALL_INTEGER: u8 = 97;
    pub(crate) const INTEGER: u8 = 98;
    pub(crate) const FLOAT: u8 = 99;
    pub(crate) const ATOM: u8 = 100;
    pub(crate) const REFERENCE: u8 = 101;
    pub(crate) const PORT: u8 = 102;
    pub(crate) const PID: u8 = 103;
    pub(crate) const SMALL_TUPLE: u8 = 104;
    pub(crate) const LARGE_TUPLE: u8 = 105;
    pub(crate) const NIL: u8 = 106;
    pub(crate) const STRING: u8 = 107;
    pub(crate) const LIST: u8 = 108;
    pub(crate) const BINARY: u8 = 109;
    pub(crate) const SMALL_BIG: u8 = 110;
    pub(crate) const LARGE_BIG: u8 = 111;
    pub(crate) const NEW_FUN: u8 = 112;
    pub(crate) const EXPORT: u8 = 113;
    pub(crate) const NEW_REFERENCE: u8 = 114;
    pub(crate) const SMALL_ATOM: u8 = 115;
    pub(crate) const MAP: u8 = 116;
    pub(crate) const ATOM_UTF8: u8 = 118;
    pub(crate) const SMALL_ATOM_UTF8: u8 = 119;
    pub(crate) const V4_PORT: u8 = 120;
    pub(crate) const LOCAL: u8 = 121;
}

/// Bytes are not a valid term, or a value cannot be written as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EtfError {
    /// The bytes end in the middle of a term.
    #[error("the term ends early: {0}")]
    Truncated(&'static str),
    /// A tag this decoder does not know, or refuses here.
    #[error("unsupported term tag {0}")]
    Tag(u8),
    /// The bytes break a rule of the format or a limit of this decoder.
    #[error("invalid term: {0}")]
    Invalid(String),
    /// Bytes follow the term.
    #[error("{0} bytes follow the term")]
    Trailing(usize),
    /// The first byte is not the version byte 131.
    #[error("not an encoded term: it starts with {0}, not 131")]
    Version(u8),
    /// A value cannot be written as a term (a NaN, a map key of a kind serde cannot
    /// express...), or a term does not fit the Rust type asked for.
    #[error("{0}")]
    Custom(String),
}

impl serde::ser::Error for EtfError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        EtfError::Custom(msg.to_string())
    }
}

impl serde::de::Error for EtfError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        EtfError::Custom(msg.to_string())
    }
}

fn invalid(what: impl Into<String>) -> EtfError {
    EtfError::Invalid(what.into())
}

/// The names the serde mapping gives to values written natively (the trick of
/// `serde_json::value::RawValue`): a serializer or deserializer of this format recognises
/// them; any other sees a newtype around the raw bytes or fields.
pub(crate) mod magic {
    /// A [`Term`](super::Term), as its encoded bytes (no version byte).
    pub(crate) const TERM: &str = "$locus::etf::Term";
    /// A locus [`Pid`](crate::Pid), as `(id, creation, node)`.
    pub(crate) const PID: &str = "$locus::Pid";
}

#[cfg(test)]
mod tests;
