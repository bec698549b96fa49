//! The client side of a GenServer: call, cast, send.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use super::RemoteCodec;
use super::{CallError, GenServer, ReplyHandle, ServerMsg};
use crate::node::{DeliverTo, Node, RemoteTarget};
use crate::process::{
    Dest, ExitReason, Format, Payload, Pid, SendError, WireBytes, WireKind, current_pid_id,
};

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

    /// A copy of this client whose calls wait `timeout`, leaving this one as it is:
    /// `client.with_timeout(d).call(req)`, as `GenServer.call/3` takes a timeout.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        self.clone().timeout(timeout)
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
        if let Some(target) = self.node.remote_target(&self.dest) {
            return self.call_remote(target, request, timeout).await;
        }
        let (from, reply) = ReplyHandle::pair(self.caller());
        let mut slot = Some(ServerMsg::<S>::Call(request, from));
        self.deliver(&mut slot)?;
        match self.node.deadlines().timeout(timeout, reply).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(CallError::NoReply),
            Err(_) => Err(CallError::Timeout),
        }
    }

    /// The calling process, if the caller is one.
    fn caller(&self) -> Option<Pid> {
        current_pid_id(self.node.key()).map(|id| self.node.local_pid(id))
    }

    async fn call_remote(
        &self,
        target: RemoteTarget<'_>,
        request: S::Call,
        timeout: Duration,
    ) -> Result<S::Reply, CallError> {
        let codec = Self::codec()?;
        let from = self.caller();
        let pending = self.node.call_remote(
            from.as_ref(),
            target,
            codec.call_name,
            (codec.call_payload)(&request),
        )?;
        match self.node.deadlines().timeout(timeout, pending).await {
            Ok(Ok((Format::Etf, bytes))) if codec.bare_replies => {
                // A BEAM server answers the variant's content: the reply enum's variant is
                // the one named like the request's.
                let wrapped = (codec.wrap_reply)(&request, &bytes)
                    .map_err(|e| CallError::BadType(format!("reply did not decode: {e}")))?;
                (codec.decode_reply)(WireBytes::etf(&wrapped))
                    .map_err(|e| CallError::BadType(format!("reply did not decode: {e}")))
            }
            Ok(Ok((format, bytes))) => {
                let reply = WireBytes {
                    format,
                    bytes: &bytes,
                    frame: None,
                };
                // A locus reply is its own slice of a frame that may lend its bytes to
                // large blobs (the reader copied it out otherwise).
                (codec.decode_reply)(if format == Format::MsgPack {
                    reply.in_frame(&bytes)
                } else {
                    reply
                })
                .map_err(|e| CallError::BadType(format!("reply did not decode: {e}")))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(CallError::Timeout),
        }
    }

    fn codec() -> Result<RemoteCodec<S>, CallError> {
        S::remote().ok_or_else(|| CallError::LocalOnly(std::any::type_name::<S>().to_owned()))
    }

    /// Casts, then, if the server is on another node whose connection has more than 1 MiB
    /// waiting to be written, waits until it drains: the BEAM suspends a process sending on
    /// a busy distribution port the same way. A sender faster than the network is paced
    /// instead of growing memory until the connection is dropped. Local casts never wait.
    /// The `#[gen_server]` clients' cast methods use this.
    ///
    /// # Errors
    ///
    /// As [`cast`](Self::cast).
    pub async fn cast_paced(&self, msg: S::Cast) -> Result<(), SendError<S::Cast>> {
        // The connection is looked up again only when sending found it busy.
        if self.cast_busy(msg)?
            && let Some(target) = self.node.remote_target(&self.dest)
            && let Some(wait) = self.node.until_writable(target.node())
        {
            wait.await;
        }
        Ok(())
    }

    /// Sends a cast: returns once the request is queued (OTP's `GenServer.cast`).
    ///
    /// # Errors
    ///
    /// For a local server, [`SendError::NoProc`] if it is not running; the request is handed
    /// back. A cast to another node is not checked, as in OTP (and is dropped, with a log
    /// line, if the server type has no [`RemoteCodec`]).
    pub fn cast(&self, msg: S::Cast) -> Result<(), SendError<S::Cast>> {
        self.cast_busy(msg).map(|_busy| ())
    }

    /// [`cast`](Self::cast), telling whether the connection to the server's node is busy
    /// once the request is queued (never for a local server).
    fn cast_busy(&self, msg: S::Cast) -> Result<bool, SendError<S::Cast>> {
        if let Some(target) = self.node.remote_target(&self.dest) {
            let busy = match self.codec_or_log() {
                Ok(codec) => self.send_remote(
                    target,
                    WireKind::Cast,
                    codec.cast_name,
                    (codec.cast_payload)(&msg),
                ),
                Err(_) => false,
            };
            return Ok(busy);
        }
        let mut slot = Some(ServerMsg::<S>::Cast(msg));
        let outcome = self.node.deliver_to(&self.dest, &mut slot, false);
        match (outcome, slot) {
            (DeliverTo::WrongType, Some(ServerMsg::Cast(msg))) => Err(SendError::BadType(msg)),
            (DeliverTo::NoProc, Some(ServerMsg::Cast(msg))) => Err(SendError::NoProc(msg)),
            _ => Ok(false),
        }
    }

    /// Sends a plain message, handled by [`GenServer::handle_info`].
    ///
    /// # Errors
    ///
    /// As [`cast`](Self::cast).
    pub fn send(&self, info: S::Info) -> Result<(), SendError<S::Info>> {
        if let Some(target) = self.node.remote_target(&self.dest) {
            if let Ok(codec) = self.codec_or_log() {
                self.send_remote(
                    target,
                    WireKind::Send,
                    codec.info_name,
                    (codec.info_payload)(&info),
                );
            }
            return Ok(());
        }
        let mut slot = Some(info);
        let outcome = self.node.deliver_to(&self.dest, &mut slot, false);
        match (outcome, slot) {
            (DeliverTo::WrongType, Some(info)) => Err(SendError::BadType(info)),
            (DeliverTo::NoProc, Some(info)) => Err(SendError::NoProc(info)),
            _ => Ok(()),
        }
    }

    fn codec_or_log(&self) -> Result<RemoteCodec<S>, CallError> {
        Self::codec()
            .inspect_err(|e| tracing::warn!(dest = %self.dest, error = %e, "message dropped"))
    }

    fn send_remote(
        &self,
        target: RemoteTarget<'_>,
        kind: WireKind,
        type_name: &str,
        payload: &dyn Payload,
    ) -> bool {
        let from = self.caller().unwrap_or_else(|| self.node.node_pid());
        self.node
            .send_remote(&from, target, kind, type_name, payload)
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
