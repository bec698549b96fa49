//! The servers every BEAM node runs, as locus calls them: `net_kernel` (`net_adm:ping/1`
//! asks it `{is_auth, Node}`) and `rex` (`{call, M, F, Args, user}` runs `M:F(Args...)` and
//! answers its value, or `{badrpc, Reason}`; `{cast, ...}` runs it without an answer).

use crate::etf::{Atom, Term};
use crate::gen_server::{GenServer, RemoteCodec};

/// A BEAM node's `net_kernel`: asked `{is_auth, Node}`, it answers `yes`.
pub(crate) struct NetKernel;

impl GenServer for NetKernel {
    type Call = (Atom, Atom);
    type Reply = Atom;
    type Cast = ();
    type Info = ();

    fn remote() -> Option<RemoteCodec<Self>> {
        Some(RemoteCodec::serde())
    }
}

/// A BEAM node's `rex`.
pub(crate) struct Rex;

/// `{call | cast, Module, Function, Args, user}`.
pub(crate) type RexRequest = (Atom, Atom, Atom, Term, Atom);

impl GenServer for Rex {
    type Call = RexRequest;
    type Reply = Term;
    type Cast = RexRequest;
    type Info = ();

    fn remote() -> Option<RemoteCodec<Self>> {
        Some(RemoteCodec::serde())
    }
}
