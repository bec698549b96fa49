//! Messages from other nodes, as a process receives them.
//!
//! The process layer does not know about sockets. When a message arrives from another node,
//! distribution offers it to the local process as an [`Incoming`], which the process's
//! [`DecodeFn`] turns into its own message type.

use std::fmt;
use std::sync::Arc;

use super::{CallError, Pid};

/// What a message crossing nodes is for; a GenServer tells calls, casts and infos apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireKind {
    /// A plain message (`send`), an info for a GenServer.
    Send,
    /// A GenServer cast.
    Cast,
    /// A GenServer call; a reply is expected.
    Call,
}

impl WireKind {
    pub(crate) fn code(self) -> u8 {
        match self {
            WireKind::Send => 0,
            WireKind::Cast => 1,
            WireKind::Call => 2,
        }
    }

    pub(crate) fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(WireKind::Send),
            1 => Some(WireKind::Cast),
            2 => Some(WireKind::Call),
            _ => None,
        }
    }
}

/// A payload encoding failure (the message's `Serialize` failed).
pub(crate) type EncodeError = rmp_serde::encode::Error;

/// A value on its way to another node. The connection that carries it encodes it in its
/// own protocol's format, straight into its output buffer: the sender never picks the
/// format, so a second wire protocol needs nothing from the code that sends.
///
/// Every serializable type is a payload.
pub(crate) trait Payload {
    /// Appends the value MessagePack-encoded (the locus protocol's format).
    fn encode_msgpack(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError>;

    /// Appends the value as an Erlang term, without the version byte (Erlang
    /// distribution's format; see [`crate::etf`] for the mapping).
    fn encode_etf(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError>;
}

impl<T: serde::Serialize + ?Sized> Payload for T {
    fn encode_msgpack(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        rmp_serde::encode::write(&mut super::blob::BlobWriter(buf), self)
    }

    fn encode_etf(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        crate::etf::write_term(self, buf).map_err(|e| EncodeError::Syntax(e.to_string()))
    }
}

/// A value that is an enum variant, crossing as its variant's content to Erlang (see
/// `RemoteCodec::bare_replies`) and as itself to locus nodes.
pub(crate) struct BareVariant<'a, T: ?Sized>(pub(crate) &'a T);

impl<T: serde::Serialize + ?Sized> Payload for BareVariant<'_, T> {
    fn encode_msgpack(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.0.encode_msgpack(buf)
    }

    fn encode_etf(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        crate::etf::write_term_bare(self.0, buf).map_err(|e| EncodeError::Syntax(e.to_string()))
    }
}

/// The format of bytes from another node: the one of the protocol that carried them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// MessagePack, between locus nodes.
    MsgPack,
    /// An Erlang term (no version byte), from a BEAM node.
    Etf,
}

/// A payload as it arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireBytes<'a> {
    pub(crate) format: Format,
    pub(crate) bytes: &'a [u8],
    /// The frame `bytes` is a slice of, if it is one: large [`Blob`](super::Blob)s decode
    /// as slices of it instead of copies.
    pub(crate) frame: Option<&'a bytes::Bytes>,
}

impl<'a> WireBytes<'a> {
    pub(crate) fn msgpack(bytes: &'a [u8]) -> Self {
        Self {
            format: Format::MsgPack,
            bytes,
            frame: None,
        }
    }

    pub(crate) fn etf(bytes: &'a [u8]) -> Self {
        Self {
            format: Format::Etf,
            bytes,
            frame: None,
        }
    }

    /// Tells that `bytes` is a slice of `frame`.
    pub(crate) fn in_frame(self, frame: &'a bytes::Bytes) -> Self {
        Self {
            frame: Some(frame),
            ..self
        }
    }
}

/// `value` as a payload: a function pointer a codec can keep for a type it knows is
/// serializable.
pub(crate) fn as_payload<T: serde::Serialize>(value: &T) -> &dyn Payload {
    value
}

/// Decodes a payload in its format.
pub(crate) fn decode_value<T: serde::de::DeserializeOwned>(
    payload: WireBytes<'_>,
) -> Result<T, String> {
    let decode = || match payload.format {
        Format::MsgPack => rmp_serde::from_slice(payload.bytes).map_err(|e| e.to_string()),
        Format::Etf => crate::etf::from_term_bytes(payload.bytes).map_err(|e| e.to_string()),
    };
    match payload.frame {
        Some(frame) => super::blob::decoding_from(frame, payload.bytes, decode),
        None => decode(),
    }
}

/// Where the reply to a call from another node goes.
pub(crate) trait ReplySink: Send + Sync + 'static {
    /// Sends the reply value, or the error, for call `call_ref`.
    fn reply(&self, call_ref: u64, result: Result<&dyn Payload, CallError>);
}

/// The return address of a call that came from another node.
pub(crate) struct RemoteReplyTo {
    pub(crate) sink: Arc<dyn ReplySink>,
    pub(crate) call_ref: u64,
    pub(crate) from: Option<Pid>,
}

impl fmt::Debug for RemoteReplyTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteReplyTo")
            .field("call_ref", &self.call_ref)
            .field("from", &self.from)
            .finish()
    }
}

impl RemoteReplyTo {
    /// Answers with an error (the message could not be delivered).
    pub(crate) fn fail(self, err: CallError) {
        self.sink.reply(self.call_ref, Err(err));
    }
}

/// A message from another node, offered to a local process.
#[derive(Debug)]
pub(crate) struct Incoming<'a> {
    pub(crate) kind: WireKind,
    pub(crate) type_name: &'a str,
    pub(crate) payload: WireBytes<'a>,
    pub(crate) from: Option<Pid>,
    /// For calls.
    pub(crate) reply_to: Option<RemoteReplyTo>,
}

/// Why an incoming message was not accepted; the call's return address comes back so the
/// caller can be told.
#[derive(Debug)]
pub(crate) struct Rejected {
    pub(crate) error: CallError,
    pub(crate) reply_to: Option<RemoteReplyTo>,
}

impl Rejected {
    pub(crate) fn bad_type(msg: Incoming<'_>, expected: &str) -> Self {
        Rejected {
            error: CallError::BadType(format!("{} (the process takes {expected})", msg.type_name)),
            reply_to: msg.reply_to,
        }
    }

    pub(crate) fn undecodable(msg: Incoming<'_>, error: String) -> Self {
        Rejected {
            error: CallError::BadType(format!("{}: {error}", msg.type_name)),
            reply_to: msg.reply_to,
        }
    }
}

/// Turns a message from another node into a mailbox's type.
pub(crate) type DecodeFn<M> = fn(Incoming<'_>) -> Result<M, Rejected>;

/// The wire name of a message type. It is the Rust type path: two builds of the same source
/// agree on it.
pub(crate) fn wire_name<T: ?Sized>() -> &'static str {
    std::any::type_name::<T>()
}

/// A plain process whose messages are `M`: takes `Send` messages named `M`.
pub(crate) fn decode_plain<M: super::Message>(msg: Incoming<'_>) -> Result<M, Rejected> {
    let expected = wire_name::<M>();
    // Erlang terms carry no type name: a term is the type it decodes into.
    let named = msg.payload.format == Format::MsgPack;
    if msg.kind != WireKind::Send || (named && msg.type_name != expected) {
        return Err(Rejected::bad_type(msg, expected));
    }
    match decode_value::<M>(msg.payload) {
        Ok(m) => Ok(m),
        Err(e) => Err(Rejected::undecodable(msg, e)),
    }
}
