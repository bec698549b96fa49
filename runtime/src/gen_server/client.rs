//! The client side of a GenServer: call, cast, send.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use super::{CallError, GenServer, ReplyHandle, ServerMsg};
use crate::node::Node;
use crate::process::{DeliverTo, Dest, ExitReason, Pid, SendError};

/// How long [`Client::call`] waits for a reply unless told otherwise (OTP's 5000 ms).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A typed handle to a GenServer at a pid, a local name or `(name, node)`.
///
/// A name is looked up at each call, as in OTP, so a client keeps working across restarts of
/// a registered server. Cloning is cheap.
pub struct Client<S> {
    node: Node,
    dest: Dest,
    timeout: Duration,
    _server: PhantomData<fn() -> S>,
}

impl<S> Clone for Client<S> {
    fn clone(&self) -> Self {
        Self {
            node: self.node.clone(),
            dest: self.dest.clone(),
            timeout: self.timeout,
            _server: PhantomData,
        }
    }
}

impl<S> fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("dest", &self.dest)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<S: GenServer> Client<S> {
    /// A client for the server at `dest`, calling from `node`.
    pub fn new(node: &Node, dest: impl Into<Dest>) -> Self {
        Self {
            node: node.clone(),
            dest: dest.into(),
            timeout: DEFAULT_CALL_TIMEOUT,
            _server: PhantomData,
        }
    }

    /// The same client with another default call timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Where this client sends.
    pub fn dest(&self) -> &Dest {
        &self.dest
    }

    /// The server's pid: the one this client was made with, or the current holder of its
    /// name on this node. `None` if the name is not registered, or is on another node.
    pub fn pid(&self) -> Option<Pid> {
        match &self.dest {
            Dest::Pid(p) => Some(p.clone()),
            Dest::Name(n) => self.node.whereis(n),
            Dest::Remote(n, node) if node == self.node.name() => self.node.whereis(n),
            Dest::Remote(..) => None,
        }
    }

    /// Calls the server with the client's timeout (5 s unless set with
    /// [`timeout`](Self::timeout)) and waits for the reply (OTP's `GenServer.call/2`).
    ///
    /// # Errors
    ///
    /// See [`CallError`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives up the call: the request may still be handled, and its reply
    /// is discarded.
    pub async fn call(&self, request: S::Call) -> Result<S::Reply, CallError> {
        self.call_timeout(request, self.timeout).await
    }

    /// Like [`call`](Self::call) with an explicit timeout (OTP's `GenServer.call/3`).
    ///
    /// # Errors
    ///
    /// See [`CallError`].
    pub async fn call_timeout(
        &self,
        request: S::Call,
        timeout: Duration,
    ) -> Result<S::Reply, CallError> {
        let (from, reply) = ReplyHandle::pair();
        let mut slot = Some(ServerMsg::<S>::Call(request, from));
        self.deliver(&mut slot)?;
        match self.node.deadlines().timeout(timeout, reply).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(CallError::NoReply),
            Err(_) => Err(CallError::Timeout),
        }
    }

    /// Sends a cast: returns once the request is queued (OTP's `GenServer.cast`).
    ///
    /// # Errors
    ///
    /// For a local server, [`SendError::NoProc`] if it is not running; the request is handed
    /// back. A cast to another node is not checked, as in OTP.
    pub fn cast(&self, msg: S::Cast) -> Result<(), SendError<S::Cast>> {
        let mut slot = Some(ServerMsg::<S>::Cast(msg));
        let outcome = self.node.deliver_to(&self.dest, &mut slot, false);
        match (outcome, slot) {
            (DeliverTo::WrongType, Some(ServerMsg::Cast(msg))) => Err(SendError::BadType(msg)),
            (DeliverTo::NoProc, Some(ServerMsg::Cast(msg))) => Err(SendError::NoProc(msg)),
            _ => Ok(()),
        }
    }

    /// Sends a plain message, handled by [`GenServer::handle_info`].
    ///
    /// # Errors
    ///
    /// As [`Node::send`].
    pub fn send(&self, info: S::Info) -> Result<(), SendError<S::Info>> {
        self.node.send(self.dest.clone(), info)
    }

    /// Stops the server (OTP's `GenServer.stop/3`): it finishes the message at hand, runs
    /// `terminate` with `reason`, and exits. Returns once it has exited.
    ///
    /// # Errors
    ///
    /// [`CallError::NoProc`] if the server is not running; [`CallError::Timeout`] if it has not
    /// exited within the client's timeout (it is then still stopping).
    pub async fn stop(&self, reason: ExitReason) -> Result<(), CallError> {
        let pid = self.pid().ok_or(CallError::NoProc)?;
        let exited = self.node.watch(&pid);
        let mut slot = Some(ServerMsg::<S>::Stop(reason));
        self.deliver(&mut slot)?;
        match self.node.deadlines().timeout(self.timeout, exited).await {
            Ok(_) => Ok(()),
            Err(_) => Err(CallError::Timeout),
        }
    }

    /// Puts a call in the server's mailbox; on failure it stays in `slot`.
    fn deliver(&self, slot: &mut Option<ServerMsg<S>>) -> Result<(), CallError> {
        match self.node.deliver_to(&self.dest, slot, true) {
            DeliverTo::Queued => Ok(()),
            DeliverTo::CallingSelf => Err(CallError::CallingSelf),
            DeliverTo::NoProc => Err(CallError::NoProc),
            DeliverTo::WrongType => Err(CallError::BadType(std::any::type_name::<S>().to_owned())),
            DeliverTo::Unreachable(node) => Err(CallError::NodeDown(node)),
        }
    }
}
