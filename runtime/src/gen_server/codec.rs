//! How a GenServer's messages cross nodes.

use std::fmt;

use super::{GenServer, ReplyHandle, ServerMsg};
use crate::process::{
    BareVariant, Format, Incoming, Message, Payload, Rejected, WireBytes, WireKind, as_payload,
    decode_value, wire_name,
};

/// A value of a type the codec knows to be serializable, as a payload.
type PayloadFn<T> = fn(&T) -> &dyn Payload;
/// Hands a reply to `send` as the payload it crosses as.
pub(crate) type ReplyWith<T> = fn(&T, &mut dyn FnMut(&dyn Payload));
type DecodeFn<T> = fn(WireBytes<'_>) -> Result<T, String>;
type WrapFn<T> = fn(&T, &[u8]) -> Result<Vec<u8>, String>;

/// The wire form of a GenServer's calls, replies, casts and infos: how other nodes reach it.
///
/// A server is reachable from other nodes when [`GenServer::remote`] returns one. The
/// `#[gen_server]` macro writes that method; by hand it is one line:
///
/// ```
/// use locus::{GenServer, RemoteCodec};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)] enum Req { Get }
/// struct Counter;
///
/// impl GenServer for Counter {
///     type Call = Req;
///     type Reply = u64;
///     type Cast = u64;
///     type Info = ();
///
///     fn remote() -> Option<RemoteCodec<Self>> {
///         Some(RemoteCodec::serde())
///     }
/// }
/// # let _ = (Counter, Req::Get);
/// ```
///
/// Messages are MessagePack-encoded with serde. Each kind carries a wire type name, checked
/// on arrival: a call of the wrong type fails with
/// [`CallError::BadType`](super::CallError::BadType) instead of being misread.
pub struct RemoteCodec<S: GenServer> {
    pub(crate) call_name: &'static str,
    pub(crate) cast_name: &'static str,
    pub(crate) info_name: &'static str,
    pub(crate) call_payload: PayloadFn<S::Call>,
    pub(crate) decode_call: DecodeFn<S::Call>,
    pub(crate) reply_with: ReplyWith<S::Reply>,
    pub(crate) decode_reply: DecodeFn<S::Reply>,
    pub(crate) cast_payload: PayloadFn<S::Cast>,
    pub(crate) decode_cast: DecodeFn<S::Cast>,
    pub(crate) info_payload: PayloadFn<S::Info>,
    pub(crate) decode_info: DecodeFn<S::Info>,
    /// Whether replies cross to the BEAM as their variant's content (see
    /// [`bare_replies`](Self::bare_replies)).
    pub(crate) bare_replies: bool,
    /// A bare reply to a request, as the term of the reply enum's variant named like it.
    pub(crate) wrap_reply: WrapFn<S::Call>,
}

impl<S: GenServer> Clone for RemoteCodec<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: GenServer> Copy for RemoteCodec<S> {}

impl<S: GenServer> fmt::Debug for RemoteCodec<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteCodec")
            .field("call", &self.call_name)
            .field("cast", &self.cast_name)
            .field("info", &self.info_name)
            .finish()
    }
}

impl<S> RemoteCodec<S>
where
    S: GenServer,
    S::Call: Message,
    S::Reply: Message,
    S::Cast: Message,
    S::Info: Message,
{
    /// Serde (MessagePack) for all four message types, named by their Rust type paths.
    pub fn serde() -> Self {
        Self {
            call_name: wire_name::<S::Call>(),
            cast_name: wire_name::<S::Cast>(),
            info_name: wire_name::<S::Info>(),
            call_payload: as_payload::<S::Call>,
            decode_call: decode_value::<S::Call>,
            reply_with: |reply, send| send(reply),
            decode_reply: decode_value::<S::Reply>,
            cast_payload: as_payload::<S::Cast>,
            decode_cast: decode_value::<S::Cast>,
            info_payload: as_payload::<S::Info>,
            decode_info: decode_value::<S::Info>,
            bare_replies: false,
            wrap_reply: |request, content| {
                crate::etf::wrap_in_variant_of(request, content).map_err(|e| e.to_string())
            },
        }
    }

    /// Replies to an Erlang caller are the content of the reply's enum variant, not the
    /// variant: a `Reply::Add(6)` reaches Elixir as `6` (the `#[gen_server]` macro's reply
    /// enums have one variant per call, whose tag the caller does not need). Between locus
    /// nodes replies are unchanged. A locus client of such a server calling a BEAM process
    /// reads its answer back into the variant named like the request's (`{:add, 5}`
    /// answered `6` is `Reply::Add(6)`).
    pub fn bare_replies(mut self) -> Self {
        self.bare_replies = true;
        self.reply_with = |reply, send| send(&BareVariant(reply));
        self
    }
}

impl<S: GenServer> RemoteCodec<S> {
    /// Gives the three message kinds stable wire names, independent of where the types live
    /// in the source (the macro names them after the server).
    pub fn named(mut self, call: &'static str, cast: &'static str, info: &'static str) -> Self {
        self.call_name = call;
        self.cast_name = cast;
        self.info_name = info;
        self
    }
}

/// Turns a message from another node into the server's mailbox type.
pub(crate) fn decode_server<S: GenServer>(msg: Incoming<'_>) -> Result<ServerMsg<S>, Rejected> {
    let Some(codec) = S::remote() else {
        return Err(Rejected::bad_type(msg, "messages from its own node only"));
    };
    let expected = match msg.kind {
        WireKind::Call => codec.call_name,
        WireKind::Cast => codec.cast_name,
        WireKind::Send => codec.info_name,
    };
    // Erlang terms carry no type name: a term is the type it decodes into.
    if msg.payload.format == Format::MsgPack && msg.type_name != expected {
        return Err(Rejected::bad_type(msg, expected));
    }
    let decoded = match msg.kind {
        WireKind::Call => (codec.decode_call)(msg.payload).map(Decoded::<S>::Call),
        WireKind::Cast => (codec.decode_cast)(msg.payload).map(Decoded::<S>::Cast),
        WireKind::Send => (codec.decode_info)(msg.payload).map(Decoded::<S>::Info),
    };
    match decoded {
        Err(e) => Err(Rejected::undecodable(msg, e)),
        Ok(Decoded::Call(req)) => match msg.reply_to {
            Some(to) => Ok(ServerMsg::Call(
                req,
                ReplyHandle::remote(to, codec.reply_with),
            )),
            None => Err(Rejected::undecodable(
                msg,
                "a call without a return address".into(),
            )),
        },
        Ok(Decoded::Cast(cast)) => Ok(ServerMsg::Cast(cast)),
        Ok(Decoded::Info(info)) => Ok(ServerMsg::Info(info)),
    }
}

enum Decoded<S: GenServer> {
    Call(S::Call),
    Cast(S::Cast),
    Info(S::Info),
}
