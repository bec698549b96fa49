//! Spawning: a process is a cell in the node's table plus a task that runs its function.

use std::future::Future;
use std::sync::Arc;

use super::Node;
use super::ctx::{Addr, Ctx};
use super::task::ProcessTask;
use crate::process::{
    ExitReason, IntoExitReason, Kind, Message, Pid, RegisterError, SpawnOpts, TypedCell,
};

impl Node {
    /// Spawns a process running `f(ctx)` and returns a typed handle to it (Erlang's `spawn`).
    ///
    /// The process's messages are of type `M`, which must be serializable so that other
    /// nodes can reach it; for a message type that cannot be, use
    /// [`spawn_local_only`](Self::spawn_local_only). The process ends when `f`'s future
    /// completes (its output becomes the [`ExitReason`]), panics, or is killed.
    ///
    /// ```
    /// use locus::{Node, Signal};
    ///
    /// # #[tokio::main] async fn main() {
    /// let node = Node::builder().start().await.unwrap();
    /// let adder = node.spawn(|mut ctx: locus::Ctx<u64>| async move {
    ///     let mut sum = 0;
    ///     while let Signal::Message(n) = ctx.recv().await {
    ///         sum += n;
    ///         println!("sum so far: {sum}");
    ///     }
    /// });
    /// adder.send(2).unwrap();
    /// # }
    /// ```
    pub fn spawn<M, F, Fut>(&self, f: F) -> Addr<M>
    where
        M: Message,
        F: FnOnce(Ctx<M>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let cell = self.new_cell(Kind::<M>::exact(), false);
        self.start_cell(cell, None, f)
    }

    /// Spawns a process with [`SpawnOpts`]: linked, registered, trapping exits.
    ///
    /// # Errors
    ///
    /// [`RegisterError`] if the name is taken or invalid; nothing is spawned then.
    pub fn spawn_opts<M, F, Fut>(&self, opts: SpawnOpts, f: F) -> Result<Addr<M>, RegisterError>
    where
        M: Message,
        F: FnOnce(Ctx<M>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        self.spawn_kind(opts, Kind::<M>::exact(), f)
    }

    /// Spawns a process whose message type need not be serializable (it may hold channels,
    /// closures, handles). Such a process is reachable only from this node: messages from
    /// other nodes are reported to it as [`Signal::Unexpected`](crate::Signal::Unexpected).
    ///
    /// # Errors
    ///
    /// [`RegisterError`] if the name is taken or invalid; nothing is spawned then.
    pub fn spawn_local_only<M, F, Fut>(
        &self,
        opts: SpawnOpts,
        f: F,
    ) -> Result<Addr<M>, RegisterError>
    where
        M: Send + 'static,
        F: FnOnce(Ctx<M>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        self.spawn_kind(opts, Kind::<M>::local_only(), f)
    }

    pub(crate) fn spawn_kind<M, F, Fut>(
        &self,
        opts: SpawnOpts,
        kind: Kind<M>,
        f: F,
    ) -> Result<Addr<M>, RegisterError>
    where
        M: Send + 'static,
        F: FnOnce(Ctx<M>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let (cell, link) = self.prepare(opts, kind)?;
        Ok(self.start_cell(cell, link.as_ref(), f))
    }

    /// Creates the process and registers its name; [`start_cell`](Self::start_cell) then
    /// runs it. Returns the pid to link to.
    pub(crate) fn prepare<M: Send + 'static>(
        &self,
        opts: SpawnOpts,
        kind: Kind<M>,
    ) -> Result<(Arc<TypedCell<M>>, Option<Pid>), RegisterError> {
        let cell = self.new_cell(kind, opts.trap_exit);
        if let Some(name) = &opts.name
            && let Err(e) = self.register_cell(name, cell.clone())
        {
            self.procs().remove(cell.core.pid().id());
            return Err(e);
        }
        Ok((cell, opts.link))
    }

    /// Creates a process cell and enters it in the process table. It can receive messages
    /// from now on; they wait until [`start_cell`](Self::start_cell) runs it.
    pub(crate) fn new_cell<M: Send + 'static>(
        &self,
        kind: Kind<M>,
        trap_exit: bool,
    ) -> Arc<TypedCell<M>> {
        let pid = Pid::new(self.name().clone(), self.next_pid_id(), self.creation());
        let cell = Arc::new(TypedCell::new(
            pid,
            kind.accept,
            kind.give_back,
            kind.decode,
        ));
        cell.core.set_trap_exit(trap_exit);
        self.procs().insert(cell.clone());
        cell
    }

    /// Links the cell to `link` (if given) and starts its task.
    pub(crate) fn start_cell<M, F, Fut>(
        &self,
        cell: Arc<TypedCell<M>>,
        link: Option<&Pid>,
        f: F,
    ) -> Addr<M>
    where
        M: Send + 'static,
        F: FnOnce(Ctx<M>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let pid = cell.core.pid().clone();
        if let Some(parent) = link {
            cell.core.add_link(parent);
            if !self.add_link_to(parent, &pid) {
                // Linking to a dead process: the new process gets an exit signal at once.
                self.exit_signal(parent, &pid, ExitReason::NoProc, true);
            }
        }
        let ctx = Ctx::new(cell.clone(), self.clone());
        let task = ProcessTask::new(self.clone(), cell.clone(), f(ctx));
        let handle = self.runtime().spawn(task);
        cell.core.set_abort(handle.abort_handle());
        Addr::from_cell(cell)
    }
}
