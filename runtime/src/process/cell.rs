//! The shared half of a process: its mailbox, relations (links, monitors, name) and exit
//! state, reachable from other tasks through the process table.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use super::incoming::{DecodeFn, Incoming, Rejected};
use super::mailbox::{Envelope, Mailbox};
use super::signal::SysSignal;
use super::{ExitReason, MonitorRef, Pid};

/// Takes a message of type `T` out of `slot` (an `&mut Option<T>`) if this mailbox accepts
/// `T`, converting it into the mailbox's own type.
pub(crate) type AcceptFn<M> = fn(&mut dyn Any) -> Option<M>;
/// Puts a message that could not be queued back into the sender's slot.
pub(crate) type GiveBackFn<M> = fn(M, &mut dyn Any);

/// The outcome of offering a typed value to a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Queued,
    /// The process does not accept this type; the value is still in the slot.
    WrongType,
    /// The process has exited; the value is back in the slot.
    Closed,
}

/// What the rest of the runtime sees of a process, whatever its message type.
pub(crate) trait ProcessCell: Send + Sync + 'static {
    fn core(&self) -> &ProcCore;
    /// Offers a typed message; see [`Delivery`].
    fn deliver(&self, slot: &mut dyn Any) -> Delivery;
    /// Offers a message from another node.
    fn deliver_remote(&self, msg: Incoming<'_>) -> Result<(), Rejected>;
    /// Queues a system signal; false if the process has exited.
    fn push_signal(&self, sig: SysSignal) -> bool;
    /// Messages waiting in the shared queue.
    fn mailbox_len(&self) -> usize;
}

/// A process with mailbox type `M`.
pub(crate) struct TypedCell<M> {
    pub(crate) core: ProcCore,
    pub(crate) mailbox: Mailbox<M>,
    accept: AcceptFn<M>,
    give_back: GiveBackFn<M>,
    /// `None` for a process other nodes cannot reach.
    decode: Option<DecodeFn<M>>,
}

impl<M: Send + 'static> TypedCell<M> {
    pub(crate) fn new(
        pid: Pid,
        accept: AcceptFn<M>,
        give_back: GiveBackFn<M>,
        decode: Option<DecodeFn<M>>,
    ) -> Self {
        Self {
            core: ProcCore::new(pid),
            mailbox: Mailbox::new(),
            accept,
            give_back,
            decode,
        }
    }

    /// Queues a message of the mailbox's own type (the typed fast path: no lookup, no
    /// conversion). Gives it back if the process has exited.
    pub(crate) fn push_msg(&self, msg: M) -> Result<(), M> {
        self.mailbox.push_msg(msg)
    }
}

/// The accept function of a mailbox that takes exactly its own type.
pub(crate) fn accept_exact<M: 'static>(slot: &mut dyn Any) -> Option<M> {
    slot.downcast_mut::<Option<M>>().and_then(Option::take)
}

/// The give-back function matching [`accept_exact`].
pub(crate) fn give_back_exact<M: 'static>(msg: M, slot: &mut dyn Any) {
    if let Some(s) = slot.downcast_mut::<Option<M>>() {
        *s = Some(msg);
    }
}

impl<M: Send + 'static> ProcessCell for TypedCell<M> {
    fn core(&self) -> &ProcCore {
        &self.core
    }

    fn deliver(&self, slot: &mut dyn Any) -> Delivery {
        let Some(msg) = (self.accept)(slot) else {
            return Delivery::WrongType;
        };
        match self.push_msg(msg) {
            Ok(()) => Delivery::Queued,
            Err(msg) => {
                (self.give_back)(msg, slot);
                Delivery::Closed
            }
        }
    }

    fn deliver_remote(&self, msg: Incoming<'_>) -> Result<(), Rejected> {
        let Some(decode) = self.decode else {
            return Err(Rejected::bad_type(msg, "messages from its own node only"));
        };
        let m = decode(msg)?;
        // A process that exited in between drops the message; a call's reply handle fails
        // the call as it is dropped.
        let _ = self.push_msg(m);
        Ok(())
    }

    fn push_signal(&self, sig: SysSignal) -> bool {
        self.mailbox.push_sig(sig)
    }

    fn mailbox_len(&self) -> usize {
        self.mailbox.len()
    }
}

pub(crate) fn is_down_of<M>(env: &Envelope<M>, monitor: MonitorRef) -> bool {
    matches!(env, Envelope::Sig(sig) if matches!(&**sig, SysSignal::Down(d) if d.monitor == monitor))
}

/// Who is told when a process ends.
pub(crate) enum Watcher {
    /// A process monitor: a [`Down`](super::Down) goes to this pid.
    Process(Pid),
    /// A waiter outside any process ([`Node::watch`](crate::Node::watch)).
    Waiter(oneshot::Sender<ExitReason>),
}

/// Everything a process is related to, handed over in one piece when it exits.
#[derive(Default)]
pub(crate) struct Relations {
    pub(crate) links: Vec<Pid>,
    /// Monitors on this process.
    pub(crate) watchers: Vec<(MonitorRef, Watcher)>,
    /// Monitors this process holds on others.
    pub(crate) watching: Vec<(MonitorRef, Pid)>,
    pub(crate) name: Option<Arc<str>>,
}

struct State {
    dead: bool,
    /// Allocated on the first link, monitor or name: most processes never have any.
    rel: Option<Box<Relations>>,
    /// Set once the task is spawned; used to kill it.
    abort: Option<AbortHandle>,
    /// The reason of a pending kill; the task ends with it when aborted.
    kill: Option<Box<ExitReason>>,
}

impl State {
    fn rel(&mut self) -> &mut Relations {
        self.rel.get_or_insert_with(Box::default)
    }
}

/// Exit state and relations of one process.
pub(crate) struct ProcCore {
    pid: Pid,
    trap_exit: AtomicBool,
    state: Mutex<State>,
}

impl ProcCore {
    fn new(pid: Pid) -> Self {
        Self {
            pid,
            trap_exit: AtomicBool::new(false),
            state: Mutex::new(State {
                dead: false,
                rel: None,
                abort: None,
                kill: None,
            }),
        }
    }

    pub(crate) fn pid(&self) -> &Pid {
        &self.pid
    }

    pub(crate) fn traps_exits(&self) -> bool {
        self.trap_exit.load(Ordering::Acquire)
    }

    pub(crate) fn set_trap_exit(&self, on: bool) {
        self.trap_exit.store(on, Ordering::Release);
    }

    pub(crate) fn is_alive(&self) -> bool {
        !self.state.lock().dead
    }

    pub(crate) fn set_abort(&self, handle: AbortHandle) {
        let mut st = self.state.lock();
        if st.kill.is_some() {
            // A kill arrived before the task existed: carry it out now.
            handle.abort();
        }
        st.abort = Some(handle);
    }

    /// Kills the process with `reason` (the first kill wins). The task is aborted at its next
    /// await point and ends with that reason.
    pub(crate) fn kill(&self, reason: ExitReason) {
        let mut st = self.state.lock();
        if st.dead || st.kill.is_some() {
            return;
        }
        st.kill = Some(Box::new(reason));
        if let Some(h) = &st.abort {
            h.abort();
        }
    }

    /// The reason of a pending kill, if any: what an aborted task ends with.
    pub(crate) fn take_kill_reason(&self) -> Option<ExitReason> {
        self.state.lock().kill.take().map(|r| *r)
    }

    /// Adds a link; false if this process has exited.
    pub(crate) fn add_link(&self, other: &Pid) -> bool {
        let mut st = self.state.lock();
        if st.dead {
            return false;
        }
        let links = &mut st.rel().links;
        if !links.contains(other) {
            links.push(other.clone());
        }
        true
    }

    /// Removes a link; whether there was one.
    pub(crate) fn remove_link(&self, other: &Pid) -> bool {
        let mut st = self.state.lock();
        let Some(rel) = &mut st.rel else { return false };
        let before = rel.links.len();
        rel.links.retain(|p| p != other);
        rel.links.len() != before
    }

    /// Adds a monitor on this process; gives the watcher back if the process has exited.
    pub(crate) fn add_watcher(&self, monitor: MonitorRef, w: Watcher) -> Result<(), Watcher> {
        let mut st = self.state.lock();
        if st.dead {
            return Err(w);
        }
        st.rel().watchers.push((monitor, w));
        Ok(())
    }

    /// Removes the monitor `monitor` held by `watcher` (a process), or the waiter with that
    /// ref (`None`). Refs are only unique per node, so the watcher is part of the key.
    pub(crate) fn remove_watcher(&self, monitor: MonitorRef, watcher: Option<&Pid>) {
        if let Some(rel) = &mut self.state.lock().rel {
            rel.watchers.retain(|(r, w)| {
                let same = *r == monitor
                    && match (w, watcher) {
                        (Watcher::Process(p), Some(want)) => p == want,
                        (Watcher::Waiter(_), None) => true,
                        _ => false,
                    };
                !same
            });
        }
    }

    pub(crate) fn add_watching(&self, monitor: MonitorRef, target: Pid) {
        self.state.lock().rel().watching.push((monitor, target));
    }

    /// Removes this process's monitor `monitor` on `target` and, only if it was there, runs
    /// `then` (which queues the `Down`) before anyone else can touch the monitor list: a
    /// `Down` is delivered at most once, and never after a demonitor.
    pub(crate) fn remove_watching_then(
        &self,
        monitor: MonitorRef,
        target: &Pid,
        then: impl FnOnce(),
    ) {
        let mut st = self.state.lock();
        let Some(rel) = st.rel.as_mut() else { return };
        let Some(i) = rel
            .watching
            .iter()
            .position(|(r, t)| *r == monitor && t == target)
        else {
            return;
        };
        rel.watching.swap_remove(i);
        then();
    }

    pub(crate) fn remove_watching(&self, monitor: MonitorRef) -> Option<Pid> {
        let mut st = self.state.lock();
        let watching = &mut st.rel.as_mut()?.watching;
        let i = watching.iter().position(|(r, _)| *r == monitor)?;
        Some(watching.swap_remove(i).1)
    }

    /// Records the registered name; the caller holds the registry entry.
    pub(crate) fn with_name_slot<R>(&self, f: impl FnOnce(bool, &mut Option<Arc<str>>) -> R) -> R {
        let mut st = self.state.lock();
        let dead = st.dead;
        f(dead, &mut st.rel().name)
    }

    /// Marks the process dead and hands over its relations for notification.
    pub(crate) fn take_relations(&self) -> Relations {
        let mut st = self.state.lock();
        st.dead = true;
        st.abort = None;
        st.rel.take().map(|r| *r).unwrap_or_default()
    }
}

/// Per-thread context: which process is being polled, the reason of a process whose
/// remains are being dropped, and reply handles dropped while a panic unwinds.
mod current {
    use std::any::Any;
    use std::cell::{Cell, RefCell};
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::task::Poll;

    use crate::process::ExitReason;

    /// Fails a call whose reply handle was dropped during a panic: with the panic as the exit
    /// reason once it is known, or with no reason if the panic was caught elsewhere.
    pub(crate) type Orphan = Box<dyn FnOnce(Option<ExitReason>)>;

    thread_local! {
        static CURRENT: Cell<(usize, u64)> = const { Cell::new((0, 0)) };
        static DYING: RefCell<Option<ExitReason>> = const { RefCell::new(None) };
        static ORPHANS: RefCell<Vec<Orphan>> = const { RefCell::new(Vec::new()) };
        /// How many `poll_catching` frames are on this thread's stack.
        static CATCHING: Cell<u32> = const { Cell::new(0) };
    }

    /// Whether a panic unwinding now will be caught by `poll_catching` (which then settles
    /// orphans); elsewhere (a plain tokio task) nothing would.
    pub(crate) fn catching() -> bool {
        CATCHING.with(Cell::get) > 0
    }

    /// Runs `f` with (node key, pid id) recorded as the running process.
    pub(crate) fn enter<R>(node_key: usize, id: u64, f: impl FnOnce() -> R) -> R {
        let prev = CURRENT.with(|c| c.replace((node_key, id)));
        let out = f();
        CURRENT.with(|c| c.set(prev));
        out
    }

    /// The id of the process being polled on this thread, if it belongs to that node.
    pub(crate) fn pid_id(node_key: usize) -> Option<u64> {
        let (key, id) = CURRENT.with(Cell::get);
        (key == node_key && id != 0).then_some(id)
    }

    /// Runs `f` (which drops a dead process's future and queue) with its exit reason visible
    /// to reply handles dropped inside.
    pub(crate) fn dying<R>(reason: &ExitReason, f: impl FnOnce() -> R) -> R {
        let prev = DYING.with(|d| d.replace(Some(reason.clone())));
        let out = f();
        DYING.with(|d| *d.borrow_mut() = prev);
        out
    }

    /// The exit reason of the process whose remains are being dropped on this thread.
    pub(crate) fn dying_reason() -> Option<ExitReason> {
        DYING.with(|d| d.borrow().clone())
    }

    /// Keeps a reply handle dropped during unwinding until the panic is caught.
    pub(crate) fn orphan(o: Orphan) {
        ORPHANS.with(|v| v.borrow_mut().push(o));
    }

    /// The text of a panic payload.
    pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
        if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_owned()
        }
    }

    /// Polls with panics caught. A panic becomes `Err(ExitReason::Panic)`, and the reply
    /// handles it dropped fail with that reason; handles dropped by panics caught deeper
    /// inside fail without one.
    pub(crate) fn poll_catching<T>(poll: impl FnOnce() -> Poll<T>) -> Result<Poll<T>, ExitReason> {
        let mark = ORPHANS.with(|v| v.borrow().len());
        CATCHING.with(|c| c.set(c.get() + 1));
        let result = catch_unwind(AssertUnwindSafe(poll))
            .map_err(|payload| ExitReason::Panic(panic_message(&*payload)));
        CATCHING.with(|c| c.set(c.get().saturating_sub(1)));
        let orphans: Vec<Orphan> = ORPHANS.with(|v| {
            let mut v = v.borrow_mut();
            if v.len() <= mark {
                // The usual case: nothing was orphaned (no collecting on every poll).
                return Vec::new();
            }
            v.drain(mark..).collect()
        });
        let reason = result.as_ref().err();
        for o in orphans {
            o(reason.cloned());
        }
        result
    }
}

pub(crate) use current::panic_message as panic_message_of;
pub(crate) use current::{
    catching, dying, dying_reason, enter as enter_process, orphan, pid_id as current_pid_id,
    poll_catching,
};
