//! The task that runs a process: polls its future, turns its end (return, error, panic or
//! kill) into an exit reason, and tells everyone related.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::Node;
use crate::process::{
    ExitReason, IntoExitReason, Pid, Relations, TypedCell, Watcher, dying, enter_process,
    poll_catching,
};

pin_project! {
    /// Wraps a process's future. Whether it returns, panics or is aborted (killed), the
    /// process ends through [`finish`], exactly once.
    pub(crate) struct ProcessTask<M, F>
    where
        M: Send,
        M: 'static,
    {
        node: Node,
        cell: Arc<TypedCell<M>>,
        #[pin]
        fut: Option<F>,
    }

    impl<M, F> PinnedDrop for ProcessTask<M, F>
    where
        M: Send,
        M: 'static,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.fut.is_some() {
                // Dropped before completing: the task was aborted by a kill, or the runtime
                // is shutting down.
                let reason = this.cell.core.take_kill_reason().unwrap_or(ExitReason::Killed);
                finish(this.node, this.cell, reason, this.fut);
            }
        }
    }
}

impl<M: Send + 'static, F> ProcessTask<M, F> {
    pub(crate) fn new(node: Node, cell: Arc<TypedCell<M>>, fut: F) -> Self {
        Self {
            node,
            cell,
            fut: Some(fut),
        }
    }
}

impl<M, F> Future for ProcessTask<M, F>
where
    M: Send + 'static,
    F: Future,
    F::Output: IntoExitReason,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        let id = this.cell.core.pid().id();
        let polled = enter_process(this.node.key(), id, || poll_catching(|| fut.poll(cx)));
        let reason = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(out)) => out.into_exit_reason(),
            Err(panic) => panic,
        };
        finish(this.node, this.cell, reason, this.fut);
        Poll::Ready(())
    }
}

/// Ends a process. The order matters:
/// 1. the mailbox closes and the process leaves the name registry and process table, so
///    that whoever is told of the death finds the name free and the pid gone;
/// 2. the future and the queued messages are dropped with the reason visible to reply
///    handles, failing pending calls with it;
/// 3. links, monitors and waiters are told.
fn finish<M: Send + 'static, F>(
    node: &Node,
    cell: &TypedCell<M>,
    reason: ExitReason,
    mut fut: Pin<&mut Option<F>>,
) {
    let pid = cell.core.pid().clone();
    let queued = cell.mailbox.close();
    let rel = cell.core.take_relations();
    if let Some(name) = &rel.name {
        node.names().remove_if_owner(name, &pid);
    }
    node.procs().remove(pid.id());
    dying(&reason, || {
        // A destructor that panics must not take the runtime thread down with it.
        let _ = catch_unwind(AssertUnwindSafe(|| fut.set(None)));
        let _ = catch_unwind(AssertUnwindSafe(move || drop(queued)));
    });
    if !reason.is_normal() {
        tracing::debug!(%pid, %reason, "process exited");
    }
    notify(node, &pid, &reason, rel);
}

fn notify(node: &Node, pid: &Pid, reason: &ExitReason, rel: Relations) {
    for link in rel.links {
        node.exit_signal(pid, &link, reason.clone(), true);
    }
    for (monitor, watcher) in rel.watchers {
        match watcher {
            Watcher::Process(to) => node.deliver_down(&to, monitor, pid, reason.clone()),
            Watcher::Waiter(tx) => {
                let _ = tx.send(reason.clone());
            }
        }
    }
    for (monitor, target) in rel.watching {
        node.forget_monitor(pid, &target, monitor);
    }
}
